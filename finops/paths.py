"""Where the bundled data directories (sql/, templates/, pricing/) live.

In a source checkout they sit at the repository root; in a wheel they are copied
under ``finops/_data``.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the directory holding bundled ``name`` (``sql``, ``templates``, ``pricing``)."""
    packaged = _PKG / "_data" / name
    if packaged.is_dir():
        return packaged
    return _PKG.parent / name
