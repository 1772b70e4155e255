"""Span source ``otlp_files``: JSON lines as the OpenTelemetry Collector's file exporter writes.

Each line is one ``ExportTraceServiceRequest`` in OTLP/JSON. Files may be gzip-compressed
(detected by magic bytes) and ``paths`` may be globs. Spans are rolled up while streaming
into the ``usage_daily`` grain, so memory is bounded by the number of distinct rows, not by
the file size. Lines are decoded with msgspec into small typed structs (unknown fields
are skipped without being built); with more than one file, files are shared between worker
processes (two by default) and their partial rollups summed.

Configuration (``finops.toml``)::

    [[sources]]
    name = "spans"
    kind = "otlp_files"
    paths = ["spans/*.jsonl.gz", "/var/otel/llm-*.jsonl"]  # files or globs, relative to finops.toml
    workers = "auto"                # or a number of worker processes (1: no workers)
    input_convention = { anthropic = "exclusive" }  # or "inclusive" / "auto" (default)

Any other key is refused when ``finops.toml`` is loaded. ``finops sources check`` expands the
globs and parses the first and last line of each file, naming the days they cover.
"""

from __future__ import annotations

import gc
import glob
import gzip
import os
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date
from multiprocessing import get_context
from operator import attrgetter
from typing import IO, TYPE_CHECKING, Any

import msgspec

from finops.canonical import AUTO, canonical_dims, canonical_tier, convention_for, normalise, provider_for
from finops.errors import ConfigError, DataError

if TYPE_CHECKING:  # polars and pandera are imported lazily: worker processes never need them
    from finops.config import AttributeMap, SpanSource
    from finops.frames import ProgressFn, SpanPull

NS_PER_DAY = 86_400 * 1_000_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Below this total size one process is faster than starting workers.
PARALLEL_MIN_BYTES = 32 * 1024 * 1024
DEFAULT_WORKERS = 2

_DIMS = ("provider", "model", "account", "service_tier", "team", "project", "feature")
_TOKENS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens",
           "reasoning_tokens")


# --- OTLP/JSON, only the parts we read; everything else is skipped by the decoder ---------

def _otlp_types(lenient: bool) -> Any:
    """The structs for one request line.

    The fast decoder runs with ``strict=False`` so that msgspec itself turns the JSON
    strings of ``intValue`` and ``startTimeUnixNano`` into ints. A line it rejects (a
    token count of ``"abc"``, say) is decoded again with the lenient types, which keep
    such values as strings so the error can name the attribute (or ignore a bad value
    on an attribute we do not read).
    """
    scalar_int: Any = (int | str | None) if lenient else (int | None)
    scalar_float: Any = (float | str | None) if lenient else (float | None)
    any_value = msgspec.defstruct("AnyValue", [
        ("stringValue", str | None, None), ("intValue", scalar_int, None),
        ("doubleValue", scalar_float, None),
        ("boolValue", (bool | str | None) if lenient else (bool | None), None),
    ], gc=False)
    key_value = msgspec.defstruct("KeyValue", [
        ("key", str), ("value", any_value, msgspec.field(default_factory=any_value)),
    ], gc=False)
    span = msgspec.defstruct("Span", [
        ("spanId", str, ""), ("startTimeUnixNano", (int | str) if lenient else int, 0),
        ("attributes", list[key_value], msgspec.field(default_factory=list)),
    ], gc=False)
    scope_spans = msgspec.defstruct("ScopeSpans", [
        ("spans", list[span], msgspec.field(default_factory=list))], gc=False)
    resource = msgspec.defstruct("Resource", [
        ("attributes", list[key_value], msgspec.field(default_factory=list))], gc=False)
    resource_spans = msgspec.defstruct("ResourceSpans", [
        ("resource", resource | None, None),
        ("scopeSpans", list[scope_spans], msgspec.field(default_factory=list)),
    ], gc=False)
    return msgspec.defstruct("ExportRequest", [
        ("resourceSpans", list[resource_spans], msgspec.field(default_factory=list))], gc=False)


_FAST = msgspec.json.Decoder(_otlp_types(lenient=False), strict=False)
_LENIENT = msgspec.json.Decoder(_otlp_types(lenient=True))


def _decode(raw: bytes, path: str, lineno: int) -> Any:
    try:
        return _FAST.decode(raw)
    except msgspec.ValidationError:
        pass
    except msgspec.DecodeError as e:
        raise DataError(f"{path}:{lineno}: not a valid OTLP JSON line: {e}") from None
    try:
        return _LENIENT.decode(raw)
    except msgspec.DecodeError as e:  # ValidationError is a DecodeError
        raise DataError(f"{path}:{lineno}: not a valid OTLP JSON line: {e}") from None


# --- the plan a worker needs (picklable) ------------------------------------------------------

@dataclass(frozen=True)
class _Plan:
    dim_keys: tuple[tuple[str, ...], ...]  # in _DIMS order
    token_keys: tuple[tuple[str, ...], ...]  # in _TOKENS order
    day_lo: int  # window as days since the epoch, half-open
    day_hi: int
    conventions: tuple[tuple[str, str], ...]


# rollup key: (day, provider, account, model, tier, team, project, feature); the provider and
# tier are canonical, the other values raw (None where the span has none: see _to_pull)
# value: [requests, input, cache_read, cache_write, output, reasoning]
Rollup = dict[tuple[Any, ...], list[int]]

_STAT_NAMES = ("files", "lines", "spans", "llm_spans", "outside_window", "exclusive_detected")


def pull(source: SpanSource, attributes: AttributeMap, window_start: date, window_end: date, *,
         progress: ProgressFn | None = None) -> SpanPull:
    """Roll up the LLM spans of ``source``'s files that start in ``[window_start, window_end)``.

    Returns a ``USAGE_SCHEMA`` frame (one row per usage grain, ``requests`` = spans, token
    fields disjoint after :func:`finops.canonical.normalise`) and stats: ``files``, ``lines``,
    ``spans``, ``llm_spans``, ``outside_window``, ``exclusive_detected``. Bad input (a
    malformed line, a token count that is not a non-negative integer, cache tokens above
    an inclusive input count) raises :class:`DataError` naming the file and line.
    """
    files = resolve_paths(source)
    plan = _Plan(
        dim_keys=tuple(tuple(attributes[f]) for f in _DIMS),
        token_keys=tuple(tuple(attributes[f]) for f in _TOKENS),
        day_lo=window_start.toordinal() - _EPOCH_ORDINAL,
        day_hi=window_end.toordinal() - _EPOCH_ORDINAL,
        conventions=tuple(sorted((source.input_convention or {}).items())),
    )
    workers = _workers(source.options.get("workers", "auto"), files)
    rollup, stats = scan_files(files, plan, workers=workers, label=source.name, progress=progress)
    return _to_pull(source.name, rollup, stats, workers)


def resolve_paths(source: SpanSource) -> list[str]:
    """The files named by ``source.options["paths"]`` (globs expanded, sorted, de-duplicated)."""
    paths = source.options.get("paths")
    if isinstance(paths, str):
        paths = [paths]
    if not paths:
        raise DataError(f"{source.name}: no 'paths' configured for the otlp_files source")
    out: list[str] = []
    seen: set[str] = set()
    for pattern in paths:
        pattern = os.path.expanduser(str(pattern))
        if glob.has_magic(pattern):
            matched = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
            if not matched:
                raise DataError(f"{source.name}: {pattern}: matched no files")
        elif os.path.isfile(pattern):
            matched = [pattern]
        else:
            raise DataError(f"{source.name}: {pattern}: no such file")
        for p in matched:
            real = os.path.realpath(p)
            if real not in seen:
                seen.add(real)
                out.append(p)
    return out


def _workers(option: Any, files: list[str]) -> int:
    if option != "auto":
        try:
            n = int(option)
        except (TypeError, ValueError):
            raise DataError(
                f"otlp_files: workers must be 'auto' or an integer, not {option!r}") from None
        return max(1, min(n, len(files)))
    if len(files) < 2 or sum(os.path.getsize(f) for f in files) < PARALLEL_MIN_BYTES:
        return 1
    return max(1, min(DEFAULT_WORKERS, os.cpu_count() or 1, len(files)))


def scan_files(files: list[str], plan: _Plan, *, workers: int = 1, label: str = "otlp_files",
               progress: ProgressFn | None = None) -> tuple[Rollup, dict[str, int]]:
    """Scan ``files`` (in ``workers`` processes when > 1) and return the merged rollup and stats."""
    total: Rollup = {}
    stats = dict.fromkeys(_STAT_NAMES, 0)
    done = 0
    if progress:
        progress(label, 0, len(files))
    if workers <= 1:
        for f in files:
            _merge(total, stats, _scan_file(f, plan))
            done += 1
            if progress:
                progress(label, done, len(files))
        return total, stats
    try:
        return _scan_parallel(files, plan, workers, label, progress)
    except BrokenProcessPool:
        # A worker died (killed, or a script without a ``__main__`` guard re-ran itself
        # under spawn): the files are still readable here, so finish in this process.
        total, stats = {}, dict.fromkeys(_STAT_NAMES, 0)
        for f in files:
            _merge(total, stats, _scan_file(f, plan))
        stats["worker_failures"] = 1
        return total, stats


def _scan_parallel(files: list[str], plan: _Plan, workers: int, label: str,
                   progress: ProgressFn | None) -> tuple[Rollup, dict[str, int]]:
    total: Rollup = {}
    stats = dict.fromkeys(_STAT_NAMES, 0)
    done = 0
    # spawn, not fork: the parent may hold polars/duckdb thread pools that fork would copy.
    # Largest files first, so the last file to finish is a small one.
    order = sorted(files, key=os.path.getsize, reverse=True)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        pending = {pool.submit(_scan_file, f, plan) for f in order}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for fut in finished:
                    _merge(total, stats, fut.result())  # re-raises a worker's DataError
                    done += 1
                    if progress:
                        progress(label, done, len(files))
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    return total, stats


def _merge(total: Rollup, stats: dict[str, int], part: tuple[Rollup, dict[str, int]]) -> None:
    rollup, st = part
    for k, v in st.items():
        stats[k] += v
    for key, acc in rollup.items():
        cur = total.get(key)
        if cur is None:
            total[key] = acc
        else:
            for i in range(6):
                cur[i] += acc[i]


def _open(path: str) -> IO[bytes]:
    f = open(path, "rb")  # closed by the caller
    if f.read(2) == b"\x1f\x8b":
        f.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    f.seek(0)
    return f


def _lines(path: str) -> Iterator[tuple[int, bytes]]:
    try:
        with _open(path) as f:
            yield from enumerate(f, 1)
    except (OSError, EOFError) as e:  # unreadable file, truncated or corrupt gzip
        raise DataError(f"{path}: cannot read: {e}") from None


_key = attrgetter("key")
_MAX_SHAPES = 4096
_MODEL = _DIMS.index("model")
_FIRST_TOKEN = len(_DIMS)


def _shape(keys: tuple[str, ...], field_keys: tuple[tuple[str, ...], ...]
           ) -> tuple[tuple[tuple[int, int], ...], bool]:
    """For an attribute key list: (field index, position) of each field present, and LLM-ness.

    Instrumentations emit the same keys in the same order span after span, so this is
    computed once per distinct key list instead of a dozen dict lookups per span.
    """
    first: dict[str, int] = {}
    for pos, k in enumerate(keys):
        first.setdefault(k, pos)
    found = []
    for fi, candidates in enumerate(field_keys):
        for k in candidates:
            if k in first:
                found.append((fi, first[k]))
                break
    llm = any(fi == _MODEL or fi >= _FIRST_TOKEN for fi, _ in found)
    return tuple(found), llm


def _scan_file(path: str, plan: _Plan) -> tuple[Rollup, dict[str, int]]:
    """Roll up one file. Runs in a worker process when files are scanned in parallel."""
    # Nothing decoded here forms a cycle; the collector would only walk millions of objects.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _scan(path, plan)
    finally:
        if gc_was_enabled:
            gc.enable()


def _scan(path: str, plan: _Plan) -> tuple[Rollup, dict[str, int]]:
    field_keys = plan.dim_keys + plan.token_keys
    n_fields = len(field_keys)
    day_lo, day_hi = plan.day_lo, plan.day_hi
    conventions = dict(plan.conventions)
    shapes: dict[tuple[str, ...], tuple[tuple[tuple[int, int], ...], bool]] = {}
    prov_cache: dict[tuple[str | None, str], str] = {}
    tier_cache: dict[str | None, str] = {}
    conv_cache: dict[str, str] = {}
    text = _text

    rollup: Rollup = {}
    lines = spans = llm = outside = exclusive = 0
    for lineno, raw in _lines(path):
        if raw.isspace() or not raw:  # isspace stops at the first non-space byte
            continue
        lines += 1
        req = _decode(raw, path, lineno)
        if len(shapes) > _MAX_SHAPES:  # keys in ever-changing order: keep memory bounded
            shapes.clear()
        for rs in req.resourceSpans:
            # The resource's attribute for each field, used when the span has none of its keys.
            rvals: list[Any] = [None] * n_fields
            r_llm = False
            if rs.resource is not None and rs.resource.attributes:
                rkvs = rs.resource.attributes
                rkeys = tuple(map(_key, rkvs))
                rshape = shapes.get(rkeys)
                if rshape is None:
                    rshape = shapes[rkeys] = _shape(rkeys, field_keys)
                found, r_llm = rshape
                for fi, pos in found:
                    rvals[fi] = rkvs[pos]
            for ss in rs.scopeSpans:
                for sp in ss.spans:
                    spans += 1
                    kvs = sp.attributes
                    skeys = tuple(map(_key, kvs))
                    shape = shapes.get(skeys)
                    if shape is None:
                        shape = shapes[skeys] = _shape(skeys, field_keys)
                    found, s_llm = shape
                    if not (s_llm or r_llm):
                        continue  # neither a model nor a token count: not an LLM span
                    llm += 1
                    start = sp.startTimeUnixNano
                    if type(start) is not int:
                        start = _start_ns(start, path, lineno, sp.spanId)
                    day = start // NS_PER_DAY
                    if day < day_lo or day >= day_hi:
                        outside += 1
                        continue
                    vals = rvals.copy()
                    for fi, pos in found:
                        vals[fi] = kvs[pos]

                    counts = [0, 0, 0, 0, 0]
                    i = 0
                    for kv in vals[_FIRST_TOKEN:]:
                        if kv is not None:
                            n = kv.value.intValue
                            if type(n) is not int or n < 0:
                                n = _count(kv.value, kv.key, path, lineno, sp.spanId)
                            counts[i] = n
                        i += 1
                    raw_prov, model, account, raw_tier, team, project, feature = [
                        None if kv is None else
                        (kv.value.stringValue if kv.value.stringValue is not None
                         else text(kv.value))
                        for kv in vals[:_FIRST_TOKEN]]
                    pkey = (raw_prov, model)
                    provider = prov_cache.get(pkey)
                    if provider is None:
                        provider = prov_cache[pkey] = provider_for(raw_prov, model)
                    tier = tier_cache.get(raw_tier)
                    if tier is None:
                        tier = tier_cache[raw_tier] = canonical_tier(raw_tier)
                    conv = conv_cache.get(provider)
                    if conv is None:
                        conv = conv_cache[provider] = convention_for(conventions, provider, AUTO)
                    try:
                        c = normalise(counts[0], counts[1], counts[2], counts[3], counts[4], conv)
                    except ValueError as e:
                        raise DataError(
                            f"{path}:{lineno}: span {sp.spanId}: {e} "
                            f"(input_convention for {provider} is {conv})") from None
                    if c.detected_exclusive:
                        exclusive += 1
                    # raw values: the defaults for missing ones are applied per row in _to_pull
                    key = (day, provider, account, model, tier, team, project, feature)
                    acc = rollup.get(key)
                    if acc is None:
                        rollup[key] = [1, c.input_tokens, c.cache_read_tokens,
                                       c.cache_write_tokens, c.output_tokens, c.reasoning_tokens]
                    else:
                        acc[0] += 1
                        acc[1] += c.input_tokens
                        acc[2] += c.cache_read_tokens
                        acc[3] += c.cache_write_tokens
                        acc[4] += c.output_tokens
                        acc[5] += c.reasoning_tokens
    stats = {"files": 1, "lines": lines, "spans": spans, "llm_spans": llm,
             "outside_window": outside, "exclusive_detected": exclusive}
    return rollup, stats


def _text(v: Any) -> str | None:
    """A non-string scalar used where a name belongs (``team.id`` = 42), as text."""
    if v.intValue is not None:
        return str(v.intValue)
    if v.boolValue is not None:
        b = v.boolValue
        return b if isinstance(b, str) else ("true" if b else "false")
    if v.doubleValue is not None:
        d = v.doubleValue
        return str(int(d)) if isinstance(d, float) and d.is_integer() else str(d)
    return None


def _count(v: Any, key: str, path: str, lineno: int, span_id: str) -> int:
    """A token count from an attribute value that is not a plain non-negative ``intValue``."""
    got: Any
    n = v.intValue
    if n is not None:
        if isinstance(n, str):
            try:
                n = int(n)
            except ValueError:
                n = None
        if isinstance(n, int) and n >= 0:
            return n
        got = msgspec.json.encode(v.intValue).decode()
    elif v.doubleValue is not None:
        d = v.doubleValue
        if isinstance(d, float) and d.is_integer() and d >= 0:
            return int(d)
        got = msgspec.json.encode(d).decode()
    elif v.stringValue is not None:
        s = v.stringValue.strip()
        if s.isascii() and s.isdigit():
            return int(s)
        got = msgspec.json.encode(v.stringValue).decode()
    elif v.boolValue is not None:
        got = "true" if v.boolValue else "false"
    else:
        got = "an empty, array, map or bytes value"
    raise DataError(
        f"{path}:{lineno}: span {span_id}: {key}: expected a non-negative integer, got {got}")


def _start_ns(value: int | str, path: str, lineno: int, span_id: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise DataError(f"{path}:{lineno}: span {span_id}: startTimeUnixNano: expected an "
                        f"integer, got {msgspec.json.encode(value).decode()}") from None


def _to_pull(name: str, rollup: Rollup, stats: dict[str, int], workers: int) -> SpanPull:
    from finops.frames import SpanPull
    from finops.sources.rollup import usage_frame

    rows: dict[tuple[date, Any], list[int]] = {}
    for (day, *raw), acc in rollup.items():
        key = (date.fromordinal(_EPOCH_ORDINAL + day), canonical_dims(*raw))
        cur = rows.get(key)
        if cur is None:
            rows[key] = acc
        else:
            for i in range(6):
                cur[i] += acc[i]
    frame = usage_frame(rows, name, f"{name} otlp_files")
    notes = []
    if stats["exclusive_detected"]:
        notes.append(f"{stats['exclusive_detected']} span(s) had cache tokens above their input "
                     "count and were read as exclusive (input_convention auto)")
    if stats["outside_window"]:
        notes.append(f"{stats['outside_window']} LLM span(s) outside the window were skipped")
    if stats.get("worker_failures"):
        notes.append("a worker process failed; the files were read again in one process")
    skipped = stats["spans"] - stats["llm_spans"]
    if skipped:
        notes.append(f"{skipped} non-LLM span(s) skipped")
    stats = {**stats, "workers": workers, "rows": frame.height}
    return SpanPull(frame=frame, stats=stats, notes=notes)


# --- options and ``finops sources check`` ------------------------------------------------------

OPTIONS = ("paths", "workers")


def validate(source: SpanSource, attributes: AttributeMap | None = None) -> None:
    """Check the source's options at ``finops.toml`` load: known keys, ``paths``, ``workers``."""
    from finops.options import OptionReader

    o = OptionReader(source.options, f"sources.{source.name}", OPTIONS)
    o.paths("paths", required=True)
    workers = o.get("workers", "auto")
    if workers != "auto" and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"sources.{source.name}: workers must be \"auto\" or a positive integer, "
                          f"not {workers!r}")


def _line_days(raw: bytes, path: str, lineno: int) -> tuple[int, int] | None:
    """The first and last span start (days since the epoch) of one request line."""
    req = _decode(raw, path, lineno)
    starts = [_start_ns(sp.startTimeUnixNano, path, lineno, sp.spanId) // NS_PER_DAY
              for rs in req.resourceSpans for ss in rs.scopeSpans for sp in ss.spans]
    return (min(starts), max(starts)) if starts else None


def check(source: SpanSource, attributes: AttributeMap | None = None) -> list[tuple[str, str]]:
    """What ``finops sources check`` shows; any failure raises (the check fails).

    The files matched, and per file whether its first and last line parse and the days they cover.
    """
    validate(source)
    files = resolve_paths(source)
    out = [("files", f"{len(files)} file(s), {sum(os.path.getsize(f) for f in files):,} bytes")]
    for path in files:
        first: tuple[int, bytes] | None = None
        last: tuple[int, bytes] | None = None
        for lineno, raw in _lines(path):
            if raw.strip():
                first = first or (lineno, raw)
                last = (lineno, raw)
        if first is None or last is None:
            raise DataError(f"{path}: empty: no OTLP line to read")
        days = [d for d in (_line_days(first[1], path, first[0]), _line_days(last[1], path, last[0])) if d]
        if not days:
            out.append((path, f"lines 1..{last[0]}: first and last line parse, no spans in them"))
            continue
        lo = date.fromordinal(min(d[0] for d in days) + _EPOCH_ORDINAL)
        hi = date.fromordinal(max(d[1] for d in days) + _EPOCH_ORDINAL)
        out.append((path, f"{last[0]:,} lines; first and last line parse; spans from {lo} to {hi} (UTC)"))
    return out
