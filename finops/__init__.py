"""finops: batch FinOps reconciliation and chargeback for LLM spend.

The library API lives in :mod:`finops.api`; the CLI in :mod:`finops.cli` is a thin
layer over it.
"""

import os

__version__ = "0.1.0"

# polars' allocator (jemalloc, configured through this variable when polars loads) keeps
# freed pages for ten seconds by default: a pull's group-by then stays resident while the
# warehouse write adds its own. Returning them at once keeps a pull of a million spans
# under 300 MB (bench/ingest.py); an operator's own setting wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")
