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
_ALLOCATOR = "_RJEM_MALLOC_CONF"
_ALLOCATOR_SET_BY_OPERATOR = _ALLOCATOR in os.environ
os.environ.setdefault(_ALLOCATOR, "dirty_decay_ms:0,muzzy_decay_ms:0")


def keep_freed_pages() -> None:
    """Let polars' allocator keep freed pages for a second, for a command that streams batches.

    A FOCUS export formats and writes the month batch by batch; returning every batch's pages
    at once and faulting them in again for the next cost 2.4 of its 5.5 system CPU-seconds
    at 2,000 teams (1.7M rows; 13.6 s -> 11.9 s wall). Works only before polars loads (the
    CLI calls it before the command runs); an operator's own setting still wins.
    """
    import sys

    if not _ALLOCATOR_SET_BY_OPERATOR and "polars" not in sys.modules:
        os.environ[_ALLOCATOR] = "dirty_decay_ms:1000,muzzy_decay_ms:1000"
