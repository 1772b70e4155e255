"""finops: batch FinOps reconciliation and chargeback for LLM spend.

The library API lives in :mod:`finops.api`; the CLI in :mod:`finops.cli` is a thin
layer over it.
"""

__version__ = "0.1.0"
