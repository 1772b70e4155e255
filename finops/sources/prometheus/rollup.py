"""Query answers → ``usage_daily`` rows, with the token mapping made explicit.

What each metric family says, and where it goes in the disjoint canonical fields:

========================================  ==============================  =====================
family (label value)                      semantic conventions            canonical field
========================================  ==============================  =====================
``gen_ai.client.token.usage`` (input)     input *including* cache reads   ``input_tokens``
``gen_ai.client.inference.tokens`` (input)  and cache writes              (cache not separable)
… (output)                                output, reasoning included      ``output_tokens``
``…input_tokens_by_cache`` none/read/creation  disjoint                   input / cache_read /
                                                                          cache_write
``…output_tokens_by_phase`` response/reasoning  disjoint                  output (both);
                                                                          reasoning
``gen_ai.client.operation.duration`` count  one per call                  ``requests``
========================================  ==============================  =====================

The histogram and ``inference.tokens`` cannot say how much of the input was read from or
written to a prompt cache: their input counts go to ``input_tokens`` whole (priced at the
base input rate) and are counted in ``input_tokens_cache_unknown`` so that the pull, the
check and the README can say what that costs. ``input_convention`` has nothing to act on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date

import polars as pl

from finops.canonical import canonical_dims
from finops.errors import DataError
from finops.sources.prometheus.options import GROUP_FIELDS
from finops.sources.rollup import Dims, usage_frame

# Slots: [requests, input, cache_read, cache_write, output, reasoning]
REQUESTS, INPUT, CACHE_READ, CACHE_WRITE, OUTPUT, REASONING = range(6)
# Per family kind and value of its split label: the slots a value adds to.
TOKEN_TYPE = {"input": (INPUT,), "prompt": (INPUT,), "output": (OUTPUT,), "completion": (OUTPUT,)}
CACHE = {"none": (INPUT,), "read": (CACHE_READ,), "creation": (CACHE_WRITE,), "write": (CACHE_WRITE,)}
PHASE = {"response": (OUTPUT,), "reasoning": (OUTPUT, REASONING)}
SLOTS: dict[str, Mapping[str, tuple[int, ...]]] = {
    "histogram": TOKEN_TYPE, "tokens": TOKEN_TYPE, "tokens_in": TOKEN_TYPE, "tokens_out": TOKEN_TYPE,
    "by_cache": CACHE, "by_phase": PHASE,
}
# Families whose input count includes cache tokens it cannot separate.
INCLUSIVE = ("histogram", "tokens", "tokens_in")


class Rollup:
    """Sums answers per (day, canonical key); floats until :meth:`frame` rounds once."""

    def __init__(self, labels: Mapping[str, Sequence[str]], prefix: str) -> None:
        self.labels = labels
        self.prefix = prefix
        self.rows: dict[tuple[date, Dims], list[float]] = {}
        self.stats: Counter[str] = Counter()
        self.unknown: Counter[str] = Counter()  # "family=value" -> tokens not mapped
        self._keys: dict[tuple[tuple[str, str], ...], Dims] = {}

    def key(self, labels: Mapping[str, str]) -> Dims:
        """The canonical (provider, account, model, tier, team, project, feature) of a series."""
        sig = tuple(sorted(labels.items()))
        got = self._keys.get(sig)
        if got is None:
            got = self._keys[sig] = canonical_dims(
                *(next((labels[n] for n in self.labels[f] if labels.get(n)), None) for f in GROUP_FIELDS))
        return got

    def add(self, kind: str, split: str | None, points: Sequence[tuple[date, dict[str, str], float]]) -> None:
        """Add one family's answers; ``kind`` is a key of :data:`SLOTS` or ``requests``."""
        for day, labels, value in points:
            if value < 0:
                raise DataError(f"{self.prefix} {day}: {kind}: the daily increase is negative ({value}) "
                                f"for {labels}: not a counter")
            if kind == "requests":
                slots: tuple[int, ...] = (REQUESTS,)
            else:
                raw = labels.get(split or "", "")
                slots = SLOTS[kind].get(raw.lower(), ())
                if not slots:
                    self.unknown[f"{split}={raw or '(missing)'}"] += round(value)
                    continue
                if kind in INCLUSIVE and slots == (INPUT,):
                    self.stats["input_tokens_cache_unknown"] += round(value)
            row = self.rows.setdefault((day, self.key(labels)), [0.0] * 6)
            for s in slots:
                row[s] += value

    def frame(self, source: str, where: str) -> pl.DataFrame:
        """The rows as a validated ``USAGE_SCHEMA`` frame (all-zero rows dropped), sorted by key."""
        out: dict[tuple[date, Dims], list[int]] = {}
        for key, sums in self.rows.items():
            counts = []
            for x in sums:
                n = round(x)  # half to even; Prometheus' increase() extrapolates to fractions
                if abs(x - n) > 1e-6:
                    self.stats["rounded_values"] += 1
                counts.append(int(n))
            if any(counts):
                out[key] = counts
        return usage_frame(out, source, where)
