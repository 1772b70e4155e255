"""The daily rollup as PromQL range queries (one point per UTC day end), split on refusal.

A query covers up to ``max_points`` days (one point per day). When the server refuses it
for a limit (samples, series, points, time range, timeout) the days are halved; a single
day still refused is split by series: the values of a label (``instance`` first, then the
``join_on`` and group labels) are partitioned into regex alternatives, each partition asked
on its own and the sums added. A partition still refused is partitioned again, then split
by the next label. Partitions are disjoint and cover series without the label (``""``), so
the sums add up to the unsplit answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from finops.errors import SourceError
from finops.frames import ProgressFn
from finops.sources.prometheus.client import PromClient, Series, TooBig
from finops.sources.prometheus.promql import by, daily_increase, regex_alternatives, selector, string, with_resource

DAY = 86400
# VictoriaMetrics refuses queries longer than 16 KiB by default (-search.maxQueryLen).
MAX_QUERY_CHARS = 12_000
Shard = tuple[tuple[str, str], ...]  # (label, matcher) pairs narrowing a query to some series


def epoch(day: date) -> int:
    """Unix seconds at the start of ``day`` (UTC)."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def day_of(day_end: int) -> date:
    """The UTC day that ends at ``day_end`` (a query's evaluation time)."""
    return datetime.fromtimestamp(day_end - DAY, UTC).date()


def span(days: Sequence[date]) -> str:
    """``2026-10-01..2026-10-08`` (half-open) for a run of days."""
    return f"{days[0]}..{days[-1] + timedelta(days=1)}"


@dataclass(frozen=True)
class Spec:
    """One query: a counter, its fixed matchers, the label whose values say what it counts.

    ``unless`` (a PromQL presence expression) leaves out processes that report through a
    preferred family; ``resets`` counts series with a counter reset instead of summing.
    """

    key: str
    metric: str
    matchers: tuple[str, ...]
    split: str | None = None
    unless: str | None = None
    resets: bool = False

    @property
    def label(self) -> str:
        """What the query is, in error lines."""
        return f"{'resets of ' if self.resets else ''}{self.metric}" + (
            f" by {self.split}" if self.split else "")


@dataclass(frozen=True)
class Plan:
    """What every query shares: the group labels, and the target_info join (if any)."""

    group: tuple[str, ...]
    join_on: tuple[str, ...]
    copy: tuple[str, ...]  # resource labels copied from target_info
    info_selector: str = "target_info"

    def query(self, spec: Spec, shard: Sequence[tuple[str, str]] = ()) -> str:
        """The PromQL for ``spec``, restricted by the ``shard`` (label, matcher) pairs.

        A matcher on a join key restricts ``target_info`` too (same label, same process).
        """
        sel = selector(spec.metric, (*spec.matchers, *(m for _, m in shard)))
        if spec.resets:
            return f"count(resets({sel}[1d]) > 0)"
        expr = daily_increase(sel)
        if spec.unless:
            expr = f"({expr}) unless on ({', '.join(self.join_on)}) {spec.unless}"
        if self.copy:
            info = self.info_selector
            keys = [m for label, m in shard if label in self.join_on]
            if keys:
                info = info[:-1] + "," + ",".join(keys) + "}" if info.endswith("}") else selector(info, keys)
            expr = with_resource(expr, self.join_on, self.copy, info)
        labels = (*self.group, spec.split) if spec.split else self.group
        return f"sum {by(labels)} ({expr})"


@dataclass
class Runner:
    """Runs specs over days with splitting; counts what it did in ``stats``."""

    client: PromClient
    plan: Plan
    max_points: int
    progress: ProgressFn | None = None
    label: str = "prometheus"
    stats: Counter[str] = field(default_factory=Counter)
    done: int = 0
    total: int = 0

    def chunks(self, days: Sequence[date]) -> list[list[date]]:
        """Runs of at most ``max_points`` consecutive days."""
        return [list(days[i:i + self.max_points]) for i in range(0, len(days), self.max_points)]

    def run(self, spec: Spec, days: Sequence[date]) -> list[tuple[date, dict[str, str], float]]:
        """(day, labels, value) for every point of every series ``spec`` answers over ``days``."""
        out = []
        for chunk in self.chunks(days):
            for labels, points in self._days(spec, chunk, ()):
                out.extend((day_of(ts), labels, v) for ts, v in points)
            self.done += 1
            if self.progress:
                self.progress(self.label, self.done, self.total)
        return out

    def _days(self, spec: Spec, days: list[date], shard: Shard) -> list[Series]:
        try:
            return self._fetch(spec, days, shard)
        except TooBig as e:
            if len(days) > 1:
                self.stats["day_splits"] += 1
                mid = len(days) // 2
                return self._days(spec, days[:mid], shard) + self._days(spec, days[mid:], shard)
            if e.points:
                raise SourceError(f"{e.message}: refused even for one day") from None
            return self._shard(spec, days, shard, (), e)

    def _fetch(self, spec: Spec, days: list[date], shard: Shard) -> list[Series]:
        query = self.plan.query(spec, shard)
        start, end = epoch(days[0]) + DAY, epoch(days[-1]) + DAY
        shown = ", ".join(m for _, m in shard)
        where = f"{span(days)}: {spec.label}" + (f" (split: {shown[:120]})" if shard else "")
        self.stats["queries"] += 1
        series = self.client.query_range(query, start, end, where)
        for labels, points in series:
            for ts, _ in points:
                if ts < start or ts > end or (ts - start) % DAY:
                    raise SourceError(f"{self.client.prefix} {where}: a point at {ts} is not at a UTC "
                                      f"day end in {start}..{end} (series {labels})")
        return series

    def _candidates(self, spec: Spec) -> list[str]:
        keys = sorted(self.plan.join_on, key=lambda k: k != "instance")
        return list(dict.fromkeys([*keys, *self.plan.group, *([spec.split] if spec.split else [])]))

    def _values(self, spec: Spec, label: str, days: list[date], shard: Shard) -> list[str]:
        # The previous day is read too (the base value of each series).
        lo, hi = epoch(days[0]) - DAY, epoch(days[-1]) + DAY
        where = f"{span(days)}: values of {label} for {spec.metric}"
        self.stats["label_value_requests"] += 1
        try:
            match = selector(spec.metric, (*spec.matchers, *(m for _, m in shard)))
            return self.client.label_values(label, [match], lo, hi, where)
        except TooBig:  # the index alone (every series' values): a superset, still a partition
            try:
                return self.client.label_values(label, [], lo, hi, where)
            except TooBig:
                return []

    def _shard(self, spec: Spec, days: list[date], shard: Shard, tried: tuple[str, ...],
               error: TooBig) -> list[Series]:
        for label in self._candidates(spec):
            if label in tried:
                continue
            values = sorted({v for v in self._values(spec, label, days, shard) if v})
            if len(values) < 2:
                continue
            return self._by_values(spec, days, shard, label, ["", *values], (*tried, label))
        raise SourceError(f"{error.message}: refused even when split by "
                          f"{', '.join(self._candidates(spec))}; raise the server's query limits")

    def _by_values(self, spec: Spec, days: list[date], shard: Shard, label: str,
                   values: list[str], tried: tuple[str, ...]) -> list[Series]:
        base = self.plan.query(spec, shard)
        per = max(1, base.count(spec.metric + "{"), base.count(spec.metric + "["))
        budget = max(200, (MAX_QUERY_CHARS - len(base)) // per - len(label) - 6)
        out: list[Series] = []
        for group in partition(values, budget):
            matcher = f"{label}=~{string(regex_alternatives(group))}"
            self.stats["shard_queries"] += 1
            try:
                out += self._fetch(spec, days, (*shard, (label, matcher)))
            except TooBig as e:
                if len([v for v in group if v]) >= 2:
                    out += self._by_values(spec, days, shard, label, group, tried)
                else:
                    out += self._shard(spec, days, (*shard, (label, matcher)), tried, e)
        return out


def partition(values: list[str], budget: int) -> list[list[str]]:
    """At least two groups of ``values`` whose regex alternatives fit in ``budget`` characters."""
    groups: list[list[str]] = []
    size = 0
    for v in values:
        cost = len(regex_alternatives([v])) + 1
        if groups and size + cost <= budget:
            groups[-1].append(v)
            size += cost
        else:
            groups.append([v])
            size = cost
    if len(groups) == 1 and len(values) > 1:
        mid = len(values) // 2
        groups = [values[:mid], values[mid:]]
    return groups
