"""Anthropic billing: the cost report (money) and the messages usage report (tokens).

Kinds: ``anthropic`` (the Admin API) and ``anthropic_files`` (saved response pages).

Money comes only from ``/v1/organizations/cost_report`` grouped by ``workspace_id`` and
``description``: ``amount`` is a decimal string in cents. The usage report (grouped by
model, workspace, tier, context window and API key) fills ``billed_tokens`` and gives the
billed tokens per API key (``api_key_id`` null: Console and Workbench usage); key names come
from ``/v1/organizations/api_keys``. Priority Tier usage
never appears in the cost report; the pull says so in a note rather than inventing money.
The usage report counts no requests (``billed_requests`` stays NULL): request coverage is
OpenAI's only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import requests

from finops.billing.admin_api import AdminApi, Report, error_message
from finops.billing.keys import KeyListing, KeyTokens
from finops.billing.reader import Reader
from finops.billing.rows import Rows, credit_note, in_window
from finops.frames import BillingPull
from finops.schemas import DEFAULT_ACCOUNT, OTHER

PROVIDER = "anthropic"
DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_KEY_ENV = "ANTHROPIC_ADMIN_KEY"
API_VERSION = "2023-06-01"
USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_PATH = "/v1/organizations/cost_report"
KEYS_PATH = "/v1/organizations/api_keys"  # the organization's keys, 1..1000 per page
MAX_LIMIT = 31  # 1d buckets per page, both reports

# The cost report's token_type -> canonical token type.
TOKEN_TYPES = {
    "uncached_input_tokens": "input",
    "cache_read_input_tokens": "cache_read",
    "cache_creation.ephemeral_5m_input_tokens": "cache_write",
    "cache_creation.ephemeral_1h_input_tokens": "cache_write_1h",
    "output_tokens": "output",
}
CENTS = Decimal(100)


@dataclass(frozen=True, slots=True)
class CostRow:
    """One cost report result: money (USD, 6 dp) for a day, workspace and description."""

    day: date
    account: str
    model: str
    service_tier: str
    context_window: str | None
    token_type: str
    raw_token_type: str | None
    line_item: str
    amount: Decimal
    currency: str
    premium: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One usage report result: disjoint token counts per canonical token type."""

    day: date
    account: str
    model: str
    service_tier: str
    context_window: str | None
    tokens: dict[str, int]
    api_key: str | None = None  # api_key_id (None: Console/Workbench usage, or not grouped)


def _dimensions(r: Reader, res: dict[str, Any], p: str) -> dict[str, Any]:
    """What a cost row and a usage row share: workspace, model, tier and context window."""
    return {
        "account": r.get(res, "workspace_id", p, "string", required=False) or DEFAULT_ACCOUNT,
        "model": r.get(res, "model", p, "string", required=False) or "",
        "service_tier": r.tier(r.get(res, "service_tier", p, "string", required=False), f"{p}.service_tier"),
        "context_window": r.get(res, "context_window", p, "string", required=False),
    }


BASE_CONTEXT = "0-200k"
BASE_GEOS = ("global", "not_available")


def _premium(description: str | None, context_window: str | None, geo: str | None,
             speed: str | None, tier: str) -> tuple[tuple[str, ...], str]:
    """The surcharges a cost row's own fields name, and a suffix that keeps its line item apart.

    A long context window (``200k-1M``), a regional ``inference_geo`` (``us``), ``speed``
    ``fast`` and the priority tier are priced above the base rate the price table holds. The
    description does not always say so, so where it does not, the line item gains
    ``, context 200k-1M`` / ``, geo us`` / ``, fast`` (never summed with the base row of the same
    description).
    """
    kinds, label, said = [], "", (description or "").lower()
    if context_window and context_window != BASE_CONTEXT:
        kinds.append("long_context")
        label += "" if "long context" in said else f", context {context_window}"
    if geo and geo not in BASE_GEOS:
        kinds.append(f"geo:{geo}")
        label += "" if "geo" in said else f", geo {geo}"
    if speed and speed != "standard":
        kinds.append(speed)
        label += "" if speed in said else f", {speed}"
    if tier == "priority":
        kinds.append("priority")
    return tuple(kinds), label


def parse_cost_page(page: Any, where: str, base: str = "") -> list[CostRow]:
    """Parse one decoded ``cost_report`` page into rows.

    ``amount`` is a decimal string in cents: ``Decimal(amount) / 100``, then quantised
    half-even to 6 dp, because the warehouse holds DECIMAL(18, 6) and fractional cents
    occur (``"123.78912"`` → 1.2378912 → 1.237891; the error is below a millionth of a
    dollar per row). ``token_type`` maps to the canonical type; null (web search, code
    execution) is ``other``. A null ``workspace_id`` is the ``default`` workspace. A row priced
    above the base rate by its own fields (``context_window``, ``inference_geo``, ``speed``,
    the priority tier) carries those kinds in ``premium`` (:func:`_premium`).
    """
    r = Reader(where)
    rows = []
    for day, p, res in r.results(page, base, "starting_at"):
        cents = r.decimal(r.get(res, "amount", p, "string"), f"{p}.amount")
        currency = r.currency(r.get(res, "currency", p, "string"), f"{p}.currency")
        raw_tt = r.get(res, "token_type", p, "string", required=False)
        description = r.get(res, "description", p, "string", required=False)
        cost_type = r.get(res, "cost_type", p, "string", required=False)
        dims = _dimensions(r, res, p)
        geo = r.get(res, "inference_geo", p, "string", required=False)
        speed = r.get(res, "speed", p, "string", required=False)
        premium, label = _premium(description, dims["context_window"], geo, speed, dims["service_tier"])
        rows.append(CostRow(
            day=day,
            **dims,
            token_type=TOKEN_TYPES.get(raw_tt, OTHER) if raw_tt else OTHER,
            raw_token_type=raw_tt,
            line_item=(description or cost_type or "") + label,
            amount=r.money(cents / CENTS, f"{p}.amount"),
            currency=currency, premium=premium))
    return rows


def parse_usage_page(page: Any, where: str, base: str = "") -> list[UsageRow]:
    """Parse one decoded ``usage_report/messages`` page into disjoint token counts.

    ``uncached_input_tokens`` → input, ``cache_read_input_tokens`` → cache_read,
    ``cache_creation.ephemeral_5m_input_tokens`` → cache_write,
    ``cache_creation.ephemeral_1h_input_tokens`` → cache_write_1h, ``output_tokens`` → output.
    """
    r = Reader(where)
    rows = []
    for day, p, res in r.results(page, base, "starting_at"):
        cc = r.get(res, "cache_creation", p, "object")
        tokens = {
            "input": r.get(res, "uncached_input_tokens", p, "count"),
            "cache_read": r.get(res, "cache_read_input_tokens", p, "count"),
            "cache_write": r.get(cc, "ephemeral_5m_input_tokens", f"{p}.cache_creation",
                                 "count"),
            "cache_write_1h": r.get(cc, "ephemeral_1h_input_tokens",
                                    f"{p}.cache_creation", "count"),
            "output": r.get(res, "output_tokens", p, "count"),
        }
        rows.append(UsageRow(
            day=day,
            **_dimensions(r, res, p),
            tokens=tokens,
            api_key=r.get(res, "api_key_id", p, "string", required=False)))
    return rows


def assemble(costs: Iterable[CostRow], usage: Iterable[UsageRow], source: str,
             window_start: date, window_end: date) -> BillingPull:
    """Build the billing frame from cost rows, with billed tokens from usage rows.

    Rows outside ``[window_start, window_end)`` are dropped. A token cost row takes the
    usage tokens of the same day · workspace · model · tier · token type, and context
    window when the cost row names one (else summed over windows). Several cost rows of
    one key get the tokens on the first (by description) and ``None`` on the others.
    Priority Tier usage, absent from the cost report, is reported in ``notes``. ``key_tokens``
    holds the usage per API key (context windows summed).
    """
    costs = [c for c in costs if in_window(c.day, window_start, window_end)]
    usage = [u for u in usage if in_window(u.day, window_start, window_end)]
    by_cw: dict[tuple[Any, ...], int] = defaultdict(int)
    by_cell: dict[tuple[Any, ...], int] = defaultdict(int)
    for u in usage:
        for tt, n in u.tokens.items():
            by_cw[(u.day, u.account, u.model, u.service_tier, tt, u.context_window)] += n
            by_cell[(u.day, u.account, u.model, u.service_tier, tt)] += n

    groups: dict[tuple[Any, ...], list[CostRow]] = defaultdict(list)
    for c in costs:
        if c.token_type != OTHER:
            groups[(c.day, c.account, c.model, c.service_tier, c.token_type, c.context_window)]\
                .append(c)
    billed: dict[int, int | None] = {}
    covered: set[tuple[Any, ...]] = set()
    for key, rows in groups.items():
        cell = key[:5]
        if key[5] is not None:
            found = by_cw.get(key)
        else:
            found = by_cell.get(cell)
        if found is not None:
            covered.add(cell)
        rows.sort(key=lambda c: c.line_item)
        for i, c in enumerate(rows):
            billed[id(c)] = found if i == 0 else None

    out = Rows(PROVIDER, source)
    odd_types: set[str] = set()
    for c in costs:
        if c.raw_token_type and c.raw_token_type not in TOKEN_TYPES:
            odd_types.add(c.raw_token_type)
        out.add(c.day, c.account, c.model, c.service_tier, c.token_type, c.line_item,
                c.amount, c.currency, billed.get(id(c)), source, premium=c.premium)

    keys = KeyTokens()
    for u in usage:
        for tt, n in u.tokens.items():
            keys.add(u.day, u.account, u.model, u.service_tier, tt, u.api_key, n)

    notes = [n for n in (credit_note(source, costs), keys.note(source, len(usage))) if n is not None]
    priority = sum(n for u in usage if u.service_tier == "priority" for n in u.tokens.values())
    if priority:
        notes.append(f"{source}: Anthropic Priority Tier usage ({priority} tokens) is not in "
                     "the cost report; it is billed separately")
    if odd_types:
        notes.append(f"{source}: unknown cost report token_type(s) kept as '{OTHER}': "
                     + ", ".join(sorted(odd_types)))
    orphans = [k for k, n in by_cell.items() if n and k not in covered and k[3] != "priority"]
    if orphans:
        notes.append(f"{source}: {len(orphans)} usage key(s) (day·workspace·model·tier·token "
                     "type) have no cost report row; their tokens carry no money")
    stats = {"cost_rows": len(costs), "usage_rows": len(usage), "rows": len(out),
             "priority_tokens": priority}
    where = f"{source} {window_start}..{window_end}"
    return BillingPull(out.frame(where), [PROVIDER], notes, stats,
                       key_tokens=keys.frame(PROVIDER, source, where))


# --------------------------------------------------------------------------- pull

def _retry(resp: requests.Response) -> bool:
    # A spend-cap 429 has no retry-after and keeps failing until access resumes.
    return not (resp.status_code == 429 and not resp.headers.get("retry-after"))


def explain(key_env: str) -> Callable[[requests.Response], str | None]:
    """Turn an Anthropic error response into one sentence."""

    def _explain(resp: requests.Response) -> str | None:
        msg = error_message(resp)
        if resp.status_code == 429 and not resp.headers.get("retry-after"):
            return ("HTTP 429 with no retry-after: the organization's spend cap is reached "
                    "(not retried; it keeps failing until access resumes)"
                    + (f" ({msg})" if msg else ""))
        if resp.status_code in (401, 403):
            return (f"an Admin API key is required (sk-ant-admin…), not an API key; "
                    f"check {key_env}" + (f" ({msg})" if msg else ""))
        if resp.status_code == 400:
            return f"bad request: {msg or 'no message'}"
        return msg or None

    return _explain


def _rfc3339(d: date) -> str:
    return f"{d.isoformat()}T00:00:00Z"


def _window(start: date, end: date) -> dict[str, str]:
    # "Time buckets that end before ending_at": ask one day past the window so the last
    # day's bucket (which ends exactly at window_end) cannot be dropped by a strict reading;
    # rows outside the window are filtered by assemble().
    return {"starting_at": _rfc3339(start), "ending_at": _rfc3339(end + timedelta(days=1)), "bucket_width": "1d"}


API = AdminApi(
    provider=PROVIDER, base_url=DEFAULT_BASE_URL, key_env=DEFAULT_KEY_ENV,
    headers=lambda key: {"x-api-key": key, "anthropic-version": API_VERSION}, explain=explain,
    reports=(
        Report("cost_report", COST_PATH, {"group_by[]": ["workspace_id", "description"]}, parse_cost_page,
               option="costs", max_limit=MAX_LIMIT),
        Report("usage_report", USAGE_PATH,
               {"group_by[]": ["model", "workspace_id", "service_tier", "context_window", "api_key_id"]},
               parse_usage_page, option="usage", max_limit=MAX_LIMIT),
    ),
    keys=KeyListing(KEYS_PATH, cursor="after_id", hint_field="partial_key_hint", account_field="workspace_id"),
    window_params=_window, assemble=assemble, should_retry=_retry,
)
KINDS = API.kinds
# Billing rows for a window from the Admin API (``anthropic``) or saved pages (``anthropic_files``).
pull = API.pull
client = API.client
validate = API.validate
check = API.check
