"""One run per warehouse: an OS file lock next to the DuckDB file (``finops.duckdb.lock``).

The lock is the kernel's (flock through ``filelock``): a killed run releases it with its
process, so there is never a stale lock to delete by hand. The holder writes its pid, command
and start time into the lock file so that a second run can say who has it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from finops.errors import DataError


class LockedError(DataError):
    """Another finops run holds the warehouse lock (exit 3: try again later)."""


def lock_path(warehouse: Path) -> Path:
    """The lock file of ``warehouse``: beside it, same name plus ``.lock``."""
    return warehouse.with_name(warehouse.name + ".lock")


def holder(path: Path) -> dict[str, object]:
    """What the current holder wrote into the lock file (empty if unreadable)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# Locks this process holds, with their depth: a command inside another (nightly's pull and
# report) runs under the outer command's lock instead of contending with itself.
_HELD: dict[Path, int] = {}


def held(warehouse: Path) -> bool:
    """Whether this process already holds ``warehouse``'s lock."""
    return _HELD.get(lock_path(Path(warehouse)).absolute(), 0) > 0


@contextmanager
def warehouse_lock(warehouse: Path, command: str, *, timeout_s: float = 0) -> Iterator[Path]:
    """Hold the warehouse's lock for a run; raise :class:`LockedError` naming the holder if taken.

    Re-entrant within a process: an inner command runs under the outer command's lock.
    """
    path = lock_path(Path(warehouse))
    key = path.absolute()
    if _HELD.get(key):
        _HELD[key] += 1
        try:
            yield path
        finally:
            _HELD[key] -= 1
        return
    if not path.parent.exists():
        raise DataError(f"warehouse {warehouse}: directory {path.parent} does not exist")
    lock = FileLock(str(path), timeout=timeout_s)
    try:
        lock.acquire()
    except Timeout:
        h = holder(path)
        who = (f"pid {h.get('pid')}, '{h.get('command')}' started {h.get('started_at')}"
               if h.get("pid") else "another process")
        raise LockedError(f"warehouse {warehouse} is locked by another finops run ({who}); "
                          f"lock file {path}. Try again when it finishes") from None
    try:
        # Written through a second descriptor while we hold the flock; filelock opens the
        # file without truncating it, so a contender cannot wipe this.
        try:
            path.write_text(json.dumps({"pid": os.getpid(), "command": command,
                                        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}),
                            encoding="utf-8")
        except OSError as e:  # a full disk shows here first: name the file
            raise DataError(f"lock file {path}: cannot write: {e.strerror or e}") from None
        _HELD[key] = 1
        yield path
    finally:
        _HELD.pop(key, None)
        try:
            path.write_text("", encoding="utf-8")
        except OSError:
            pass
        lock.release()
