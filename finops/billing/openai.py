"""OpenAI billing: the Costs API (money) and the Usage API (billed token counts).

Kinds: ``openai`` (the Admin API) and ``openai_files`` (saved response pages).

Money comes only from ``/v1/organization/costs`` grouped by ``project_id`` and
``line_item``: OpenAI documents Costs as the source that reconciles to the invoice.
``/v1/organization/usage/completions`` (grouped by model, project, batch, tier and API key)
only fills ``billed_tokens`` of the matching costs rows and gives the billed tokens per API
key (the costs endpoint refuses ``group_by=api_key_id``); usage with no costs row makes no
money. Key names come from ``/v1/organization/projects/{project_id}/api_keys``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import requests

from finops.billing.admin_api import AdminApi, Report, error_message
from finops.billing.keys import KeyListing, KeyTokens
from finops.billing.lineitems import LineItem, parse_line_item, quantity_tokens
from finops.billing.reader import Reader
from finops.billing.rows import Rows, credit_note, in_window
from finops.frames import BillingPull
from finops.schemas import DEFAULT_ACCOUNT, OTHER

PROVIDER = "openai"
DEFAULT_BASE_URL = "https://api.openai.com"
DEFAULT_KEY_ENV = "OPENAI_ADMIN_KEY"
COSTS_PATH = "/v1/organization/costs"
USAGE_PATH = "/v1/organization/usage/completions"
KEYS_PATH = "/v1/organization/projects/{account}/api_keys"  # keys of one project, 1..100 per page
COSTS_MAX_LIMIT = 180  # buckets per page, per the spec
USAGE_MAX_LIMIT = 31  # 1d buckets per page


@dataclass(frozen=True, slots=True)
class CostRow:
    """One costs result: money for a day, project and line item."""

    day: date
    account: str
    line_item: str
    item: LineItem
    amount: Decimal
    currency: str
    quantity_tokens: int | None


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One usage result: disjoint billed token counts per token type."""

    day: date
    account: str
    model: str
    service_tier: str
    tokens: dict[str, int]
    requests: int | None = None  # num_model_requests
    api_key: str | None = None  # api_key_id (None: the row names no key)


def parse_costs_page(page: Any, where: str, base: str = "") -> list[CostRow]:
    """Parse one decoded ``/organization/costs`` page (2025 or 2026 shape) into rows.

    ``amount.value`` (float dollars) becomes ``Decimal(str(value))`` at 6 dp; currency is
    upper-cased and must be known; ``project_id`` null is the ``default`` account.
    ``where`` names the source and window or file for errors; ``base`` prefixes JSON paths.
    """
    r = Reader(where)
    rows = []
    for day, p, res in r.results(page, base, "start_time"):
        amount = r.get(res, "amount", p, "object")
        value = r.get(amount, "value", f"{p}.amount", "number")
        currency = r.currency(r.get(amount, "currency", f"{p}.amount", "string"),
                              f"{p}.amount.currency")
        line_item = r.get(res, "line_item", p, "string", required=False) or ""
        project = r.get(res, "project_id", p, "string", required=False)
        qty = r.get(res, "quantity", p, "number", required=False)
        unit = r.get(res, "quantity_unit", p, "string", required=False)
        if qty is not None and qty < 0:
            raise r.fail(f"{p}.quantity", f"is negative ({qty})")
        quantity = Decimal(str(qty)) if qty is not None else None
        rows.append(CostRow(
            day=day, account=project or DEFAULT_ACCOUNT, line_item=line_item,
            item=parse_line_item(line_item),
            amount=r.money(Decimal(str(value)), f"{p}.amount.value"),
            currency=currency, quantity_tokens=quantity_tokens(quantity, unit)))
    return rows


def parse_usage_page(page: Any, where: str, base: str = "") -> list[UsageRow]:
    """Parse one decoded ``/organization/usage/completions`` page into disjoint token counts.

    ``input`` is ``input_uncached_tokens`` when present, else ``input_tokens`` minus cached
    and cache-write tokens (OpenAI's ``input_tokens`` includes both); ``cache_read`` is
    ``input_cached_tokens``, ``cache_write`` ``input_cache_write_tokens``. The tier is
    ``batch`` for batch rows, else the canonical ``service_tier`` (``default`` → standard).
    ``num_model_requests`` is kept: coverage compares it with the spans seen; ``api_key_id``
    too (null when the row names no key).
    """
    r = Reader(where)
    rows = []
    for day, p, res in r.results(page, base, "start_time"):
        total_in = r.get(res, "input_tokens", p, "count")
        output = r.get(res, "output_tokens", p, "count")
        cached = r.get(res, "input_cached_tokens", p, "count", required=False) or 0
        writes = r.get(res, "input_cache_write_tokens", p, "count", required=False) or 0
        uncached = r.get(res, "input_uncached_tokens", p, "count", required=False)
        if uncached is None:
            uncached = total_in - cached - writes
            if uncached < 0:
                raise r.fail(f"{p}.input_cached_tokens",
                             f"plus cache writes ({cached + writes}) exceed "
                             f"input_tokens ({total_in})")
        batch = r.get(res, "batch", p, "boolean", required=False)
        tier = r.tier(r.get(res, "service_tier", p, "string", required=False),
                      f"{p}.service_tier", batch)
        rows.append(UsageRow(
            day=day,
            account=r.get(res, "project_id", p, "string", required=False) or DEFAULT_ACCOUNT,
            model=r.get(res, "model", p, "string", required=False) or "",
            service_tier=tier,
            tokens={"input": uncached, "cache_read": cached, "cache_write": writes,
                    "output": output},
            requests=r.get(res, "num_model_requests", p, "count", required=False),
            api_key=r.get(res, "api_key_id", p, "string", required=False)))
    return rows


_TYPE_ORDER = ("input", "output", "cache_read", "cache_write")


def _premium(item: LineItem) -> list[str]:
    """Surcharges a line item names: ``, long context`` and the priority tier."""
    return (["long_context"] if item.long_context else []) + \
        (["priority"] if item.matched and item.service_tier == "priority" else [])


def _family_match(alias: str, snapshot: str) -> bool:
    """``gpt-4.1`` (a priority line item's alias) names ``gpt-4.1-2025-04-14``."""
    if not snapshot.startswith(alias + "-"):
        return False
    rest = snapshot[len(alias) + 1:]
    return len(rest) == 10 and rest[4] == "-" and rest[7] == "-" \
        and rest.replace("-", "").isdigit()


def assemble(costs: Iterable[CostRow], usage: Iterable[UsageRow], source: str,
             window_start: date, window_end: date) -> BillingPull:
    """Build the billing frame from costs rows, with billed tokens from usage rows.

    Rows outside ``[window_start, window_end)`` are dropped. A costs row's ``quantity``
    (2026) wins; otherwise the usage tokens of the same day · project · model · token type
    · tier. Several line items of one key (``, long context``) get the tokens on the first
    (by line item text) and ``None`` on the others, so the key's sum stays right. A priority
    line item names a model alias (``gpt-4.1``); its tokens come from the alias's dated
    snapshots that no other costs row of the day claims. Unmatched line items are kept as
    ``other`` and named in ``notes``. A usage key's ``num_model_requests`` becomes the
    ``billed_requests`` of one costs row that took its tokens (its input row when there is one);
    ``premium`` names long-context and priority line items. ``key_tokens`` holds the usage per
    API key under the model of the costs row that took it (a priority alias for its snapshots).
    """
    costs = [c for c in costs if in_window(c.day, window_start, window_end)]
    usage = [u for u in usage if in_window(u.day, window_start, window_end)]
    tokens: dict[tuple[Any, ...], int] = defaultdict(int)
    for u in usage:
        for tt, n in u.tokens.items():
            tokens[(u.day, u.account, u.model, tt, u.service_tier)] += n

    groups: dict[tuple[Any, ...], list[CostRow]] = defaultdict(list)
    for c in costs:
        if c.item.matched:
            groups[(c.day, c.account, c.item.model, c.item.token_type, c.item.service_tier)]\
                .append(c)
    claimed = {k for k in groups if k in tokens}
    billed: dict[int, int | None] = {}
    # the usage keys (day · project · model · tier) each costs group drew its tokens from
    drew: dict[tuple[Any, ...], list[CostRow]] = defaultdict(list)
    billed_as: dict[tuple[Any, ...], str] = {}  # a usage key's model as the costs row names it
    shared = 0
    for key, rows in groups.items():
        rows.sort(key=lambda c: c.line_item)
        day, acc, model, tt, tier = key
        if key in tokens:
            found: int | None = tokens[key]
            drew[(day, acc, model, tier)].append(rows[0])
        else:
            fam = [k for k in tokens if k[0] == day and k[1] == acc and k[3] == tt
                   and k[4] == tier and k not in claimed and _family_match(model, k[2])]
            claimed.update(fam)
            found = sum(tokens[k] for k in fam) if fam else None
            for k in fam:
                drew[(day, acc, k[2], tier)].append(rows[0])
                billed_as[k] = model
        shared += len(rows) > 1 and found is not None
        for i, c in enumerate(rows):
            billed[id(c)] = found if i == 0 else None
    # A usage key's request count goes on one costs row that drew from it (its input row
    # when there is one), so Σ billed_requests over the rows counts each request once.
    requests: dict[int, int] = defaultdict(int)
    for u in usage:
        owners = drew.get((u.day, u.account, u.model, u.service_tier))
        if u.requests is not None and owners:
            owner = min(owners, key=lambda c: (_TYPE_ORDER.index(c.item.token_type), c.line_item))
            requests[id(owner)] += u.requests

    out = Rows(PROVIDER, source)
    unmatched: dict[str, Decimal] = defaultdict(Decimal)
    for c in costs:
        bt = c.quantity_tokens if c.quantity_tokens is not None else billed.get(id(c))
        if not c.item.matched:
            unmatched[c.line_item] += c.amount
            bt = c.quantity_tokens
        out.add(c.day, c.account, c.item.model, c.item.service_tier, c.item.token_type,
                c.line_item, c.amount, c.currency, bt, source, requests=requests.get(id(c)),
                premium=_premium(c.item))

    keys = KeyTokens()
    for u in usage:
        for tt, n in u.tokens.items():
            k = (u.day, u.account, u.model, tt, u.service_tier)
            keys.add(u.day, u.account, billed_as.get(k, u.model), u.service_tier, tt, u.api_key, n)

    notes = [n for n in (credit_note(source, costs), keys.note(source, len(usage))) if n is not None]
    if unmatched:
        shown = ", ".join(f"{k or '(no line_item)'!r} ({v:.2f})" for k, v in
                          sorted(unmatched.items(), key=lambda kv: -kv[1]))
        notes.append(f"{source}: {len(unmatched)} OpenAI line item(s) not read as model tokens, "
                     f"kept as '{OTHER}': {shown}")
    if shared:
        notes.append(f"{source}: {shared} cell(s) have several line items (long context); "
                     "usage tokens are attached to the first line item of each")
    orphans = [k for k, n in tokens.items() if n and k not in claimed]
    if orphans:
        notes.append(f"{source}: {len(orphans)} usage key(s) (day·project·model·token type·"
                     "tier) have no costs row; their tokens carry no money")
    stats = {"cost_rows": len(costs), "usage_rows": len(usage), "rows": len(out),
             "unmatched_line_items": len(unmatched)}
    where = f"{source} {window_start}..{window_end}"
    return BillingPull(out.frame(where), [PROVIDER], notes, stats,
                       key_tokens=keys.frame(PROVIDER, source, where))


# --------------------------------------------------------------------------- pull

def _unix(d: date) -> int:
    return int(datetime.combine(d, time(), UTC).timestamp())


def explain(key_env: str) -> Callable[[requests.Response], str | None]:
    """Turn an OpenAI error response into one sentence (401/403: wrong key type)."""

    def _explain(resp: requests.Response) -> str | None:
        msg = error_message(resp)
        if resp.status_code in (401, 403):
            return (f"an Admin API key is required (sk-admin-…), not a project/API key; "
                    f"check {key_env}" + (f" ({msg})" if msg else ""))
        if resp.status_code == 400:
            return f"bad request: {msg or 'no message'}"
        if resp.status_code == 429:
            return f"rate limited or quota exhausted: {msg or 'no message'}"
        return msg or None

    return _explain


API = AdminApi(
    provider=PROVIDER, base_url=DEFAULT_BASE_URL, key_env=DEFAULT_KEY_ENV,
    headers=lambda key: {"Authorization": f"Bearer {key}"}, explain=explain,
    reports=(
        Report("costs", COSTS_PATH, {"group_by[]": ["project_id", "line_item"]}, parse_costs_page,
               option="costs", max_limit=COSTS_MAX_LIMIT),
        Report("usage", USAGE_PATH,
               {"group_by[]": ["model", "project_id", "batch", "service_tier", "api_key_id"]},
               parse_usage_page, option="usage", max_limit=USAGE_MAX_LIMIT),
    ),
    keys=KeyListing(KEYS_PATH, cursor="after", hint_field="redacted_value"),
    window_params=lambda start, end: {"start_time": _unix(start), "end_time": _unix(end), "bucket_width": "1d"},
    assemble=assemble,
)
KINDS = API.kinds
# Billing rows for a window from the Admin API (``openai``) or saved pages (``openai_files``).
pull = API.pull
client = API.client
validate = API.validate
check = API.check
