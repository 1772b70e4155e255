"""Why the money moved, against what, and per unit of work: month over month, unit costs, cache return.

Plain arithmetic over the rows of ``sql/report`` (month_items, month_teams, unit_costs,
cache_return, cache_bill, cache_spans), in ``Decimal``. README "How the numbers are made" says
how each number is made; every function here states the rule it implements.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from finops.money import CENT, cents

__all__ = ["PARTS", "CacheCheck", "CacheReturn", "MonthChange", "UnitCost", "UnitCosts",
           "cache_checks", "cache_returns", "decompose", "month_changes", "round_parts", "unit_costs"]

PARTS = ("volume", "mix", "price", "other")
ZERO = Decimal(0)
# Enough digits that the parts' sums stay exact for any month (money to 1e-12, tokens to 1e18).
_CTX = decimal.Context(prec=60)
_FINE = Decimal("1e-30")


# ----------------------------------------------------------------------------- month over month

@dataclass
class MonthChange:
    """One team's (or the organisation's) billed money against the month before.

    ``billed`` is this month's chargeback (to date while the month is open); ``previous`` the
    month before, whole; ``previous_to_date`` the month before up to the same day of the month
    (only while this month is open). ``change`` compares like with like (``compared_with``) and
    ``parts`` split it into volume, mix, price and other, in cents, adding up to it exactly.
    """

    billed: Decimal
    previous: Decimal
    previous_to_date: Decimal | None
    change: Decimal
    parts: dict[str, Decimal]

    @property
    def compared_with(self) -> str:
        """``previous_to_date`` while the month is open, else ``previous``."""
        return "previous" if self.previous_to_date is None else "previous_to_date"

    @property
    def base(self) -> Decimal:
        """What this month is compared with."""
        return self.previous if self.previous_to_date is None else self.previous_to_date

    @property
    def change_pct(self) -> Decimal | None:
        """The change in percent of the base, two decimals; None when the base is 0."""
        if not self.base:
            return None
        return (self.change / self.base * 100).quantize(CENT, rounding=ROUND_HALF_UP)


def decompose(current: dict[Any, tuple[int, Decimal]], previous: dict[Any, tuple[int, Decimal]]
              ) -> dict[str, Decimal]:
    """Split C1 − C0 into volume, mix, price and other, exactly.

    ``current``/``previous`` map an item (provider · model · token type) to (tokens, billed).
    An item with tokens in a month is *metered* that month; the money of items without tokens
    (account rules, bills no span matched, non-token charges, credits) is *other*. With Q the
    metered tokens, M their money, u_k = billed_k / tokens_k an item's billed rate, and S = Σ over
    this month's metered items of tokens₁ × u₀ (this month's tokens at last month's rates; an
    item new this month takes its own rate, so it adds no price change):

    * volume = M₀ × (Q₁ / Q₀ − 1): more or fewer tokens at last month's average rate;
    * mix    = S − M₀ × Q₁ / Q₀: which models and token types the tokens went to;
    * price  = M₁ − S: each item's billed rate against last month's;
    * other  = O₁ − O₀.

    With no metered tokens last month, all metered money this month is volume. The parts add up
    to (M₁ + O₁) − (M₀ + O₀) exactly: volume and mix are carried to 1e-30, price takes the rest.
    """
    with decimal.localcontext(_CTX):
        q0 = sum((t for t, _ in previous.values() if t > 0), 0)
        q1 = sum((t for t, _ in current.values() if t > 0), 0)
        m0 = sum((b for t, b in previous.values() if t > 0), ZERO)
        m1 = sum((b for t, b in current.values() if t > 0), ZERO)
        o0 = sum((b for t, b in previous.values() if t <= 0), ZERO)
        o1 = sum((b for t, b in current.values() if t <= 0), ZERO)
        s = ZERO
        for k, (t1, b1) in current.items():
            if t1 <= 0:
                continue
            t0, b0 = previous.get(k, (0, ZERO))
            s += b1 if t0 <= 0 else Decimal(t1) * b0 / Decimal(t0)
        if q0 == 0:
            volume, mix = s - m0, ZERO
        else:
            scaled = m0 * Decimal(q1) / Decimal(q0)
            volume, mix = scaled - m0, s - scaled
    # Volume and mix to 1e-30 USD; price is what is left of M1 − M0, subtracted exactly (no
    # rounding at 200 digits), so the parts add up to the change with no residue at all.
    with decimal.localcontext(decimal.Context(prec=200)):
        volume, mix = volume.quantize(_FINE), mix.quantize(_FINE)
        return {"volume": volume, "mix": mix, "price": (m1 - m0) - volume - mix, "other": o1 - o0}


def round_parts(parts: dict[str, Decimal], total: Decimal) -> dict[str, Decimal]:
    """Each part to the cent, adding up to ``total`` (in cents) exactly.

    ``total`` is the change between the chargebacks, which are rounded per provider; the parts are
    exact. What rounding leaves over (under a cent per provider and month) goes to the part of
    largest size.
    """
    out = {k: cents(v) for k, v in parts.items()}
    rest = cents(total) - sum(out.values(), ZERO)
    if rest:
        biggest = max(out, key=lambda k: (abs(parts[k]), -PARTS.index(k) if k in PARTS else 0))
        out[biggest] += rest
    return out


def month_changes(items: list[dict[str, Any]], teams_now: dict[str, Decimal], previous_rows: list[dict[str, Any]],
                  *, open_month: bool) -> dict[str, MonthChange]:
    """Every team's :class:`MonthChange`, for the teams of either month.

    ``items`` are month_items.sql rows, ``teams_now`` this month's chargeback per team (cents),
    ``previous_rows`` month_teams.sql rows. While the month is open the comparison is with the
    month before up to the same day (its exact money rounded to the cent).
    """
    per: dict[str, dict[str, dict[Any, tuple[int, Decimal]]]] = {}
    for r in items:
        key = (r["provider"], r["model"], r["token_type"])
        slot = per.setdefault(r["team"], {"current": {}, "previous": {}})[r["period"]]
        t, b = slot.get(key, (0, ZERO))
        slot[key] = (t + int(r["tokens"] or 0), b + r["billed"])
    prev = {r["team"]: r for r in previous_rows}
    out = {}
    for team in sorted(set(teams_now) | set(prev) | set(per)):
        now = teams_now.get(team, ZERO)
        before = prev[team]["billed"] if team in prev else ZERO
        to_date = cents(prev[team]["billed_to_date"]) if team in prev else ZERO
        change = now - (to_date if open_month else before)
        sides = per.get(team, {"current": {}, "previous": {}})
        exact = decompose(sides["current"], sides["previous"])
        out[team] = MonthChange(billed=now, previous=before, previous_to_date=to_date if open_month else None,
                                change=change, parts=round_parts(exact, change))
    return out


def total_change(changes: list[MonthChange], *, open_month: bool) -> MonthChange:
    """The organisation's change: the sum of the teams' (so its parts add up the same way)."""
    def s(get: Any) -> Decimal:
        return sum((get(c) for c in changes), ZERO)
    return MonthChange(
        billed=s(lambda c: c.billed), previous=s(lambda c: c.previous),
        previous_to_date=s(lambda c: c.previous_to_date or ZERO) if open_month else None,
        change=s(lambda c: c.change), parts={p: s(lambda c, p=p: c.parts[p]) for p in PARTS})


# ----------------------------------------------------------------------------- unit costs

@dataclass
class UnitCost:
    """Billed money and the work it paid for: requests and output tokens."""

    billed: Decimal = ZERO
    requests: int = 0
    output_tokens: int = 0
    label: str = ""  # a feature's name, or a week's days ("1–7")
    window_start: date | None = None
    window_end: date | None = None

    @property
    def per_1k_requests(self) -> Decimal | None:
        """Billed per 1,000 requests; None without requests."""
        return self.billed * 1000 / self.requests if self.requests else None

    @property
    def per_1m_output_tokens(self) -> Decimal | None:
        """Billed per 1,000,000 output tokens; None without output tokens."""
        return self.billed * 1_000_000 / self.output_tokens if self.output_tokens else None

    def add(self, billed: Decimal, requests: int, output_tokens: int) -> None:
        """Add a row's money and work."""
        self.billed += billed
        self.requests += requests
        self.output_tokens += output_tokens


def change_pct(now: Decimal | None, before: Decimal | None) -> Decimal | None:
    """(now − before) / before in percent, two decimals; None when either is missing or before is 0."""
    if now is None or not before:
        return None
    return ((now - before) / before * 100).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class UnitCosts:
    """A team's (or the organisation's) unit costs this month and the month before.

    ``weeks`` is the trend inside this month (days 1–7, 8–14, 15–21, 22–28, 29 to the end);
    ``features`` this month's unit costs per feature, each with its ``previous`` (or None).
    """

    current: UnitCost
    previous: UnitCost | None
    weeks: list[UnitCost]
    features: list[tuple[UnitCost, UnitCost | None]] = field(default_factory=list)


def _weeks(month_start: date, month_end: date) -> list[UnitCost]:
    out = []
    start = month_start
    while start < month_end:
        end = min(start + timedelta(days=7), month_end)
        last = (end - timedelta(days=1)).day
        out.append(UnitCost(label=f"{start.day}–{last}" if last != start.day else str(start.day),
                            window_start=start, window_end=end))
        start = end
    return out


def unit_costs(rows: list[dict[str, Any]], month_start: date, month_end: date, *, has_previous: bool
               ) -> tuple[dict[str, UnitCosts], UnitCosts]:
    """Per team and for the organisation, from unit_costs.sql rows (period · team · feature · week)."""
    acc: dict[str, dict[str, Any]] = {}
    org = {"current": UnitCost(), "previous": UnitCost(), "weeks": _weeks(month_start, month_end)}

    def team_acc(team: str) -> dict[str, Any]:
        if team not in acc:
            acc[team] = {"current": UnitCost(), "previous": UnitCost(), "weeks": _weeks(month_start, month_end),
                         "features": {}, "features_prev": {}}
        return acc[team]

    for r in rows:
        a = team_acc(r["team"])
        args = (r["billed"], int(r["requests"]), int(r["output_tokens"]))
        a[r["period"]].add(*args)
        org[r["period"]].add(*args)
        if r["period"] == "current":
            w = int(r["week"])
            if 0 <= w < len(a["weeks"]):
                a["weeks"][w].add(*args)
                org["weeks"][w].add(*args)
            a["features"].setdefault(r["feature"], UnitCost(label=r["feature"])).add(*args)
        else:
            a["features_prev"].setdefault(r["feature"], UnitCost(label=r["feature"])).add(*args)
    out = {}
    for team, a in acc.items():
        feats = sorted(a["features"].values(), key=lambda u: (-u.billed, u.label))
        out[team] = UnitCosts(
            current=a["current"], previous=a["previous"] if has_previous else None, weeks=a["weeks"],
            features=[(u, a["features_prev"].get(u.label) if has_previous else None) for u in feats])
    return out, UnitCosts(current=org["current"], previous=org["previous"] if has_previous else None,
                          weeks=org["weeks"])


# ----------------------------------------------------------------------------- cache return

@dataclass
class CacheReturn:
    """What prompt caching returned to a team (or the organisation) at contracted prices."""

    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    saved: Decimal = ZERO
    write_premium: Decimal = ZERO
    unpriced_cache_tokens: int = 0

    @property
    def hit_rate_pct(self) -> Decimal | None:
        """Cache-read tokens over all input tokens (uncached + cache read + cache write), percent, one decimal."""
        whole = self.input_tokens + self.cache_read_tokens + self.cache_write_tokens
        if not whole:
            return None
        return (Decimal(self.cache_read_tokens) * 100 / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    @property
    def net(self) -> Decimal:
        """Saved less the cache-write premium."""
        return self.saved - self.write_premium

    def add(self, other: CacheReturn) -> None:
        """Add another team's figures."""
        for f in ("input_tokens", "cache_read_tokens", "cache_write_tokens", "saved", "write_premium",
                  "unpriced_cache_tokens"):
            setattr(self, f, getattr(self, f) + getattr(other, f))


def cache_returns(rows: list[dict[str, Any]]
                  ) -> tuple[dict[str, CacheReturn], CacheReturn, dict[str, CacheReturn]]:
    """Per team, in total and per provider, from cache_return.sql rows (team · provider)."""
    teams: dict[str, CacheReturn] = {}
    providers: dict[str, CacheReturn] = {}
    total = CacheReturn()
    for r in rows:
        c = CacheReturn(int(r["input_tokens"]), int(r["cache_read_tokens"]), int(r["cache_write_tokens"]),
                        r["saved"], r["write_premium"], int(r["unpriced_cache_tokens"]))
        teams.setdefault(r["team"], CacheReturn()).add(c)
        providers.setdefault(r["provider"], CacheReturn()).add(c)
        total.add(c)
    return teams, total, providers


@dataclass
class CacheCheck:
    """A provider's cache figures from the spans beside the bill's own cache token lines."""

    provider: str
    span_cache_read_tokens: int
    span_cache_write_tokens: int
    span_saved: Decimal
    span_write_premium: Decimal
    billed_cache_read_tokens: int | None  # None: the bill gives no cache token lines
    billed_cache_write_tokens: int | None
    billed_saved: Decimal | None
    billed_write_premium: Decimal | None

    @property
    def span_net(self) -> Decimal:
        """Net return by the spans."""
        return self.span_saved - self.span_write_premium

    @property
    def billed_net(self) -> Decimal | None:
        """Net return by the bill's cache lines."""
        if self.billed_saved is None or self.billed_write_premium is None:
            return None
        return self.billed_saved - self.billed_write_premium

    @property
    def read_tokens_pct(self) -> Decimal | None:
        """Span cache-read tokens as a percent of the bill's, one decimal (100.0: they agree)."""
        if not self.billed_cache_read_tokens:
            return None
        return (Decimal(self.span_cache_read_tokens) * 100 / self.billed_cache_read_tokens).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP)


def cache_checks(spans: list[dict[str, Any]], bill: list[dict[str, Any]], money: dict[str, CacheReturn]
                 ) -> list[CacheCheck]:
    """Per provider: the spans' cache tokens and money beside the bill's cache lines.

    Span tokens come from cache_spans.sql, span money from ``money`` (:func:`cache_returns`), the
    bill's side from cache_bill.sql.

    A provider whose bill has no cache-read lines with token counts gets None on the bill's side;
    one that bills cache reads but no cache writes (OpenAI bills writes as input) has no write premium.
    """
    by_bill = {r["provider"]: r for r in bill}
    out = []
    for r in spans:
        p = r["provider"]
        if not (r["cache_read_tokens"] or r["cache_write_tokens"] or p in by_bill):
            continue
        b = by_bill.get(p)
        m = money.get(p, CacheReturn())
        has_read = bool(b and b["cache_read_tokens"])
        has_write = bool(b and b["cache_write_tokens"])
        out.append(CacheCheck(
            provider=p, span_cache_read_tokens=int(r["cache_read_tokens"]),
            span_cache_write_tokens=int(r["cache_write_tokens"]),
            span_saved=m.saved, span_write_premium=m.write_premium,
            billed_cache_read_tokens=int(b["cache_read_tokens"]) if b and has_read else None,
            billed_cache_write_tokens=int(b["cache_write_tokens"]) if b and has_write else None,
            billed_saved=(b["cache_read_at_input"] - b["cache_read_billed"]) if b and has_read else None,
            billed_write_premium=(b["cache_write_billed"] - b["cache_write_at_input"]) if b and has_write
            else (ZERO if has_read else None)))
    return out
