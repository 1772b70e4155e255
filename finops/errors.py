"""Exit codes and the small domain exceptions the CLI turns into one-line errors."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes are part of the interface (README table is checked against this)."""

    OK = 0
    GATE_FAILED = 1  # a finding, not an error: drift above threshold, anomaly flagged, unpriced model
    USAGE = 2  # bad command line or config
    DATA = 3  # bad input, source unreachable after retries, billing missing: fail closed
    INTERNAL = 70  # a bug; an uncaught exception must never read as "gate failed"
    INTERRUPTED = 130


class FinopsError(Exception):
    """Base class: carries the exit code the CLI should use."""

    exit_code: ExitCode = ExitCode.INTERNAL


class ConfigError(FinopsError):
    """The config file or a command-line option is wrong (names the file and key)."""

    exit_code = ExitCode.USAGE


class DataError(FinopsError):
    """Input data is bad or missing (names the source, window or file, and field)."""

    exit_code = ExitCode.DATA


class SourceError(DataError):
    """A remote source failed after retries, or answered something we cannot use."""


def environment_error(e: BaseException) -> DataError | None:
    """The one-line data error for a failure of the machine rather than of finops, else None.

    An ``OSError`` (a path that cannot be written, a full disk, a missing folder) names the
    path and the cause; a DuckDB I/O error (the warehouse's disk is full) names the file as
    DuckDB does. Both are exit 3: the operator can fix them, they are not bugs.
    """
    if isinstance(e, OSError):
        where = e.filename if e.filename is not None else "finops"
        cause = e.strerror or str(e) or type(e).__name__
        if isinstance(e, FileExistsError | NotADirectoryError):
            cause += " (a file is in the way where a folder is needed)"
        return DataError(f"{where}: {cause}" + (f" ({e.filename2})" if e.filename2 else ""))
    kind = type(e)
    if kind.__module__.split(".")[0] in ("duckdb", "_duckdb") and (
            kind.__name__ in ("IOException", "PermissionException", "OutOfMemoryException")
            or "No space left on device" in str(e)):
        return DataError(f"warehouse: {' '.join(str(e).split())}")
    return None


def did_you_mean(key: str, allowed: Iterable[str]) -> str:
    """`` (did you mean 'y'?)`` for the nearest allowed key, or ``""``."""
    near = difflib.get_close_matches(key, sorted(allowed), n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def unknown_key(key: str, allowed: Iterable[str], what: str, where: str) -> ConfigError:
    """``<where>: unknown <what> 'x' (did you mean 'y'?)``."""
    return ConfigError(f"{where}: unknown {what} {key!r}{did_you_mean(key, allowed)}")


# Secrets are redacted from anything we print. Registered values are replaced
# verbatim; common key shapes are caught even if never registered.
_SECRETS: set[str] = set()
_KEY_SHAPES = re.compile(
    # possessive prefixes: a hint naming the key type ("sk-ant-admin…") is not itself a key
    r"(sk-(?:ant-)?+(?:admin|proj|api)?+[-_A-Za-z0-9]{8,})|(Bearer\s+[-._~+/A-Za-z0-9]+=*)"
    r"|(Basic\s+[A-Za-z0-9+/]+=*)"
)


def register_secret(value: str | None) -> None:
    """Remember a secret value so :func:`redact` removes it from any text."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    """Remove registered secrets and key-shaped strings from ``text``."""
    for s in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(s, "***")
    return _KEY_SHAPES.sub("***", text)
