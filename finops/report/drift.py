"""The drift named to its causes: each part with its biggest source, and one sentence.

The parts are computed per line in ``sql/reconcile/40_lines.sql`` and add up to E − B. Here they
get words: what the part is, where most of it comes from (provider, account, model), so the
report and the gate can say, e.g.::

    -7.9 %: -6.1 pt billed spend with no spans (openai proj_x, gpt-4.1), -1.6 pt 2.0 % fewer
    spans than billed requests (openai)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

# In the order the README explains them. "unexplained" is the one part that names no cause.
PARTS = ("coverage", "volume", "premium", "rate", "unpriced", "unmatched", "non_token", "credit",
         "unexplained")
NAMED = tuple(p for p in PARTS if p != "unexplained")
TENTH = Decimal("0.1")
PREMIUM_WORDS = {"long_context": "long context", "cache_1h": "1-hour cache writes",
                 "priority": "priority tier", "fast": "fast mode"}
SENTENCE_SHARE = Decimal("0.95")  # name the biggest parts until they hold 95 % of the gap ...
SENTENCE_PARTS = 3  # ... or three of them


@dataclass
class DriftPart:
    """One part of E − B: its amount, in points of the billed total, and what it is."""

    part: str
    amount: Decimal
    pt: Decimal | None  # amount / billed × 100, one decimal; None when nothing is billed
    text: str
    sources: list[dict[str, Any]] = field(default_factory=list)


def _where(s: dict[str, Any]) -> str:
    account = s["account"] or "spans without account"
    return f"{s['provider']} {account}, {s['model']}"


def _sources(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    more = f"; +{len(rows) - 1} more" if len(rows) > 1 else ""
    return f" ({_where(rows[0])}{more})"


def _names(rows: list[dict[str, Any]], most: int = 2) -> str:
    """The distinct line items (in the model's place) of ``rows``, biggest first."""
    names = list(dict.fromkeys(r["model"] for r in rows))
    return ", ".join(names[:most]) + (f"; +{len(names) - most} more" if len(names) > most else "")


def _group(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Sum ``amount`` by ``keys``, biggest |amount| first."""
    acc: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in rows:
        k = tuple(r[x] for x in keys)
        if k not in acc:
            acc[k] = {**{x: r[x] for x in keys}, "amount": Decimal(0)}
        acc[k]["amount"] += r["amount"]
    return sorted((v for v in acc.values() if v["amount"]), key=lambda v: (-abs(v["amount"]), str(v)))


def _pct(part: Decimal, whole: Decimal) -> Decimal | None:
    return (part / whole * 100).quantize(TENTH, ROUND_HALF_UP) if whole else None


def _coverage_text(requests: list[dict[str, Any]]) -> str:
    """Span requests vs billed requests per provider.

    Where spans were weighted for sampling (requests estimated from fewer spans), the
    requests are named as estimates.
    """
    said = []
    for r in requests:
        seen, billed = int(r["span_requests"]), int(r["billed_requests"])
        spans = int(r.get("span_seen") or seen)
        if not billed or seen == billed:
            continue
        pct = _pct(Decimal(abs(seen - billed)), Decimal(billed))
        less = "fewer" if seen < billed else "more"
        if spans != seen:
            said.append(f"{pct} % {less} estimated requests than billed ({r['provider']}: "
                        f"{seen:,} of {billed:,}, weighted for sampling from {spans:,} spans)")
        else:
            said.append(f"{pct} % {less} spans than billed requests "
                        f"({r['provider']}: {seen:,} of {billed:,})")
    return "; ".join(said) or "spans seen vs requests billed"


def drift_parts(explanation: dict[str, Decimal], sources: list[dict[str, Any]],
                requests: list[dict[str, Any]], billed: Decimal) -> list[DriftPart]:
    """Every non-zero part of E − B with words, biggest first.

    ``sources`` are ``report/drift_sources`` rows, ``requests`` ``report/request_coverage`` rows.
    """
    by_part: dict[str, list[dict[str, Any]]] = {}
    for s in sources:
        by_part.setdefault(s["part"], []).append(s)
    counted = {r["provider"] for r in requests}
    out = []
    for part in PARTS:
        amount = explanation.get(part, Decimal(0))
        if not amount.quantize(Decimal("0.01")):  # less than half a cent: nothing to name
            continue
        rows = by_part.get(part, [])
        where = _group(rows, ("provider", "account", "model"))
        if part == "coverage":
            text = _coverage_text(requests)
        elif part == "volume":
            top = _group(rows, ("provider", "account", "model", "token_type"))
            text = "span vs billed tokens"
            if top:
                text += f" (mostly {top[0]['token_type']}, {_where(top[0])})"
            uncounted = sorted({r["provider"] for r in rows} - counted)
            if uncounted:  # without request counts, sampling cannot be told from token mix
                text += f", with sampling: {', '.join(uncounted)} bills no request count"
        elif part == "premium":
            kinds = sorted({k for r in rows for k in (r["premium_kinds"] or "").split(",") if k})
            words = [PREMIUM_WORDS.get(k, k.replace("geo:", "region ")) for k in kinds]
            text = f"{' and '.join(words) or 'premium'} billed above the table rate{_sources(where)}"
        elif part == "rate":
            text = f"billed rates differ from the price table{_sources(where)}"
        elif part == "unpriced":
            text = f"billed for models with no price{_sources(where)}"
        elif part == "unmatched":
            billed_only = _group([r for r in rows if r["status"] == "billed_only"],
                                 ("provider", "account", "model"))
            spans_only = _group([r for r in rows if r["status"] == "spans_only"],
                                ("provider", "account", "model"))
            b = sum((r["amount"] for r in billed_only), Decimal(0))
            s = sum((r["amount"] for r in spans_only), Decimal(0))
            texts = []
            if b:
                texts.append(f"billed spend with no spans{_sources(billed_only)}")
            if s:
                texts.append(f"spans with no bill{_sources(spans_only)}")
            if abs(s) > abs(b):
                texts.reverse()
            text = " and ".join(texts) or "unmatched"
        elif part == "non_token":
            text = f"charges that are not tokens ({_names(where)})"
        elif part == "credit":
            text = f"credits ({_names(where)})"
        else:
            text = f"billed token counts unknown{_sources(where)}"
        out.append(DriftPart(part, amount, _pct(amount, billed), text, where[:5]))
    out.sort(key=lambda p: -abs(p.amount))
    return out


def drift_sentence(drift_pct: Decimal | None, parts: list[DriftPart]) -> str:
    """The drift and its biggest parts in one sentence (at most three, until 95 % is named)."""
    if drift_pct is None:
        return "no billed money to compare the estimate with"
    head = f"{drift_pct:+.1f} %"
    total = sum((abs(p.amount) for p in parts), Decimal(0))
    if not total:
        return f"{head}: the estimate equals the bill"
    said, held = [], Decimal(0)
    for p in parts:
        if said and (held >= SENTENCE_SHARE * total or len(said) == SENTENCE_PARTS):
            break
        if said and p.pt is not None and abs(p.pt) < TENTH:
            break
        said.append(f"{p.pt:+.1f} pt {p.text}" if p.pt is not None else p.text)
        held += abs(p.amount)
    return f"{head}: " + ", ".join(said)


def named_share(estimated: Decimal, billed: Decimal, explanation: dict[str, Decimal]) -> Decimal | None:
    """The share of |E − B| that falls in named parts (all but ``unexplained``), in percent."""
    gap = abs(estimated - billed)
    if not gap:
        return None
    unexplained = abs(explanation.get("unexplained", Decimal(0)))
    return max(Decimal(0), (gap - unexplained) / gap * 100).quantize(TENTH, ROUND_HALF_UP)
