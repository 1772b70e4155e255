"""The names the canonical model gives to missing values.

Kept apart from :mod:`finops.schemas` (which loads polars and pandera) so that the span
scanners' worker processes, which need only these names, start small and fast.
"""

UNATTRIBUTED = "unattributed"
UNKNOWN = "unknown"
# A span with no account attribute names no account: reconciliation pools it with the billed
# accounts no span names (sql/reconcile/35_bill_match.sql), never with a made-up one.
NO_ACCOUNT = ""
