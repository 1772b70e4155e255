"""Email delivery: compose (HTML + text, inline PNG), send (SMTP), record (the sent-mail ledger)."""
