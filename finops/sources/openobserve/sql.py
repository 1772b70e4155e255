"""OpenObserve columns and the rollup SQL built from the attribute mapping.

Column names follow OpenObserve's ingest rules (shared/reference/openobserve.md §2.2):
ASCII upper case is lowered, every character outside ``[a-z0-9_]`` becomes ``_``,
resource attributes get a ``service_`` prefix (``service.name`` itself is ``service_name``)
and span attributes whose name collides with a built-in column get ``attr_``.

Safety: identifiers in the SQL are only columns that the stream schema lists (checked
before the SQL is built) and our own fixed aliases, always double-quoted with embedded
quotes doubled; values (the ``only`` filters) are single-quoted literals with embedded
quotes doubled. Nothing else from configuration or data reaches the statement.

Agent and workflow spans (an ``operation`` column naming anything but a model call,
case-insensitively) stay in the groups but add no request and no token: they are counted
apart, per group, so the pages still add up to the count query.

Per-span normalisation is pushed into the SQL: besides the raw input sum the query
returns, per group, the number of spans whose cache tokens exceed their input count and
the cache tokens of the other spans. ``auto`` (read each span as inclusive unless its
cache exceeds its input) is then exact, as in the OTLP file source, although the server
only returns sums.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from finops.canonical import INFERENCE_OPERATIONS
from finops.errors import ConfigError

DIMS = ("provider", "account", "model", "service_tier", "team", "project", "feature")
TOKENS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens",
          "reasoning_tokens")
OPERATION = "operation"  # which spans count: finops.canonical.is_aggregate
SCOPES = ("any", "span", "resource")
US_PER_DAY = 86_400 * 1_000_000

# Span attributes with these normalised names are stored as attr_<name> (HEAD; v0.14–0.50
# blocked only _timestamp, duration, start_time and end_time).
RESERVED = frozenset({
    "trace_id", "span_id", "flags", "span_status", "span_kind", "operation_name",
    "start_time", "end_time", "duration", "service_name", "events", "links", "_timestamp",
    "infer_service_name", "infer_service_type", "infer_service_system",
})

# Aliases of the result columns (hit keys). Fixed strings, never from input.
DAY = "finops_day"
REQUESTS = "finops_requests"
INPUT_RAW = "finops_input_raw"
CACHE_INSIDE = "finops_cache_inside_input"  # cache tokens of spans whose cache <= input
OVER = "finops_cache_over_input"  # spans whose cache tokens exceed their input count
SPANS = "finops_spans"
AGENTS = "finops_agent_spans"  # agent/workflow spans of the group, not counted


def alias(field: str) -> str:
    """The result column for a canonical field (``finops_team``)."""
    return f"finops_{field}"


def bad_alias(field: str) -> str:
    """The result column counting spans with a non-integer value for a token field."""
    return f"finops_bad_{field}"


def format_key(key: str) -> str:
    """OpenObserve's ``flatten::format_key``: lower ASCII, anything not ``[a-z0-9_]`` → ``_``."""
    out = []
    for ch in key:
        if "A" <= ch <= "Z":
            ch = ch.lower()
        out.append(ch if ("a" <= ch <= "z" or "0" <= ch <= "9" or ch == "_") else "_")
    return "".join(out)


def span_column(key: str) -> str:
    """The column of a span attribute."""
    name = format_key(key)
    return "attr_" + name if name in RESERVED else name


def resource_column(key: str) -> str:
    """The column of a resource attribute (``service_`` prefix; ``service.name`` stays)."""
    if key == "service.name":
        return "service_name"
    return "service_" + format_key(key)


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier, embedded quotes doubled."""
    if "\x00" in name:
        raise ConfigError(f"identifier {name!r} contains a NUL character")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A single-quoted SQL string literal, embedded quotes doubled."""
    if "\x00" in value:
        raise ConfigError(f"value {value!r} contains a NUL character")
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class Candidate:
    """One configured attribute for a field, in one scope, and the column it would be."""

    key: str
    scope: str  # "span" | "resource"
    column: str

    @property
    def label(self) -> str:
        """``team.id (resource) → service_team_id``."""
        return f"{self.key} ({self.scope}) → {self.column}"


@dataclass(frozen=True)
class FieldColumns:
    """Which columns serve a canonical field: the existing ones, in mapping order."""

    field: str
    candidates: tuple[Candidate, ...]
    columns: tuple[str, ...]  # existing, de-duplicated, in order (COALESCEd)
    missing: tuple[Candidate, ...]  # configured attributes with no column
    similar: tuple[str, ...]  # schema columns resembling the missing ones

    def describe(self) -> str:
        """One line for ``sources check`` and notes."""
        if self.columns:
            used: dict[str, str] = {}
            for c in self.candidates:
                if c.column in self.columns and c.column not in used:
                    used[c.column] = c.label
            text = ", ".join(used.values())
            return text if len(used) == 1 else f"COALESCE of {text}"
        keys = list(dict.fromkeys(c.key for c in self.candidates))
        scopes = "/".join(dict.fromkeys(c.scope for c in self.candidates))
        tried = ", ".join(dict.fromkeys(c.column for c in self.candidates))
        hint = f"; similar columns: {', '.join(self.similar)}" if self.similar else ""
        return f"no column for {', '.join(keys)} ({scopes}; looked for {tried}){hint}"


def candidates_for(keys: Sequence[str], scope: str) -> tuple[Candidate, ...]:
    """Columns to try for ``keys``: span first, then resource (as the OTLP source looks up)."""
    out: list[Candidate] = []
    if scope in ("any", "span"):
        out += [Candidate(k, "span", span_column(k)) for k in keys]
    if scope in ("any", "resource"):
        out += [Candidate(k, "resource", resource_column(k)) for k in keys]
    return tuple(out)


def similar_columns(names: Iterable[str], schema: Iterable[str], n: int = 3) -> tuple[str, ...]:
    """Schema columns resembling ``names``, best first.

    difflib's ratio, plus a bonus for sharing a word of four letters or more (``team`` in
    ``team_id`` and ``team_name``); built-in columns are never an attribute's column.
    """
    names = [x for x in names if x]
    pool = set(schema) - RESERVED - set(names)
    scores: dict[str, float] = {}
    for name in names:
        words = {w for w in name.split("_") if len(w) >= 4 and w != "service"}
        matcher = difflib.SequenceMatcher(b=name)
        for col in pool:
            matcher.set_seq1(col)
            score = matcher.ratio() + (0.5 if words & set(col.split("_")) else 0.0)
            if score >= 0.6 and score > scores.get(col, 0.0):
                scores[col] = score
    return tuple(sorted(scores, key=lambda c: (-scores[c], c))[:n])


def resolve_columns(keys: Mapping[str, Sequence[str]], scopes: Mapping[str, str],
                    schema: Iterable[str]) -> dict[str, FieldColumns]:
    """Map every canonical field to the existing columns of its configured attributes."""
    names = set(schema)
    out: dict[str, FieldColumns] = {}
    for f in (*DIMS, *TOKENS, OPERATION):
        cands = candidates_for(tuple(keys.get(f, ())), scopes.get(f, "any"))
        cols: list[str] = []
        for c in cands:
            if c.column in names and c.column not in cols:
                cols.append(c.column)
        missing = tuple(c for c in cands if c.column not in names)
        similar = similar_columns([c.column for c in missing], names - set(cols)) \
            if not cols else ()
        out[f] = FieldColumns(f, cands, tuple(cols), missing, similar)
    return out


def _coalesce(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else f"COALESCE({', '.join(parts)})"


def dim_expr(fc: FieldColumns) -> str | None:
    """The text value of a dimension (first existing column wins), or None without columns."""
    if not fc.columns:
        return None
    return _coalesce([quote_ident(c) for c in fc.columns])


def token_expr(fc: FieldColumns) -> str:
    """A span's count for a token field as BIGINT, 0 when absent."""
    if not fc.columns:
        return "0"
    return _coalesce([f"TRY_CAST({quote_ident(c)} AS BIGINT)" for c in fc.columns] + ["0"])


def bad_expr(fc: FieldColumns) -> str | None:
    """1 for a span carrying a value that is not a non-negative integer in any token column."""
    if not fc.columns:
        return None
    conds = [f"({quote_ident(c)} IS NOT NULL AND (TRY_CAST({quote_ident(c)} AS BIGINT) IS NULL"
             f" OR TRY_CAST({quote_ident(c)} AS BIGINT) < 0))" for c in fc.columns]
    return f"CASE WHEN {' OR '.join(conds)} THEN 1 ELSE 0 END"


def aggregate_expr(fc: FieldColumns | None) -> str | None:
    """TRUE for a span one of whose operation columns names an agent or workflow."""
    if fc is None or not fc.columns:
        return None
    names = ", ".join(quote_literal(op) for op in INFERENCE_OPERATIONS)
    return "(" + " OR ".join(f"COALESCE(LOWER({quote_ident(c)}) NOT IN ({names}), FALSE)"
                             for c in fc.columns) + ")"


def llm_filter(cols: Mapping[str, FieldColumns], only: Mapping[str, Sequence[str]]) -> str:
    """WHERE: a span with a model or a token column is an LLM span; plus ``only`` filters."""
    present = [c for f in ("model", *TOKENS) for c in cols[f].columns]
    seen: list[str] = []
    for c in present:
        if c not in seen:
            seen.append(c)
    if not seen:
        raise ValueError("no model or token column")
    cond = "(" + " OR ".join(f"{quote_ident(c)} IS NOT NULL" for c in seen) + ")"
    for f, values in only.items():
        expr = dim_expr(cols[f])
        if expr is None:
            cond += " AND FALSE"
            continue
        cond += f" AND {expr} IN ({', '.join(quote_literal(v) for v in values)})"
    return cond


def rollup_sql(stream: str, cols: Mapping[str, FieldColumns],
               only: Mapping[str, Sequence[str]] | None = None) -> str:
    """The per-window rollup: one row per day and raw dimension values, with token sums."""
    dims = [(f, e) for f in DIMS if (e := dim_expr(cols[f])) is not None]
    agg = aggregate_expr(cols.get(OPERATION))

    def counted(expr: str) -> str:  # agent/workflow spans add nothing
        return expr if agg is None else f"CASE WHEN {agg} THEN 0 ELSE {expr} END"

    t = {f: counted(token_expr(cols[f])) for f in TOKENS}
    cache = f"({t['cache_read_tokens']} + {t['cache_write_tokens']})"
    over = f"{cache} > {t['input_tokens']}"
    day = f"(_timestamp - _timestamp % {US_PER_DAY})"
    select = [f"{day} AS {quote_ident(DAY)}"]
    select += [f"{e} AS {quote_ident(alias(f))}" for f, e in dims]
    select += [
        f"SUM({counted('1')}) AS {quote_ident(REQUESTS)}",
        f"SUM({t['input_tokens']}) AS {quote_ident(INPUT_RAW)}",
        *(f"SUM({t[f]}) AS {quote_ident(alias(f))}" for f in TOKENS if f != "input_tokens"),
        f"SUM(CASE WHEN {over} THEN 0 ELSE {cache} END) AS {quote_ident(CACHE_INSIDE)}",
        f"SUM(CASE WHEN {over} THEN 1 ELSE 0 END) AS {quote_ident(OVER)}",
        f"SUM({'0' if agg is None else f'CASE WHEN {agg} THEN 1 ELSE 0 END'}) AS {quote_ident(AGENTS)}",
    ]
    for f in TOKENS:
        b = bad_expr(cols[f])
        if b is not None:
            select.append(f"SUM({counted(b)}) AS {quote_ident(bad_alias(f))}")
    group = [day] + [e for _, e in dims]
    order = [quote_ident(DAY)] + [quote_ident(alias(f)) for f, _ in dims]
    return (f"SELECT {', '.join(select)} FROM {quote_ident(stream)} "
            f"WHERE {llm_filter(cols, only or {})} "
            f"GROUP BY {', '.join(group)} ORDER BY {', '.join(order)}")


def count_sql(stream: str, cols: Mapping[str, FieldColumns],
              only: Mapping[str, Sequence[str]] | None = None) -> str:
    """The number of LLM spans in a window: checks that the rollup pages add up."""
    return (f"SELECT count(*) AS {quote_ident(SPANS)} FROM {quote_ident(stream)} "
            f"WHERE {llm_filter(cols, only or {})}")

