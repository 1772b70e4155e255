"""PromQL text for the prometheus source: label names, selectors and the daily increase.

Only names checked against Prometheus' label-name grammar and values discovered from the
server itself (for splitting) are placed in a query, values always as quoted, escaped regex
alternatives. The user's ``selector`` option is PromQL written by the user, placed as is.

The daily increase of one counter series, evaluated at the end of a UTC day ``T``::

    L = last_over_time(s[1d])            the series' last value in the day
    B = last_over_time(s[1d] offset 1d)  its last value before the day (none: a new series)

    ((((L - B) and min_over_time(s[1d]) >= B) or L) unless resets(s[1d]) > 0)
      or increase(s[1d]) or L

* no reset: ``L - B`` (every sample of the day is at least ``B``);
* a new series, or a restart between ``B`` and the day's first sample (some sample of the
  day is below ``B``) and no reset inside the day: ``L``, the counter grew from zero;
* a reset inside the day: the server's ``increase()``, which handles resets (a reset series
  with a single sample counts ``L``).

The first two are exact on every server. ``increase()`` alone is not: both engines take
the first sample in the window as the starting point, so a label set's first call counts
as zero (measured on Prometheus 2.42 and VictoriaMetrics 1.79: a label set's only call of
the day, 777 tokens, came back as 0; VictoriaMetrics also returned 1000 instead of 2200
for a new series whose first sample held 1200); Prometheus (and Mimir and Thanos, which
run its engine) also extrapolates to the window's edges. VictoriaMetrics' ``increase()``
is exact for a series that has a sample before the window. So only series with a reset
inside the day depend on the server's ``increase()``; on Prometheus they are approximate.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_REGEX_SPECIAL = set("\\.+*?()|[]{}^$")


def label_for(attribute: str) -> str:
    """The label an OpenTelemetry attribute key becomes in Prometheus (``team.id`` → ``team_id``).

    The Collector's exporters and the SDK's Prometheus exporter replace every character
    that may not appear in a label name with ``_`` and prefix a leading digit.
    """
    name = re.sub(r"[^a-zA-Z0-9_]", "_", attribute)
    return f"key_{name}" if name[:1].isdigit() else name


def string(value: str) -> str:
    """A PromQL double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def regex_alternatives(values: Iterable[str]) -> str:
    """An RE2 alternation matching exactly ``values`` (PromQL anchors it); ``""`` matches a missing label."""
    parts = []
    for v in values:
        parts.append("".join("\\" + c if c in _REGEX_SPECIAL else c for c in v))
    return "|".join(parts)


def selector(metric: str, matchers: Sequence[str]) -> str:
    """``metric{m1,m2}``."""
    return f"{metric}{{{','.join(matchers)}}}" if matchers else metric


def daily_increase(sel: str) -> str:
    """Per series: how much the counter ``sel`` grew in the day ending at the evaluation time."""
    last = f"last_over_time({sel}[1d])"
    before = f"last_over_time({sel}[1d] offset 1d)"
    return (f"(((({last} - {before}) and min_over_time({sel}[1d]) >= {before}) or {last})"
            f" unless resets({sel}[1d]) > 0) or increase({sel}[1d]) or {last}")


def by(labels: Sequence[str]) -> str:
    """``by (a, b)``; an empty list sums everything."""
    return f"by ({', '.join(labels)})"


def present(selectors: Sequence[str], keys: Sequence[str]) -> str:
    """One series per process (``keys``) that had any sample of ``selectors`` in the day."""
    inner = " or ".join(f"last_over_time({s}[1d])" for s in selectors)
    return f"group {by(keys)} ({inner})"


TEMP = "finops_ti_"  # target_info's labels travel under this prefix through the join


def with_resource(expr: str, join_on: Sequence[str], copy: Sequence[str], info_selector: str) -> str:
    """Copy resource labels ``copy`` from ``target_info`` onto each series of ``expr``.

    The labels travel under a temporary name and are then set only where target_info has a
    value (``label_replace`` with ``(.+)`` leaves a series alone when it does not): a plain
    ``group_left (team_id)`` would *delete* a series' own ``team_id`` when target_info lacks
    one. Series of processes without a ``target_info`` that day are kept as they are (their
    spend lands on ``unattributed`` rather than vanishing). Not ``or on (job, instance)``:
    VictoriaMetrics fills a left series' missing days from *any* right series matching on
    those labels (measured: another feature's count appeared on a day without calls).
    """
    keys = ", ".join(join_on)
    info = f"last_over_time({info_selector}[1d])"
    for lab in copy:
        info = f'label_replace({info}, "{TEMP}{lab}", "$1", "{lab}", "(.*)")'
    temps = ", ".join(TEMP + lab for lab in copy)
    info = f"group by ({keys}, {temps}) ({info})"
    joined = f"({expr}) * on ({keys}) group_left ({temps}) {info}"
    for lab in copy:
        joined = f'label_replace({joined}, "{lab}", "$1", "{TEMP}{lab}", "(.+)")'
    return f"({joined}) or (({expr}) unless on ({keys}) {info})"
