"""Span source ``otlp_files``: JSON lines as the OpenTelemetry Collector's file exporter writes.

Each line is one ``ExportTraceServiceRequest`` in OTLP/JSON. Files may be gzip-compressed
(detected by magic bytes) and ``paths`` may be globs. Spans are rolled up while streaming
into the ``usage_daily`` grain, so memory is bounded by the number of distinct rows, not by
the file size. Lines are decoded with msgspec into small typed structs (unknown fields
are skipped without being built); with more than one file, files are shared between worker
processes (two by default), each keeping one rollup that it sends back once, in columns, at
the end; the parent sums them in polars (:func:`_usage`). A file is read once: the chunks
that are split into lines also feed the manifest's digest. Workers load neither polars nor
pandera, and exit on their own within a second when the process that started them dies
(killed, say), instead of waiting forever for work.

Which spans count: LLM spans (a model or a token count) that start in the window and are not
aggregates: agent and workflow spans (``gen_ai.operation.name`` ``invoke_agent``,
``openinference.span.kind`` ``AGENT`` / ``CHAIN``, ...) repeat the totals of the calls beneath
them and are skipped and counted (:func:`finops.canonical.is_aggregate`).

Duplicates: the same span (trace and span id) delivered twice, as at-least-once export and
collector retries do, is counted once. While scanning, each counted span leaves its 64-bit
span id in a compact array (8 bytes a span, 8 MB per million); after the scan the ids are
sorted (a sorted copy: 8 MB more per million, for a moment) and equal ids looked for. Only when some
repeat are the files holding them read a second time, comparing trace *and* span id exactly,
and every copy after the first (in file and line order) is taken out again.

A file with no lines (0 bytes, an empty gzip) and a JSON line that is not a trace request
(no ``resourceSpans``: an OTLP logs line, ``{"foo": 1}``) are skipped and named in the notes
(file and line); the API refuses to let such a pull empty a day that had usage unless asked.

Configuration (``finops.toml``)::

    [[sources]]
    name = "spans"
    kind = "otlp_files"
    paths = ["spans/*.jsonl.gz", "/var/otel/llm-*.jsonl"]  # files or globs, relative to finops.toml
    workers = "auto"                # or a number of worker processes (1: no workers)
    input_convention = { anthropic = "exclusive" }  # or "inclusive" / "auto" (default)
    sampling = "tracestate"         # each span counts 1 / its sampling probability (default:
                                    # the ot=th threshold); "attribute:SampleRate",
                                    # { ratio = 0.1 }, "off"; per service (README)

    s3 = { bucket = "telemetry", prefix = "traces" }  # collector objects in S3: see object_store

Given the warehouse's manifest (``state``), a pull reads only new or changed files and the
unchanged files sharing their window days (:func:`_select`); unreadable lines in a file whose
spans are all outside the window are a warning, and the newest file's incomplete last line is
left for the next pull (:func:`_file_problems`). Any other key is refused when
``finops.toml`` is loaded. ``finops sources check`` expands the
globs and parses the first and last line of each file, naming the days they cover.
"""

from __future__ import annotations

import gc
import glob
import gzip
import io
import os
import threading
import time
from array import array
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import date
from multiprocessing import get_context
from operator import attrgetter, itemgetter
from typing import IO, TYPE_CHECKING, Annotated, Any

import msgspec

from finops.canonical import (
    ATTRIBUTE,
    AUTO,
    DEFAULT_SAMPLING,
    EXCLUSIVE,
    MAX_TOKENS,
    MISSING,
    RATIO,
    SERVICE_KEY,
    TRACESTATE,
    DimsCanon,
    Sampling,
    SamplingRule,
    convention_for,
    is_aggregate,
    provider_for,
    rate_weight,
    tracestate_weight,
)
from finops.errors import ConfigError, DataError
from finops.sources.object_store import S3Object, S3Options, get_bytes, list_objects, s3_options

if TYPE_CHECKING:  # polars and pandera are imported lazily: worker processes never need them
    import polars as pl

    from finops.config import AttributeMap, SpanSource
    from finops.frames import FileEntry, FileState, ProgressFn, SpanPull

NS_PER_DAY = 86_400 * 1_000_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Below this total size one process is faster than starting workers.
PARALLEL_MIN_BYTES = 32 * 1024 * 1024
DEFAULT_WORKERS = 2
# Notes name at most this many places (file:line) per kind of problem, then say how many more.
MAX_EXAMPLES = 5

_DIMS = ("provider", "model", "account", "service_tier", "team", "project", "feature")
_TOKENS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens",
           "reasoning_tokens")


# --- OTLP/JSON, only the parts we read; everything else is skipped by the decoder ---------

def _otlp_types(lenient: bool, trace_ids: bool = False) -> Any:
    """The structs for one request line.

    The fast decoder runs with ``strict=False`` so that msgspec itself turns the JSON
    strings of ``intValue`` and ``startTimeUnixNano`` into ints. A line it rejects (a
    token count of ``"abc"``, say) is decoded again with the lenient types, which keep
    such values as strings so the error can name the attribute (or ignore a bad value
    on an attribute we do not read). ``trace_ids`` adds each span's ``traceId`` (only the
    second, de-duplicating read needs it). A line without ``resourceSpans`` decodes with
    ``resourceSpans`` UNSET: it is not a trace request.

    The fast types also hold every ``intValue`` to what a token count may be, ``[0, 2^63)``,
    so the scan need not check the counts of a line the fast decoder took; a line with a
    negative integer anywhere is read by the lenient types, whose counts the scan checks.
    """
    count = Annotated[int, msgspec.Meta(ge=0, le=MAX_TOKENS)]
    scalar_int: Any = (int | str | None) if lenient else (count | None)
    scalar_float: Any = (float | str | None) if lenient else (float | None)
    any_value = msgspec.defstruct("AnyValue", [
        ("stringValue", str | None, None), ("intValue", scalar_int, None),
        ("doubleValue", scalar_float, None),
        ("boolValue", (bool | str | None) if lenient else (bool | None), None),
    ], gc=False)
    key_value = msgspec.defstruct("KeyValue", [
        ("key", str), ("value", any_value, msgspec.field(default_factory=any_value)),
    ], gc=False)
    span_fields: list[Any] = [
        ("spanId", str, ""), ("startTimeUnixNano", (int | str) if lenient else int, 0),
        ("attributes", list[key_value], msgspec.field(default_factory=list)),
        ("traceState", str, ""),  # W3C tracestate: ot=th:... is the sampling threshold
    ]
    if trace_ids:
        span_fields.append(("traceId", str, ""))
    span = msgspec.defstruct("Span", span_fields, gc=False)
    scope_spans = msgspec.defstruct("ScopeSpans", [
        ("spans", list[span], msgspec.field(default_factory=list))], gc=False)
    resource = msgspec.defstruct("Resource", [
        ("attributes", list[key_value], msgspec.field(default_factory=list))], gc=False)
    resource_spans = msgspec.defstruct("ResourceSpans", [
        ("resource", resource | None, None),
        ("scopeSpans", list[scope_spans], msgspec.field(default_factory=list)),
    ], gc=False)
    return msgspec.defstruct("ExportRequest", [
        ("resourceSpans", list[resource_spans] | msgspec.UnsetType, msgspec.UNSET)], gc=False)


_DECODERS = {
    trace_ids: (msgspec.json.Decoder(_otlp_types(False, trace_ids), strict=False),
                msgspec.json.Decoder(_otlp_types(True, trace_ids)))
    for trace_ids in (False, True)}


def _decode(raw: bytes, path: str, lineno: int, trace_ids: bool = False) -> Any:
    fast, lenient = _DECODERS[trace_ids]
    try:
        return fast.decode(raw)
    except msgspec.ValidationError:
        pass
    except msgspec.DecodeError as e:
        raise DataError(f"{path}:{lineno}: not a valid OTLP JSON line: {e}") from None
    try:
        return lenient.decode(raw)
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
    op_keys: tuple[str, ...] = ()  # the operation field: any of them naming an aggregate skips
    sampling: Sampling = Sampling()  # what each span stands for (finops.canonical)
    fingerprint: bool = False  # workers also digest each file they read (the manifest's)
    s3: S3Options | None = None  # where s3:// objects are read from (credentials: environment)


# rollup key: (day, provider, account, model, tier, team, project, feature); the provider and
# tier are canonical, the other values raw (None where the span has none: see _to_pull)
# value: [requests, input, cache_read, cache_write, output, reasoning, spans seen]; the first
# six are sampling-weighted (floats where a span stands for more than one call)
Rollup = dict[tuple[Any, ...], list[Any]]

_STAT_NAMES = ("files", "lines", "spans", "llm_spans", "outside_window", "exclusive_detected",
               "agent_spans", "not_trace_lines", "empty_files", "duplicates", "sampled_spans",
               "sampling_unknown", "invalid_thresholds", "thresholds_ignored")


@dataclass
class _Columns:
    """A rollup in columns: what a worker sends back (compact to pickle, no Python rows).

    ``dims`` in rollup key order (provider, account, model, tier, team, project, feature; raw
    values, None where missing); ``counts`` the seven sums, each an ``array('q')``, or a list
    where a value is a float (sampling weights) or does not fit 64 bits.
    """

    days: array
    dims: list[list[str | None]]
    counts: list[Any]


def _columns(rollup: Rollup) -> _Columns:
    """``rollup`` in columns."""
    keys = list(rollup)
    days = array("q", [k[0] for k in keys])
    dims = [[k[i] for k in keys] for i in range(1, 8)]
    del keys
    vals = list(rollup.values())
    counts: list[Any] = []
    for i in range(7):
        col = [v[i] for v in vals]
        try:
            counts.append(array("q", col))
        except (OverflowError, TypeError):  # a weighted count, or a sum past 2^63 - 1
            counts.append(col)
    return _Columns(days, dims, counts)


@dataclass
class _Part:
    """What scanning one file (or all of them) gives: rollup, stats, span ids, examples.

    Per file also: the days of its LLM spans outside the window (``days_out``; the days in
    it are the rollup's), its unreadable lines (``bad``: the first few errors, ``n_bad``
    all of them), an incomplete last line (``incomplete``: its number, the line having no
    newline) and an error that stopped the read (``read_error``: a truncated gzip stream).
    """

    rollup: Rollup
    stats: dict[str, int]
    ids: array  # 64-bit span ids of the counted spans, in file order
    examples: dict[str, list[str]]  # "not_trace" / "empty": file:line places, at most a few
    days_out: set[int] = field(default_factory=set)
    bad: list[str] = field(default_factory=list)
    n_bad: int = 0
    incomplete: int = 0
    read_error: str | None = None
    days: set[int] = field(default_factory=set)  # all its LLM span days, set by _merge
    days_in: set[int] = field(default_factory=set)  # the window days of the spans it counted
    chunks: list[_Columns] = field(default_factory=list)  # rollups sent back, in columns
    counted: int = 0  # spans it added to the rollup
    fingerprint: str | None = None  # file_digest, when the plan asks for it


def pull(source: SpanSource, attributes: AttributeMap, window_start: date, window_end: date, *,
         progress: ProgressFn | None = None, state: FileState | None = None) -> SpanPull:
    """Roll up the LLM spans of ``source``'s files that start in ``[window_start, window_end)``.

    Returns a ``USAGE_SCHEMA`` frame (one row per usage grain, ``requests`` = spans, token
    fields disjoint after :func:`finops.canonical.normalise`) and stats: ``files``, ``lines``,
    ``spans``, ``llm_spans``, ``outside_window``, ``exclusive_detected``, ``agent_spans``
    (aggregates skipped), ``duplicates`` (copies counted once), ``not_trace_lines``,
    ``empty_files``. Bad input (a malformed line, a token count that is not an integer in
    ``[0, 2^63)``, cache tokens above an inclusive input count) raises :class:`DataError`
    naming the file and line, unless it is in a file none of whose readable spans fall in the
    window (a warning), or is the incomplete last line of the newest file (skipped, noted).

    With ``state`` (the source's manifest, kept by the warehouse) only what changed is read:
    see :func:`_select`. The result's ``days`` are then the window days its frame holds in
    full (the other window days keep their rows), ``files`` the new manifest.
    """
    s3 = s3_options(source.options["s3"], f"sources.{source.name}") if "s3" in source.options else None
    files = resolve_paths(source) if (source.options.get("paths") or s3 is None) else []
    stat: dict[str, Any] = {f: os.stat(f) for f in files}
    skipped_objects = 0
    if s3 is not None:
        objects, skipped_objects = list_objects(s3, window_start, window_end, source.name)
        for o in objects:
            files.append(o.url)
            stat[o.url] = o
    _SIZES.clear()
    _SIZES.update((f, stat[f].st_size) for f in files)
    plan = _Plan(
        dim_keys=tuple(tuple(attributes[f]) for f in _DIMS),
        token_keys=tuple(tuple(attributes[f]) for f in _TOKENS),
        day_lo=window_start.toordinal() - _EPOCH_ORDINAL,
        day_hi=window_end.toordinal() - _EPOCH_ORDINAL,
        conventions=tuple(sorted((source.input_convention or {}).items())),
        op_keys=tuple(attributes["operation"]) if "operation" in attributes.keys else (),
        sampling=source.sampling,
        fingerprint=state is not None,
        s3=s3,
    )
    window = set(range(plan.day_lo, plan.day_hi))
    if state is None:
        sel = _Selection(unknown=list(files), known=[], affected=window, entries={})
    else:
        sel = _select(files, stat, plan, state, plan_fingerprint(source, plan))
    first = sel.unknown
    workers = _workers(source.options.get("workers", "auto"), first)
    total = _Part({}, dict.fromkeys(_STAT_NAMES, 0), array("Q"), {})
    parts: dict[str, _Part] = {}
    failed = _scan_into(first, plan, workers, total, parts, source.name, progress)
    for f in first:
        sel.affected |= parts[f].days & window
    # every unchanged file holding a day to re-load is read with them: duplicates across
    # files are found only among files read together
    second = [f for f in sel.known if sel.entries[f].days & sel.affected]  # type: ignore[operator]
    if second:
        failed |= _scan_into(second, plan, _workers(source.options.get("workers", "auto"), second),
                             total, parts, source.name, progress)
    read = first + second
    notes = _file_problems(read, parts, stat, plan, sel)
    for f in read:  # file order: the notes do not depend on which worker finished first
        for kind, places in parts[f].examples.items():
            total.examples.setdefault(kind, []).extend(places)
    if total.rollup:  # what was scanned in this process
        total.chunks.append(_columns(total.rollup))
        total.rollup = {}
    dups = _remove_duplicates(read, parts, total, plan)
    if failed:
        total.stats["worker_failures"] = 1
    if skipped_objects:
        total.stats["objects_skipped"] = skipped_objects
        notes.append(f"{skipped_objects} object(s) under the prefix are not otlp_json trace "
                     "objects (other signals or marshalers) and were skipped")
    if state is None:
        return _to_pull(source.name, total, dups, workers, source.sampling, notes)
    affected = sel.affected & window
    total.stats.update(files_listed=len(files), files_unchanged=len(sel.known) - len(second),
                       files_old=sum(e.status == "old" for e in sel.entries.values()))
    out = _to_pull(source.name, total, dups, workers, source.sampling, notes, only_days=affected)
    out.days = [date.fromordinal(d + _EPOCH_ORDINAL) for d in sorted(affected)]
    out.plan = plan_fingerprint(source, plan)
    for f in read:
        e = sel.entries[f]
        p = parts[f]
        e.fingerprint = e.fingerprint or p.fingerprint
        e.days = frozenset(p.days)
        e.lines, e.spans, e.llm_spans = p.stats["lines"], p.stats["spans"], p.stats["llm_spans"]
    out.files = list(sel.entries.values())
    if not read and not affected:
        out.notes.append(f"nothing new: {len(files)} file(s) unchanged since the last pull")
    return out


_SIZES: dict[str, int] = {}  # the listing's sizes (objects have no os.stat), in the parent
_S3: list[S3Options | None] = [None]  # the plan's s3 table, for _open (set per file scanned)


def _remote(path: str) -> bool:
    return path.startswith("s3://")


def _size(path: str) -> int:
    got = _SIZES.get(path)
    return got if got is not None else os.path.getsize(path)


def _digest(path: str, st: Any) -> str:
    """A listed file's digest: xxh3-128 of a local file, the ETag of an object."""
    if isinstance(st, S3Object):
        return f"etag:{st.etag}"
    return file_digest(path)


# A file last modified this long before the window began cannot hold spans that start in it
# (the collector writes a span after it ends); the margin allows for clocks that disagree.
MTIME_MARGIN_NS = 3600 * 1_000_000_000
# Statuses of a manifest entry whose days are known (the file was read). A 'partial' file
# (the newest, still being written) is always read again: its days too are re-loaded.
_READ = ("read", "partial", "corrupt")
_SETTLED = ("read", "corrupt")


@dataclass
class _Selection:
    """What a pull reads.

    Files to read (``unknown``: new or changed), unchanged files (``known``), the window days
    to re-load (``affected``), and each file's manifest entry.
    """

    unknown: list[str]
    known: list[str]
    affected: set[int]
    entries: dict[str, FileEntry]


def plan_fingerprint(source: SpanSource, plan: _Plan) -> str:
    """A digest of what decides a file's rollup besides its bytes.

    The attribute mapping, the input conventions and the sampling rules: a change re-loads
    every window day.
    """
    import hashlib
    text = repr((plan.dim_keys, plan.token_keys, plan.conventions, plan.op_keys, plan.sampling, 1))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def content_hash() -> Any:
    """A new content hash for the manifest: xxh3-128.

    A fingerprint tells a changed or renamed file from a known one; no one forges collector
    files, so it need not be cryptographic, and every byte read is hashed: xxh3 runs at
    ~11 GB/s here against blake2b's 0.56 (blake2b cost 2.2 CPU-s per GB-sized pull, more
    than a tenth of the scan).
    """
    import xxhash
    return xxhash.xxh3_128()


def fingerprint_of(h: Any) -> str:
    """The manifest's text for a finished :func:`content_hash`.

    The algorithm is named, so a digest stored by another algorithm never matches.
    """
    return "xxh3:" + h.hexdigest()


def file_digest(path: str) -> str:
    """The manifest's content fingerprint of the bytes as stored (:func:`content_hash`)."""
    import hashlib
    with open(path, "rb") as f:
        return fingerprint_of(hashlib.file_digest(f, content_hash))


def _select(files: list[str], stat: dict[str, Any], plan: _Plan, state: FileState,
            plan_fp: str) -> _Selection:
    """Which files to read, from the manifest.

    A file is unchanged when its path, size and mtime are the manifest's. A file with a new
    name but the bytes of a known one (a rename; compared by digest, only when a known file
    has its size) is that file, not a new one. A new or changed file modified before the
    window began (less :data:`MTIME_MARGIN_NS`) cannot hold the window's spans and is not
    read. The window days to re-load are those not loaded under this plan, and those of
    files gone (deleted, or changed: their old content is gone); the caller adds the days
    of the files it reads.
    """
    from finops.frames import FileEntry

    window = set(range(plan.day_lo, plan.day_hi))
    by_path = {e.path: e for e in state.files}
    by_fp = {e.fingerprint: e for e in state.files if e.fingerprint and e.status in _READ}
    sizes = {e.size for e in by_fp.values()}
    oldest_ns = plan.day_lo * NS_PER_DAY - MTIME_MARGIN_NS
    sel = _Selection([], [], {d for d in window if state.days.get(d) != plan_fp}, {})
    present: set[str] = set()
    for f in files:
        st = stat[f]
        key = f if _remote(f) else os.path.abspath(f)
        e = by_path.get(key)
        if (e is not None and e.status in _SETTLED and e.size == st.st_size
                and e.mtime_ns == st.st_mtime_ns):
            fp: str | None = e.fingerprint
            known: FileEntry | None = e
        elif st.st_mtime_ns < oldest_ns:
            sel.entries[f] = FileEntry(key, st.st_size, st.st_mtime_ns, None, None, "old",
                                       note="modified before the window began: not read")
            continue
        else:
            fp = _digest(f, st) if (st.st_size in sizes or _remote(f)) else None
            known = by_fp.get(fp) if fp else None
            if known is not None and known.status not in _SETTLED:
                known = None
        if fp is not None and fp in present:
            sel.entries[f] = FileEntry(key, st.st_size, st.st_mtime_ns, fp, None, "same_content",
                                       note="the same bytes as another listed file: counted once")
            continue
        if fp is not None:
            present.add(fp)
        if known is not None:
            sel.entries[f] = FileEntry(key, st.st_size, st.st_mtime_ns, fp, known.days,
                                       known.status, known.lines, known.spans, known.llm_spans,
                                       known.note)
            sel.known.append(f)
        else:
            sel.entries[f] = FileEntry(key, st.st_size, st.st_mtime_ns, fp, None, "read")
            sel.unknown.append(f)
    for e in by_fp.values():
        if e.fingerprint not in present and e.days:
            sel.affected |= e.days & window  # deleted or changed: its old content is gone
    return sel


def _file_problems(read: list[str], parts: dict[str, _Part], stat: dict[str, Any],
                   plan: _Plan, sel: _Selection | None = None) -> list[str]:
    """Judge each read file's unreadable lines: an error, a warning, or a note.

    The newest file's incomplete last line (or truncated gzip stream) is the collector still
    writing it: skipped, read whole on the next pull. Unreadable lines in a file whose
    readable LLM spans all fall outside the window are a warning (file:line); anywhere
    else (or in a file modified in the window with no readable span) they raise.
    """
    notes: list[str] = []
    if not read:
        return notes
    local = [f for f in stat if not _remote(f)]  # an object is written whole: never "being written"
    newest = max(local, key=lambda f: stat[f].st_mtime_ns) if local else None
    window = range(plan.day_lo, plan.day_hi)
    oldest_ns = plan.day_lo * NS_PER_DAY - MTIME_MARGIN_NS
    for f in read:
        p = parts[f]
        if not (p.n_bad or p.incomplete or p.read_error):
            continue
        entry = sel.entries.get(f) if sel else None
        if f == newest and not p.n_bad:
            where = f"{f}:{p.incomplete}" if p.incomplete else f
            why = "incomplete last line" if p.incomplete else f"unreadable end ({p.read_error})"
            notes.append(f"{where}: {why}, the collector still writing it? Skipped; the file is "
                         "read again on the next pull")
            if entry is not None:
                entry.status, entry.note = "partial", f"{why}: left for the next pull"
            continue
        places = list(p.bad)
        if p.incomplete:
            places.append(f"{f}:{p.incomplete}: incomplete last line (no newline) and not the "
                          "newest file")
        if p.read_error:
            places.append(p.read_error)
        count = p.n_bad + bool(p.incomplete) + bool(p.read_error)
        more = f" (and {count - 1} more unreadable line(s) in the file)" if count > 1 else ""
        in_window = any(d in window for d in p.days)
        if in_window or (not p.days and stat[f].st_mtime_ns >= oldest_ns):
            raise DataError(places[0] + more)
        notes.append(f"warning: {places[0]}{more}; its readable spans are all outside the "
                     "window, so the window does not depend on it")
        if entry is not None:
            entry.status, entry.note = "corrupt", places[0]
    return notes


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
    if len(files) < 2 or sum(_size(f) for f in files) < PARALLEL_MIN_BYTES:
        return 1
    return max(1, min(DEFAULT_WORKERS, os.cpu_count() or 1, len(files)))


def _scan_into(files: list[str], plan: _Plan, workers: int, total: _Part, parts: dict[str, _Part],
               label: str, progress: ProgressFn | None) -> bool:
    """Scan ``files`` into ``total`` and ``parts``; True when a worker failed (read here)."""
    if not files:
        return False
    if progress:
        progress(label, 0, len(files))
    worker_failed = False
    if workers > 1:
        # a second batch: the first batch's sums are kept from a pool that breaks half-way
        snapshot = (list(total.chunks), dict(total.stats))
        try:
            parts.update(_scan_parallel(files, plan, workers, total, label, progress))
            return False
        except BrokenProcessPool:
            # A worker died (killed, or a script without a ``__main__`` guard re-ran itself
            # under spawn): the files are still readable here, so finish in this process.
            total.chunks, total.stats = snapshot
            for f in files:
                parts.pop(f, None)
            worker_failed = True
    for done, f in enumerate(files, 1):
        parts[f] = _merge(total, _scan_file(f, plan, total.rollup))
        if progress and not worker_failed:
            progress(label, done, len(files))
    return worker_failed


# A pool worker's rollup: every file it scans adds to it, and it is sent back once, when the
# parent asks (_flush), instead of once per file: the parent then merges one rollup per worker.
_WORKER: dict[str, Any] = {}
# How long a worker's flush waits for the other workers' (they are idle by then).
FLUSH_TIMEOUT_S = 60.0


def _init_worker(parent: int, barrier: Any) -> None:
    """Pool initializer: a fresh rollup, the flush barrier, and the parent watch."""
    _WORKER.update(rollup={}, counted=0, barrier=barrier)
    _watch_parent(parent)


def _scan_in_worker(path: str, plan: _Plan) -> _Part:
    part = _scan_file(path, plan, _WORKER["rollup"])
    _WORKER["counted"] += part.counted
    return part


def _flush() -> tuple[_Columns, int]:
    """The worker's rollup (in columns) and the spans it holds.

    One flush per worker: the barrier holds each until all have taken theirs.
    """
    _WORKER["barrier"].wait(FLUSH_TIMEOUT_S)  # a worker that took one flush takes no other
    rollup, counted = _WORKER["rollup"], _WORKER["counted"]
    _WORKER.update(rollup={}, counted=0)
    return _columns(rollup), counted


def _watch_parent(parent: int) -> None:
    """Exit when the parent process is gone (killed mid-pull); run by the pool initializer.

    A pool worker otherwise waits forever on its task queue, and the resource tracker with
    it. Polling ``getppid`` works everywhere (the orphan is re-parented) and costs nothing.
    """
    def watch() -> None:
        while True:
            time.sleep(0.2)
            if os.getppid() != parent:
                os._exit(1)
    threading.Thread(target=watch, name="finops-parent-watch", daemon=True).start()


def _scan_parallel(files: list[str], plan: _Plan, workers: int, total: _Part, label: str,
                   progress: ProgressFn | None) -> dict[str, _Part]:
    parts: dict[str, _Part] = {}
    # spawn, not fork: the parent may hold polars/duckdb thread pools that fork would copy.
    # Largest files first, so the last file to finish is a small one.
    order = sorted(files, key=_size, reverse=True)
    ctx = get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(os.getpid(), ctx.Barrier(workers))) as pool:
        pending = {pool.submit(_scan_in_worker, f, plan): f for f in order}
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_EXCEPTION)
                for fut in finished:
                    # re-raises a worker's DataError; the rollups stay in the workers
                    parts[pending.pop(fut)] = _merge(total, fut.result())
                    if progress:
                        progress(label, len(parts), len(files))
            flushes = [pool.submit(_flush) for _ in range(workers)]
            counted = 0
            for fut in flushes:
                try:
                    columns, n = fut.result()
                except threading.BrokenBarrierError:  # a worker never took its flush
                    raise BrokenProcessPool("a worker did not send its rollup back") from None
                counted += n
                total.chunks.append(columns)
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    if counted != sum(p.counted for p in parts.values()):  # a worker's rollup is missing
        raise BrokenProcessPool(f"the workers sent back {counted} span(s) of "
                                f"{sum(p.counted for p in parts.values())}")
    return parts


def _merge(total: _Part, part: _Part) -> _Part:
    """Add ``part``'s stats to ``total`` and set its days; its spans are already in a rollup.

    Files are scanned into a shared rollup (the parent's, or a worker's sent back by
    :func:`_flush`), so a part carries none of its own.
    """
    for k, v in part.stats.items():
        total.stats[k] = total.stats.get(k, 0) + v
    part.days = part.days_out | part.days_in
    return part


def _repeated_ids(parts: dict[str, _Part]) -> tuple[set[int], dict[str, Any]]:
    """Span ids that occur more than once over all files (sorted, neighbours compared).

    Also returns each file's ids as a polars Series (the arrays are released as they are
    converted, so ids are held at most twice: per file, and sorted).
    """
    import polars as pl

    per_file: dict[str, Any] = {}
    for f, p in parts.items():
        per_file[f] = pl.Series("ids", p.ids, dtype=pl.UInt64)
        p.ids = array("Q")
    if sum(len(x) for x in per_file.values()) < 2:
        return set(), per_file
    ids = pl.concat(list(per_file.values()), rechunk=False).sort()
    same = ids.slice(1) == ids.slice(0, len(ids) - 1)
    return set(ids.slice(1).filter(same).unique().to_list()), per_file


def _remove_duplicates(files: list[str], parts: dict[str, _Part], total: _Part,
                       plan: _Plan) -> list[str]:
    """Take every copy after the first of a repeated (trace id, span id) out of ``total``.

    Only files holding a repeated span id are read again; there the trace id is compared
    too, so two spans sharing a span id in different traces both stay.
    """
    repeated, per_file = _repeated_ids(parts)
    holding = [f for f in files if repeated and per_file[f].is_in(list(repeated)).any()]
    del per_file
    seen: set[tuple[str, str]] = set()
    places: list[str] = []
    minus: Rollup = {}  # the copies' counts, negated: summed with the rest, they cancel
    for path in holding:
        for trace_id, span_id, lineno, key, counts in _copies(path, plan, repeated):
            if (trace_id, span_id) not in seen:
                seen.add((trace_id, span_id))
                continue
            acc = minus.setdefault(key, [0] * 7)
            for i, n in enumerate(counts):  # weighted counts and the one span seen
                acc[i] -= n
            total.stats["duplicates"] += 1
            if len(places) < MAX_EXAMPLES:
                places.append(f"{path}:{lineno}")
    if minus:
        total.chunks.append(_columns(minus))
    return places


def _open(path: str) -> IO[bytes]:
    if _remote(path):
        if _S3[0] is None:
            raise DataError(f"{path}: no s3 table configured to read it from")
        data = get_bytes(_S3[0], path)
        return gzip.GzipFile(fileobj=io.BytesIO(data)) if data[:2] == b"\x1f\x8b" else io.BytesIO(data)
    f = open(path, "rb")  # closed by the caller
    if f.read(2) == b"\x1f\x8b":
        f.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    f.seek(0)
    return f


def _lines(path: str, errors: list[str] | None = None) -> Iterator[tuple[int, bytes]]:
    """The lines of ``path`` (gunzipped), numbered from 1.

    A read that fails part-way (a truncated or corrupt gzip stream, an I/O error) raises
    :class:`DataError`, or with ``errors`` ends the lines and appends the error there.
    """
    try:
        with _open(path) as f:
            yield from enumerate(f, 1)
    except (OSError, EOFError) as e:  # unreadable file, truncated or corrupt gzip
        if errors is None:
            raise DataError(f"{path}: cannot read: {e}") from None
        errors.append(f"{path}: cannot read: {e}")


# Lines are read in chunks of this size and split here: one pass over the bytes both feeds
# the manifest's digest and yields the lines (a file is never read twice).
_CHUNK = 4 * 1024 * 1024


class _Hashing(io.RawIOBase):
    """A file read through ``digest``: what gzip reads from, so the stored bytes are hashed."""

    def __init__(self, f: IO[bytes], digest: Any) -> None:
        self.f, self.digest = f, digest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self.f.readinto(b)  # type: ignore[attr-defined]
        if n:
            self.digest.update(memoryview(b)[:n])
        return n or 0

    def close(self) -> None:
        self.f.close()
        super().close()


def _stream(path: str, digest: Any) -> IO[bytes]:
    """``path``'s content (gunzipped), its stored bytes fed to ``digest`` as they are read."""
    if _remote(path):
        return _open(path)
    f: IO[bytes] = open(path, "rb")  # noqa: SIM115 - closed by the caller (through the wrapper)
    if digest is not None:
        f = io.BufferedReader(_Hashing(f, digest), max(_CHUNK, 65536))
    if f.peek(2)[:2] == b"\x1f\x8b":  # type: ignore[attr-defined]
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    return f


def _read_lines(path: str, errors: list[str], digest: Any = None
                ) -> Iterator[tuple[int, bytes | memoryview, bool]]:
    """``(line number, line without its newline, whether it ended with one)`` of ``path``.

    The scan's reader (:func:`_lines` is the simple one): chunks are read into one reused
    buffer, the stored bytes fed to ``digest`` on the way, and each line is a view into the
    buffer, valid until the next line is asked for (no copy, no allocation a line: a wide
    line is hundreds of kilobytes). A read that fails part-way (a truncated or corrupt gzip
    stream, an I/O error) ends the lines and appends the error to ``errors``; the digest is
    then taken again from the file.
    """
    lineno = 0
    pending: list[bytes] = []  # the start of a line the next chunk ends
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    find = buf.find
    try:
        with _stream(path, digest) as f:
            readinto = f.readinto  # type: ignore[attr-defined]
            while True:
                n = readinto(buf)
                if not n:
                    break
                pos = 0
                end = find(b"\n", 0, n)
                if pending and end >= 0:
                    pending.append(bytes(view[:end]))
                    lineno += 1
                    yield lineno, b"".join(pending), True
                    pending = []
                    pos = end + 1
                    end = find(b"\n", pos, n)
                while end >= 0:
                    lineno += 1
                    yield lineno, view[pos:end], True
                    pos = end + 1
                    end = find(b"\n", pos, n)
                if pos < n:
                    pending.append(bytes(view[pos:n]))
        if pending:
            yield lineno + 1, b"".join(pending), False
    except (OSError, EOFError) as e:  # unreadable file, truncated or corrupt gzip
        errors.append(f"{path}: cannot read: {e}")


_key = attrgetter("key")
_str_value = attrgetter("value.stringValue")
_int_value = attrgetter("value.intValue")
_MAX_SHAPES = 4096
_MODEL = _DIMS.index("model")
_FIRST_TOKEN = len(_DIMS)
_NO_OPS: tuple[int, ...] = ()
# rollup key order of the dimensions (after the day), as _DIMS indices
_KEY_ORDER = tuple(_DIMS.index(f) for f in ("provider", "account", "model", "service_tier", "team",
                                            "project", "feature"))


def _items(positions: list[int]) -> Any:
    """A C-level getter of ``positions`` that always returns a tuple."""
    if len(positions) == 1:
        only = positions[0]
        return lambda seq: (seq[only],)
    return itemgetter(*positions)


class _Shape:
    """What an attribute key list holds: where each field is, LLM-ness, operation positions.

    For each field present, the position of its first key the list holds (the mapping's
    order decides between two keys of one field). Instrumentations emit the same keys in
    the same order span after span, so this is computed once per distinct key list and its
    getters then fetch a span's values in a few C calls. Resources and spans are read alike.
    """

    __slots__ = ("counts_full", "dims", "key_dims", "llm", "ops", "tokens", "dget", "tget")

    def __init__(self, keys: tuple[str, ...], field_keys: tuple[tuple[str, ...], ...],
                 op_keys: tuple[str, ...]) -> None:
        first: dict[str, int] = {}
        for pos, k in enumerate(keys):
            first.setdefault(k, pos)
        found = []
        for fi, candidates in enumerate(field_keys):
            for k in candidates:
                if k in first:
                    found.append((fi, first[k]))
                    break
        self.llm = any(fi == _MODEL or fi >= _FIRST_TOKEN for fi, _ in found)
        self.ops = tuple(sorted(first[k] for k in set(op_keys) if k in first)) or _NO_OPS
        self.dims = tuple((fi, pos) for fi, pos in found if fi < _FIRST_TOKEN)
        self.tokens = tuple((fi - _FIRST_TOKEN, pos) for fi, pos in found if fi >= _FIRST_TOKEN)
        self.dget = _items([pos for _, pos in self.dims]) if self.dims else None
        self.tget = _items([pos for _, pos in self.tokens]) if self.tokens else None
        # (a resource's 7 values in key order) + (this list's values) -> 7 in key order
        mine = {fi: len(_KEY_ORDER) + j for j, (fi, _) in enumerate(self.dims)}
        self.key_dims = itemgetter(*(mine.get(fi, k) for k, fi in enumerate(_KEY_ORDER)))
        # (5 counts from the resource) + (this list's counts) -> 5 counts
        mine = {ti: 5 + j for j, (ti, _) in enumerate(self.tokens)}
        self.counts_full = itemgetter(*(mine.get(ti, ti) for ti in range(5)))

    def dims_text(self, kvs: list[Any]) -> tuple[str | None, ...]:
        """The list's dimension values as text, in ``dims`` order."""
        got = self.dget(kvs)
        vals = tuple(map(_str_value, got))
        if None in vals:  # a number or a bool where a name belongs (team.id = 42)
            vals = tuple(kv.value.stringValue if kv.value.stringValue is not None
                         else _text(kv.value) for kv in got)
        return vals

    def dims_full(self, kvs: list[Any]) -> tuple[str | None, ...]:
        """The list's dimension values in rollup key order, None where missing."""
        return self.key_dims((None,) * len(_KEY_ORDER) + self.dims_text(kvs))

    def counts(self, kvs: list[Any]) -> tuple[int, ...] | None:
        """The list's token counts in ``tokens`` order.

        None when one is not a plain count (not an integer in [0, 2^63), or not an
        intValue): the caller converts or refuses it.
        """
        vals = tuple(map(_int_value, self.tget(kvs)))
        try:  # a leniently decoded line may hold a string here
            if None in vals or min(vals) < 0 or max(vals) > MAX_TOKENS:
                return None
        except TypeError:
            return None
        return vals



def _scan_file(path: str, plan: _Plan, rollup: Rollup | None = None) -> _Part:
    """Roll up one file (into ``rollup`` when given). Runs in a worker process too."""
    # Nothing decoded here forms a cycle; the collector would only walk millions of objects.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        _S3[0] = plan.s3
        digest = content_hash() if plan.fingerprint and not _remote(path) else None
        part = _scan(path, plan, digest=digest, rollup=rollup)
        if digest is not None:
            # a read that stopped part-way hashed only what it read: hash the file again
            part.fingerprint = (fingerprint_of(digest) if part.read_error is None
                                else file_digest(path))
        return part
    finally:
        if gc_was_enabled:
            gc.enable()


def _copies(path: str, plan: _Plan, repeated: set[int]
            ) -> list[tuple[str, str, int, tuple[Any, ...], list[Any]]]:
    """Counted spans of ``path`` whose span id is in ``repeated``: ids, line, key, counts."""
    found: list[tuple[str, str, int, tuple[Any, ...], list[Any]]] = []
    _S3[0] = plan.s3
    _scan(path, plan, repeated, found)
    return found


class _Weigher:
    """What a span stands for under the source's sampling rules (one per file scan).

    Tracestates repeat (one per sampler setting), so their weights are cached; the attribute
    rule finds its key once per attribute key list. Counts what it saw for the notes.
    """

    _INVALID = -1.0  # cached for a tracestate whose ot=th is malformed

    def __init__(self, sampling: Sampling, path: str) -> None:
        self.sampling = sampling
        self.path = path
        self.by_resource = bool(sampling.services) or sampling.uses(ATTRIBUTE)
        self.ts_cache: dict[str, float] = {}
        self.pos_cache: dict[tuple[str, ...], int] = {}
        self.sampled = self.unknown = self.invalid = self.ignored = 0

    def resource(self, rkvs: list[Any] | None) -> tuple[SamplingRule, Any]:
        """The rule for a resource's spans (by ``service.name``) and its value of the rule's key."""
        rule = self.sampling.default
        if not self.by_resource:
            return rule, None
        service = value = None
        for kv in rkvs or ():
            if kv.key == SERVICE_KEY:
                service = kv.value.stringValue
        rule = self.sampling.rule_for(service)
        if rule.kind == ATTRIBUTE:
            value = next((_plain(kv.value) for kv in rkvs or () if kv.key == rule.key), None)
        return rule, value

    def weigh(self, rule: SamplingRule, trace_state: str, kvs: list[Any], skeys: tuple[str, ...],
              rvalue: Any, lineno: int, span_id: str) -> float:
        """The span's weight: 1 / its sampling probability, or 1 where that is unknown."""
        tw = 0.0  # no threshold
        if trace_state:
            cached = self.ts_cache.get(trace_state)
            if cached is None:
                got = tracestate_weight(trace_state)
                cached = self.ts_cache[trace_state] = self._INVALID if got is None and (
                    "th:" in trace_state) else (got or 0.0)
            tw = cached
        kind = rule.kind
        if kind == TRACESTATE:
            if tw > 0:
                self.sampled += 1
                return tw
            if tw == self._INVALID:
                self.invalid += 1
            return 1
        if tw > 0:
            self.ignored += 1  # a threshold the rule does not trust (off, a ratio, an attribute)
        if kind == RATIO:
            self.sampled += 1
            return rule.weight
        if kind == ATTRIBUTE:
            pos = self.pos_cache.get(skeys)
            if pos is None:
                pos = self.pos_cache[skeys] = skeys.index(rule.key) if rule.key in skeys else -1
            value = _plain(kvs[pos].value) if pos >= 0 else rvalue
            if value is None:
                self.unknown += 1
                return 1
            try:
                w = rate_weight(value)
            except ValueError as e:
                raise DataError(f"{self.path}:{lineno}: span {span_id}: {rule.key}: {e}") from None
            self.sampled += 1
            return w
        return 1  # off

    def stats(self) -> dict[str, int]:
        """Counts for the file's stats."""
        return {"sampled_spans": self.sampled, "sampling_unknown": self.unknown,
                "invalid_thresholds": self.invalid, "thresholds_ignored": self.ignored}


def _plain(v: Any) -> Any:
    """An attribute value as a Python scalar (None when empty)."""
    for x in (v.intValue, v.doubleValue, v.stringValue, v.boolValue):
        if x is not None:
            return x
    return None


def _scan(path: str, plan: _Plan, only: set[int] | None = None,
          copies: list[tuple[str, str, int, tuple[Any, ...], list[Any]]] | None = None,
          digest: Any = None, rollup: Rollup | None = None) -> _Part:
    """The scan loop over one file.

    With ``only``, nothing is rolled up: the counted spans whose span id is in ``only`` are
    appended to ``copies`` (trace id, span id, line, key, weighted counts and the span).
    With ``digest`` (a :func:`content_hash`), the file's bytes as stored are fed to it as read.
    With ``rollup``, the spans are added to it (the part's own rollup stays empty).

    This loop is where a pull spends its time, so per span it runs as few Python steps as it
    can: the attribute key list's :class:`_Shape` (computed once per distinct list) fetches
    the span's dimension strings and token counts with C-level getters; values that are not
    plain (a number where a name belongs, a count that is not an integer in range) take the
    careful path, which converts them or names the file, line, span and attribute. Rollup
    keys hold raw provider and tier values (canonical ids are applied per row in
    :func:`_to_pull`), so a span needs no provider lookup unless input conventions are set.
    """
    field_keys = plan.dim_keys + plan.token_keys
    op_keys = plan.op_keys
    day_lo, day_hi = plan.day_lo, plan.day_hi
    conventions = dict(plan.conventions)
    shapes: dict[tuple[str, ...], _Shape] = {}
    rshapes: dict[tuple[str, ...], _Shape] = {}
    conv_cache: dict[tuple[str | None, str | None], tuple[str, str]] = {}
    op_cache: dict[str, bool] = {}
    strings: dict[str, str] = {}  # interned key strings
    intern = strings.setdefault
    fast_decode = _DECODERS[only is not None][0].decode
    decode_errors = (msgspec.ValidationError, msgspec.DecodeError)
    ids = array("Q")
    ids_append = ids.append
    last_keys: tuple[str, ...] | None = None
    last_rkeys: tuple[str, ...] | None = None
    shape: _Shape
    rshape: _Shape
    not_trace: list[str] = []
    unset = msgspec.UNSET
    weigher = _Weigher(plan.sampling, path)
    per_resource_rule = weigher.by_resource
    default_rule = plan.sampling.default
    no_dims: tuple[str | None, ...] = (None,) * len(_DIMS)
    no_counts = (0, 0, 0, 0, 0)

    part_rollup: Rollup = {}
    if rollup is None:
        rollup = part_rollup
    rollup_get = rollup.get
    days_in: set[int] = set()
    add_day = days_in.add
    counted = 0
    lines = spans = llm = outside = exclusive = agents = bad_lines = 0
    days_out: set[int] = set()
    bad: list[str] = []
    n_bad = incomplete = 0
    read_errors: list[str] = []
    for lineno, raw, complete in _read_lines(path, read_errors, digest):
        if not raw:
            continue
        lines += 1
        try:
            req = fast_decode(raw)
            checked = True  # its counts are plain (the fast types hold them: _otlp_types)
        except decode_errors:
            if not bytes(raw).strip():  # a blank line (spaces, a carriage return)
                lines -= 1
                continue
            checked = False
            try:
                req = _decode(raw, path, lineno, only is not None)
            except DataError as e:  # judged per file by the caller (_file_problems)
                if complete:
                    n_bad += 1
                    if len(bad) < MAX_EXAMPLES:
                        bad.append(str(e))
                else:  # no newline: the last line, perhaps still being written
                    incomplete = lineno
                continue
        if len(shapes) > _MAX_SHAPES:  # keys in ever-changing order: keep memory bounded
            shapes.clear()
            rshapes.clear()
            last_keys = last_rkeys = None
        if req.resourceSpans is unset:
            bad_lines += 1
            if len(not_trace) < MAX_EXAMPLES:
                not_trace.append(f"{path}:{lineno}")
            continue
        for rs in req.resourceSpans:
            # the resource's dimension values (text) and token counts, used where the span
            # has none of the field's keys
            rdims = no_dims
            rcounts = no_counts
            rtoks: tuple[Any, ...] = ()  # the resource's token attributes, when not plain
            r_llm = r_aggregate = False
            rkvs = rs.resource.attributes if rs.resource is not None else None
            if rkvs:
                rkeys = tuple(map(_key, rkvs))
                if rkeys != last_rkeys:  # as for spans below: the same service, line after line
                    rshape = rshapes.get(rkeys)
                    if rshape is None:
                        rshape = rshapes[rkeys] = _Shape(rkeys, field_keys, op_keys)
                    last_rkeys = rkeys
                r_llm = rshape.llm
                if rshape.dims:
                    rdims = rshape.dims_full(rkvs)
                if rshape.tokens:
                    got = rshape.counts(rkvs)
                    if got is None:
                        rtoks = tuple((ti, rkvs[pos]) for ti, pos in rshape.tokens)
                    else:
                        rcounts = rshape.counts_full(no_counts + got)
                if rshape.ops:
                    r_aggregate = _aggregate(rkvs, rshape.ops, op_cache)
            rule, rvalue = weigher.resource(rkvs) if per_resource_rule else (default_rule, None)
            per_span = rule.kind in (ATTRIBUTE, RATIO)  # else only a tracestate can weigh
            for ss in rs.scopeSpans:
                for sp in ss.spans:
                    spans += 1
                    kvs = sp.attributes
                    skeys = tuple(map(_key, kvs))
                    # neighbouring spans mostly share a key list: comparing the strings is
                    # cheaper than hashing them (each span's strings are new objects)
                    if skeys != last_keys:
                        shape = shapes.get(skeys)
                        if shape is None:
                            shape = shapes[skeys] = _Shape(skeys, field_keys, op_keys)
                        last_keys = skeys
                    if not (shape.llm or r_llm):
                        continue  # neither a model nor a token count: not an LLM span
                    llm += 1
                    start = sp.startTimeUnixNano
                    if type(start) is not int:
                        start = _start_ns(start, path, lineno, sp.spanId)
                    day = start // NS_PER_DAY
                    if day < day_lo or day >= day_hi:
                        outside += 1
                        days_out.add(day)
                        continue
                    if r_aggregate or (shape.ops and _aggregate(kvs, shape.ops, op_cache)):
                        agents += 1  # an agent/workflow span: its calls are counted
                        continue
                    # dimensions, in rollup key order: provider, account, model, tier, team,
                    # project, feature (raw values; None where missing)
                    if shape.dims:
                        got = shape.dget(kvs)
                        vals = tuple(map(_str_value, got))
                        if None in vals:
                            vals = shape.dims_text(kvs)
                        dims = shape.key_dims(rdims + vals)
                    else:
                        dims = rdims
                    if shape.tokens:
                        got = tuple(map(_int_value, shape.tget(kvs)))
                        if None in got or not (checked or _plain_counts(got)):
                            got = tuple(_count(kvs[pos].value, kvs[pos].key, path, lineno, sp.spanId)
                                        for _, pos in shape.tokens)
                        counts = shape.counts_full(rcounts + got)
                    else:
                        counts = rcounts
                    if rtoks:  # the resource's counts are not plain: converted, or an error
                        counts = _resource_counts(rtoks, counts, shape, path, lineno, sp.spanId)
                    inp, cr, cw, out, rsn = counts
                    # finops.canonical.normalise, inlined: the disjoint input count
                    conv = AUTO
                    if conventions:
                        pkey = (dims[0], dims[2])
                        pc = conv_cache.get(pkey)
                        if pc is None:
                            provider = provider_for(dims[0], dims[2])
                            pc = conv_cache[pkey] = (
                                provider, convention_for(conventions, provider, AUTO))
                        conv = pc[1]
                    if conv != EXCLUSIVE:
                        cache = cr + cw
                        if cache <= inp:
                            inp -= cache
                        elif conv == AUTO:
                            exclusive += 1
                        else:
                            raise DataError(
                                f"{path}:{lineno}: span {sp.spanId}: cache tokens ({cache}) "
                                f"exceed the inclusive input count ({inp}) "
                                f"(input_convention for {conv_cache[pkey][0]} is {conv})")
                    # sampling: the calls this span stands for (1 unless the rules know better)
                    w = weigher.weigh(rule, sp.traceState, kvs, skeys, rvalue, lineno, sp.spanId
                                      ) if per_span or sp.traceState else 1
                    key = (day, *dims)
                    sid = sp.spanId
                    if only is not None:
                        if sid and copies is not None and _span_hash(sid) in only:
                            copies.append((sp.traceId, sid, lineno, key,
                                           [w, inp * w, cr * w, cw * w, out * w, rsn * w, 1]))
                        continue
                    if sid:
                        try:
                            ids_append(int(sid, 16))
                        except (ValueError, OverflowError):  # not a 64-bit hex id
                            ids_append(_span_hash(sid))
                    counted += 1
                    add_day(day)
                    acc = rollup_get(key)
                    if acc is None:  # a new row: its strings interned, shared with other rows
                        key = (day, *[x if x is None else intern(x, x) for x in dims])
                        rollup[key] = ([1, inp, cr, cw, out, rsn, 1] if w == 1 else
                                       [w, inp * w, cr * w, cw * w, out * w, rsn * w, 1])
                    elif w == 1:
                        acc[0] += 1
                        acc[1] += inp
                        acc[2] += cr
                        acc[3] += cw
                        acc[4] += out
                        acc[5] += rsn
                        acc[6] += 1
                    else:
                        acc[0] += w
                        acc[1] += inp * w
                        acc[2] += cr * w
                        acc[3] += cw * w
                        acc[4] += out * w
                        acc[5] += rsn * w
                        acc[6] += 1
    stats = {"files": 1, "lines": lines, "spans": spans, "llm_spans": llm,
             "outside_window": outside, "exclusive_detected": exclusive, "agent_spans": agents,
             "not_trace_lines": bad_lines, "empty_files": int(not lines), **weigher.stats()}
    examples: dict[str, list[str]] = {}
    if not_trace:
        examples["not_trace"] = not_trace
    if not lines:
        examples["empty"] = [path]
    return _Part(part_rollup, stats, ids, examples, days_out, bad, n_bad, incomplete,
                 read_errors[0] if read_errors else None, days_in=days_in, counted=counted)


def _plain_counts(got: tuple[Any, ...]) -> bool:
    """Whether leniently decoded counts are all integers in ``[0, 2^63)``."""
    return all(type(n) is int and 0 <= n <= MAX_TOKENS for n in got)


def _resource_counts(rtoks: tuple[Any, ...], counts: tuple[int, ...], shape: _Shape, path: str,
                     lineno: int, span_id: str) -> tuple[int, ...]:
    """``counts`` with the resource's token attributes that are not plain counts converted.

    Only where the span has no value of its own; one that cannot be read is an error naming
    the span (as the span's own attributes are).
    """
    out = list(counts)
    own = {ti for ti, _ in shape.tokens}
    for ti, kv in rtoks:
        if ti not in own:
            out[ti] = _count(kv.value, kv.key, path, lineno, span_id)
    return tuple(out)


def _aggregate(kvs: list[Any], ops: tuple[int, ...], cache: dict[str, bool]) -> bool:
    """Whether any operation attribute (at positions ``ops``) names an agent or workflow."""
    for pos in ops:
        op = kvs[pos].value.stringValue
        if op is not None:
            agg = cache.get(op)
            if agg is None:
                agg = cache[op] = is_aggregate(op)
            if agg:
                return True
    return False


def _span_hash(span_id: str) -> int:
    """The 64-bit key of a span id: the id itself when it is 16 hex digits, else a digest."""
    try:
        h = int(span_id, 16)
        if 0 <= h < 2**64:
            return h
    except ValueError:
        pass
    import hashlib
    return int.from_bytes(hashlib.blake2b(span_id.encode(), digest_size=8).digest(), "big")


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
    """A token count from an attribute value that is not a plain ``intValue`` in ``[0, 2^63)``."""
    got: Any
    n: Any = None
    if v.intValue is not None:
        n = v.intValue
        if isinstance(n, str):
            try:
                n = int(n)
            except ValueError:
                n = None
        # OTLP/JSON writes an int64 as a string: one that parses is shown as the number
        got = str(n) if isinstance(n, int) else msgspec.json.encode(v.intValue).decode()
    elif v.doubleValue is not None:
        d = v.doubleValue
        if isinstance(d, float) and d.is_integer():
            n = int(d)
        got = msgspec.json.encode(d).decode()
    elif v.stringValue is not None:
        s = v.stringValue.strip()
        if s.isascii() and s.isdigit():
            n = int(s)
        got = msgspec.json.encode(v.stringValue).decode()
    elif v.boolValue is not None:
        got = "true" if v.boolValue else "false"
    else:
        got = "an empty, array, map or bytes value"
    if isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_TOKENS:
        return n
    why = " (above 2^63 - 1, the largest count a usage row holds)" if (
        isinstance(n, int) and n > MAX_TOKENS) else ""
    raise DataError(
        f"{path}:{lineno}: span {span_id}: {key}: expected a non-negative integer, got {got}{why}")


def _start_ns(value: int | str, path: str, lineno: int, span_id: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise DataError(f"{path}:{lineno}: span {span_id}: startTimeUnixNano: expected an "
                        f"integer, got {msgspec.json.encode(value).decode()}") from None


_KEY_DIMS = ("provider", "account", "model", "service_tier", "team", "project", "feature")
_SUMS = ("requests", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens",
         "reasoning_tokens", "seen_requests")
# Above this a 64-bit sum may have overflowed: the rows are summed again as Python integers,
# which name the row that does not fit (finops.sources.rollup.usage_frame).
_NEAR_MAX = 2.0**62


def _usage(name: str, chunks: list[_Columns], weighted: bool,
           only_days: set[int] | None) -> pl.DataFrame:
    """The rollup chunks summed into the ``USAGE_SCHEMA`` frame (rows at ``only_days``).

    The sums run in polars: the rollups of the workers (and the negated duplicate copies)
    are concatenated, their raw provider, model and tier made canonical once per distinct
    triple (:class:`finops.canonical.DimsCanon`), missing values given their defaults
    (:data:`finops.canonical.MISSING`), and grouped. Weighted counts (sampling) are rounded
    per cell by :func:`finops.sources.rollup.usage_frame`, as other sources' are.
    """
    import polars as pl

    from finops.schemas import USAGE_KEYS, USAGE_SCHEMA, UsageDaily, validate
    from finops.sources.rollup import usage_frame

    where = f"{name} otlp_files"
    count_type = pl.Float64 if weighted else pl.Int64
    frames = []
    for c in chunks:
        cols: dict[str, Any] = {"day": pl.Series(c.days, dtype=pl.Int64)}
        for dim, values in zip(_KEY_DIMS, c.dims, strict=True):
            cols[dim] = pl.Series(values, dtype=pl.String)
        for col, values in zip(_SUMS, c.counts, strict=True):
            if not isinstance(values, array) and not weighted:  # past 64 bits: named below
                return _usage_exact(name, chunks, only_days)
            cols[col] = pl.Series(values, dtype=count_type)
        frames.append(pl.DataFrame(cols))
    if not frames:
        return usage_frame({}, name, where, weighted=False)
    raw = pl.concat(frames, how="vertical_relaxed")
    del frames
    if only_days is not None:
        raw = raw.filter(pl.col("day").is_in(sorted(only_days)))
    canon = DimsCanon()
    triples = raw.select("provider", "model", "service_tier").unique()
    mapped = [canon(p, None, m, t, None, None, None) for p, m, t in triples.iter_rows()]
    triples = triples.with_columns(
        pl.Series("_provider", [d[0] for d in mapped], dtype=pl.String),
        pl.Series("_model", [d[2] for d in mapped], dtype=pl.String),
        pl.Series("_tier", [d[3] for d in mapped], dtype=pl.String))
    raw = raw.join(triples, on=["provider", "model", "service_tier"], how="left", nulls_equal=True)
    missing = [(pl.when(pl.col(c).is_null() | (pl.col(c) == "")).then(pl.lit(MISSING[c]))
                .otherwise(pl.col(c)).alias(c)) for c in MISSING]
    grouped = (raw.drop("provider", "model", "service_tier")
               .rename({"_provider": "provider", "_model": "model", "_tier": "service_tier"})
               .with_columns(missing)
               .group_by(["day", *_KEY_DIMS])
               .agg([pl.col(c).sum() for c in _SUMS]
                    + [pl.col(c).cast(pl.Float64).abs().sum().alias(f"_{c}") for c in _SUMS])
               .filter(pl.col("seen_requests") != 0))  # every copy taken out again
    del raw
    largest = grouped.select(pl.max_horizontal([f"_{c}" for c in _SUMS]).max()).item() or 0
    if largest > _NEAR_MAX and not weighted:
        return _usage_exact(name, chunks, only_days)
    if weighted:
        rows = {(date.fromordinal(_EPOCH_ORDINAL + r[0]), r[1:8]): list(r[8:15])
                for r in grouped.iter_rows()}
        return usage_frame(rows, name, where, weighted=True, consume=True)
    frame = (grouped.drop([f"_{c}" for c in _SUMS])
             .with_columns(pl.col("day").cast(pl.Int32).cast(pl.Date), pl.lit(name).alias("source"))
             .select(list(USAGE_SCHEMA)).sort(USAGE_KEYS))
    return validate(frame, UsageDaily, where)


def _usage_exact(name: str, chunks: list[_Columns], only_days: set[int] | None) -> pl.DataFrame:
    """:func:`_usage` in Python integers: for sums that may not fit 64 bits (an error names them)."""
    from finops.sources.rollup import usage_frame

    rows: dict[tuple[date, Any], list[Any]] = {}
    canon = DimsCanon()
    for c in chunks:
        for i, day in enumerate(c.days):
            if only_days is not None and day not in only_days:
                continue
            key = (date.fromordinal(_EPOCH_ORDINAL + day), canon(*(col[i] for col in c.dims)))
            acc = rows.setdefault(key, [0] * 7)
            for j, col in enumerate(c.counts):
                acc[j] += col[i]
    rows = {k: v for k, v in rows.items() if v[6]}
    return usage_frame(rows, name, f"{name} otlp_files", weighted=False, consume=True)


def _to_pull(name: str, part: _Part, dup_places: list[str], workers: int,
             sampling: Sampling = DEFAULT_SAMPLING, file_notes: list[str] | None = None,
             only_days: set[int] | None = None) -> SpanPull:
    from finops.frames import SpanPull
    from finops.sources.rollup import sampling_notes

    stats = part.stats
    frame = _usage(name, part.chunks, stats["sampled_spans"] > 0, only_days)
    part.chunks = []
    notes = list(file_notes or []) + sampling_notes(name, sampling, stats, frame)

    def places(found: list[str], total: int) -> str:
        more = f" and {total - len(found)} more" if total > len(found) else ""
        return ", ".join(found[:MAX_EXAMPLES]) + more

    if stats["empty_files"]:
        empty = part.examples.get("empty", [])
        notes.append(f"warning: {stats['empty_files']} empty file(s) (no lines): "
                     f"{places(empty, stats['empty_files'])}")
    if stats["not_trace_lines"]:
        notes.append(f"warning: {stats['not_trace_lines']} line(s) are not OTLP trace requests "
                     f"(no resourceSpans: logs or metrics, or another format) and were skipped: "
                     f"{places(part.examples.get('not_trace', []), stats['not_trace_lines'])}")
    if stats["duplicates"]:
        notes.append(f"{stats['duplicates']} duplicate span(s) (same trace and span id, as "
                     f"at-least-once delivery and collector retries produce) counted once: "
                     f"{places(dup_places, stats['duplicates'])}")
    if stats["agent_spans"]:
        notes.append(f"{stats['agent_spans']} agent/workflow span(s) (an operation other than a "
                     "model call, e.g. invoke_agent, AGENT, CHAIN) carry the totals of the calls "
                     "beneath them and were not counted")
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
    return SpanPull(frame=frame, stats=stats, notes=notes, sampling=sampling.describe())


# --- options and ``finops sources check`` ------------------------------------------------------

OPTIONS = ("paths", "workers", "s3")


def validate(source: SpanSource, attributes: AttributeMap | None = None) -> None:
    """Check the source's options at ``finops.toml`` load: known keys, ``paths``, ``workers``."""
    from finops.options import OptionReader

    o = OptionReader(source.options, f"sources.{source.name}", OPTIONS)
    o.paths("paths", required="s3" not in source.options)
    if "s3" in source.options:
        s3_options(source.options["s3"], f"sources.{source.name}")
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
    out0: list[tuple[str, str]] = []
    if "s3" in source.options:
        from datetime import timedelta
        s3 = s3_options(source.options["s3"], f"sources.{source.name}")
        today = date.today()
        objects, skipped = list_objects(s3, today - timedelta(days=1), today + timedelta(days=1),
                                        source.name)
        out0.append((f"s3://{s3.bucket}/{s3.prefix}",
                     f"{len(objects)} trace object(s) in the partitions of {today - timedelta(days=1)} "
                     f"to {today} (UTC), {sum(o.st_size for o in objects):,} bytes; "
                     f"{skipped} other object(s)"))
        if not source.options.get("paths"):
            return out0
    files = resolve_paths(source)
    out = out0 + [("files", f"{len(files)} file(s), {sum(os.path.getsize(f) for f in files):,} bytes")]
    out.append(("sampling", f"{source.sampling.describe()}: each span counts 1 / its sampling "
                "probability" if source.sampling.default.kind != "off" or source.sampling.services
                else "off: every span counts once"))
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
