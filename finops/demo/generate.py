"""A realistic, seeded month of LLM traffic, with the providers' billing for it.

OTLP span files plus billing responses for the same traffic, in the exact shapes of the
OpenAI and Anthropic admin APIs.

What the month contains, on purpose: a dozen teams and ~30 projects on both providers,
cached tokens (reads and 5-minute / 1-hour writes), a batch job, a service without
``team.id``, a fine-tuned model missing from the price table, ~2 % of spans lost to
sampling (OpenAI bills request counts, so that part is named coverage), services whose spans
carry no account attribute (their projects / workspaces are matched without account, one of
them partly: proj_search names itself on gpt-4o spans only), an OpenAI project with no spans
owned by a team (allocation rule), an Anthropic workspace with no spans and no owner
(unattributed, with the rule that would fix it), long-context requests billed at Anthropic's
long-context rates (a premium), a non-token charge (web search calls), a credit, usage per API
key with the keys' listings (Console usage with no key on Anthropic's default workspace), and an
agent span (``invoke_agent``)
over two of the support bot's model calls on the first day, carrying their totals as agent
frameworks do: counted, it would bill those calls twice.
Billing is computed from the *full* traffic at list prices, so the only drift is the one
the report explains.
"""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from finops.demo.otlp_encode import SPAN_KIND_CLIENT, SpanSpec, encode_request, write_jsonl
from finops.warehouse.prices import load_prices
from finops.windows import Window

SAMPLING_LOSS = 0.02


@dataclass(frozen=True)
class Service:
    """One instrumented service: who owns it and what it calls."""

    name: str
    team: str | None  # None: the service sets no team.id
    provider: str
    model: str
    projects: tuple[str, ...]
    features: tuple[str, ...]
    per_day: int  # mean requests per weekday
    input_mean: int
    output_mean: int
    convention: str = "genai"  # genai | genai_old | openinference
    cache_read_share: float = 0.0  # fraction of input served from cache
    cache_write_share: float = 0.0
    cache_1h_share: float = 0.0  # of cache writes, the share billed as 1-hour writes
    tier: str = "standard"
    account: str | None = None  # provider project / workspace; None = default
    account_attr: bool = True  # spans carry the account attribute (most instrumentation does not)


SERVICES: tuple[Service, ...] = (
    Service("search-api", "search", "openai", "gpt-4o-2024-08-06", ("web-search", "site-search"),
            ("query-rewrite", "answer"), 260, 2400, 350, cache_read_share=0.35, account="proj_search"),
    Service("search-ranker", "search", "openai", "gpt-4o-mini-2024-07-18", ("web-search",),
            ("rerank",), 420, 1800, 60, "openinference", account="proj_search", account_attr=False),
    Service("checkout-assist", "checkout", "openai", "gpt-4.1-2025-04-14", ("cart", "payments"),
            ("address-fix", "fraud-hint"), 120, 1500, 220, account="proj_checkout"),
    Service("support-bot", "support", "anthropic", "claude-sonnet-4-5-20250929",
            ("helpdesk", "chat-widget", "email-triage"), ("reply", "summarise", "classify"), 300,
            5200, 480, cache_read_share=0.55, cache_write_share=0.12, cache_1h_share=0.25,
            account="wrkspc_support"),
    Service("growth-copy", "growth", "anthropic", "claude-haiku-4-5-20251001", ("landing", "ads"),
            ("headline", "variant"), 150, 900, 300, "genai_old", account="wrkspc_growth",
            account_attr=False),
    Service("ds-notebooks", "data-science", "openai", "o4-mini-2025-04-16", ("experiments",),
            ("analysis",), 40, 3500, 2600, account="proj_ds"),
    Service("ds-batch-labels", "data-science", "openai", "gpt-4o-mini-2024-07-18", ("labelling",),
            ("nightly-batch",), 900, 700, 40, tier="batch", account="proj_ds"),
    Service("platform-gateway", "platform", "openai", "gpt-4o-mini-2024-07-18",
            ("gateway", "internal-tools"), ("smoke-test", "tooling"), 80, 400, 80),
    Service("mobile-assistant", "mobile", "openai", "gpt-4o-2024-08-06", ("ios", "android"),
            ("assistant",), 140, 1600, 260, cache_read_share=0.2, account="proj_mobile"),
    Service("risk-review", "risk", "anthropic", "claude-opus-4-1-20250805", ("kyc", "disputes"),
            ("review",), 25, 7000, 900, cache_read_share=0.3, cache_write_share=0.08,
            account="wrkspc_risk"),
    Service("marketing-ft", "marketing", "openai", "ft:gpt-4o-mini-2024-07-18:acme::mk7q2",
            ("brand-voice", "newsletter"), ("draft",), 110, 800, 420, account="proj_marketing"),
    Service("legal-ai", "legal", "anthropic", "claude-sonnet-4-5-20250929", ("contracts", "policy"),
            ("clause-extract", "redline"), 35, 9000, 700, "openinference", cache_read_share=0.4,
            cache_write_share=0.1, account="wrkspc_legal"),
    Service("legal-longdocs", "legal", "anthropic", "claude-sonnet-4-5-20250929", ("contracts",),
            ("due-diligence",), 1, 50_000, 1500, account="wrkspc_legal"),
    Service("recsys-explain", "recsys", "openai", "gpt-4.1-2025-04-14", ("home-feed", "email-recs"),
            ("explain",), 160, 1200, 140, account="proj_recsys"),
    Service("docs-helper", "docs", "anthropic", "claude-haiku-4-5-20251001", ("docs-site", "api-ref"),
            ("ask-docs",), 210, 2600, 260, cache_read_share=0.45, cache_write_share=0.05),
    Service("legacy-summarizer", None, "openai", "gpt-4o-mini-2024-07-18", ("legacy",),
            ("summarise",), 130, 1400, 180),
)
# Billed accounts with no spans at all: (provider, account, model, mean USD per day).
UNSPANNED = (("openai", "proj_sandbox", "gpt-4.1-2025-04-14", 2.0),
             ("anthropic", "wrkspc_eval", "claude-opus-4-1-20250805", 1.0))
# API keys per billed account: (id, name, weight). The usage reports are grouped by api_key_id:
# each account's tokens and requests are split over its keys by these fixed weights (no random
# draw, so every billed figure stays as it was), and the key listings name them. Anthropic's
# default workspace also has Console usage, which the provider attributes to no key (weight
# under None).
API_KEYS: dict[tuple[str, str], tuple[tuple[str | None, str, int], ...]] = {
    ("openai", "proj_search"): (("key_s3arch01", "search-api prod", 6), ("key_s3arch02", "search-ranker", 3),
                                ("key_s3arch03", "search staging", 1)),
    ("openai", "proj_checkout"): (("key_ch3ck01", "checkout-assist", 1),),
    ("openai", "proj_ds"): (("key_dsnb0001", "ds notebooks (shared)", 2), ("key_dsbatch1", "nightly labelling", 5),
                            ("key_dsnb0002", "ana's notebook", 1)),
    ("openai", "default"): (("key_gatew4y1", "platform gateway", 3), ("key_l3gacy01", "legacy summarizer", 2)),
    ("openai", "proj_mobile"): (("key_mob1le01", "mobile ios", 3), ("key_mob1le02", "mobile android", 2)),
    ("openai", "proj_marketing"): (("key_mkt00001", "brand voice", 1),),
    ("openai", "proj_recsys"): (("key_r3csys01", "recsys explain", 1),),
    ("openai", "proj_sandbox"): (("key_sandb0x1", "sandbox: dev laptops", 3), ("key_sandb0x2", "sandbox: hackathon", 1)),
    ("anthropic", "wrkspc_support"): (("apikey_01SupportBotProd", "support-bot prod", 8),
                                      ("apikey_01SupportBotEval", "support-bot evals", 1)),
    ("anthropic", "wrkspc_growth"): (("apikey_01GrowthCopy", "growth copy", 1),),
    ("anthropic", "wrkspc_risk"): (("apikey_01RiskReview", "risk review", 1),),
    ("anthropic", "wrkspc_legal"): (("apikey_01LegalAi", "legal-ai", 4), ("apikey_01LegalLongdocs", "legal long docs", 1)),
    ("anthropic", "wrkspc_eval"): (("apikey_01EvalHarness", "eval harness", 1),),
    ("anthropic", "default"): (("apikey_01DocsHelper", "docs helper", 9), (None, "Console / Workbench", 1)),
}

# Anthropic bills requests above 200k input tokens at its long-context rates (input and cache
# × 2, output × 1.5 on Sonnet), as cost rows with context_window "200k-1M".
LONG_CONTEXT_TOKENS = 200_000
LONG_CONTEXT_RATE = {"input": Decimal(2), "cache_read": Decimal(2), "cache_write": Decimal(2),
                     "cache_write_1h": Decimal(2), "output": Decimal("1.5")}
# One team grows: from this day of the month its service makes GROWTH times its calls (its
# week 19-25 October against 12-18 is the demo's week-over-week anomaly).
GROWTH_SERVICE, GROWTH_FROM, GROWTH = "recsys-explain", 19, 2.5
# A credit on the OpenAI invoice: (day of month, line item, USD).
CREDIT = (15, "Credit: service incident 2026-10-14", Decimal("-25.00"))
# Scale of the month: requests per day and tokens per request multiply every service's.
REQUEST_SCALE, TOKEN_SCALE = 2.0, 5
# Fine-tuned models are priced per the fine-tune price list; finops' table lacks them.
FINE_TUNE_PRICES = {"input": Decimal("0.30"), "cache_read": Decimal("0.15"), "output": Decimal("1.20")}
TEAM_LEADS = {
    "search": "ana.search@example.com", "checkout": "li.checkout@example.com",
    "support": "sam.support@example.com", "growth": "gia.growth@example.com",
    "data-science": "dev.ds@example.com", "platform": "pat.platform@example.com",
    "mobile": "mo.mobile@example.com", "risk": "rik.risk@example.com",
    "marketing": "mia.marketing@example.com", "legal": "lee.legal@example.com",
    "recsys": "rex.recsys@example.com", "docs": "dot.docs@example.com",
}


@dataclass
class DemoData:
    """What was written, and the month's true totals (for tests)."""

    spans_dropped: int = 0
    agent_spans: int = 0
    files: list[Path] = field(default_factory=list)
    billed_usd: dict[str, Decimal] = field(default_factory=dict)


def _span_attrs(svc: Service, model: str, feature: str, inp: int, cr: int, cw: int, out: int,
                reasoning: int) -> dict[str, object]:
    """Token attributes in the service's convention (all count cache tokens inside input)."""
    total_in = inp + cr + cw
    if svc.convention == "openinference":
        a: dict[str, object] = {
            "llm.system": svc.provider, "llm.model_name": model,
            "llm.token_count.prompt": total_in, "llm.token_count.completion": out,
            "openinference.span.kind": "LLM"}
        if cr:
            a["llm.token_count.prompt_details.cache_read"] = cr
        if cw:
            a["llm.token_count.prompt_details.cache_write"] = cw
    else:
        old = svc.convention == "genai_old"
        a = {"gen_ai.system" if old else "gen_ai.provider.name": svc.provider,
             "gen_ai.operation.name": "chat",
             "gen_ai.request.model": model.split(":")[1] if model.startswith("ft:") else model,
             "gen_ai.response.model": model,
             "gen_ai.usage.prompt_tokens" if old else "gen_ai.usage.input_tokens": total_in,
             "gen_ai.usage.completion_tokens" if old else "gen_ai.usage.output_tokens": out}
        if cr:
            a["gen_ai.usage.cache_read.input_tokens"] = cr
        if cw:
            a["gen_ai.usage.cache_creation.input_tokens"] = cw
        if reasoning:
            a["gen_ai.usage.reasoning.output_tokens"] = reasoning
        if svc.tier != "standard" and svc.provider == "openai":
            a["gen_ai.openai.request.service_tier"] = svc.tier
    a["feature.id"] = feature
    return a


AGENT_SERVICE = "support-bot"
AGENT_SPAN_ID = 0x00A6E47000000001


def _agent_over(first: SpanSpec, second: SpanSpec, svc: Service) -> SpanSpec:
    """An ``invoke_agent`` span over two model calls, which become its children.

    It carries their token totals, as agent instrumentations do (OTel GenAI ``invoke_agent``).
    No random draw is made here, so the rest of the month is what it was without it.
    """
    second.trace_id = first.trace_id
    first.parent_span_id = second.parent_span_id = AGENT_SPAN_ID
    totals: dict[str, int] = {}
    for child in (first, second):
        for k, v in child.attributes.items():
            if k.startswith("gen_ai.usage.") and isinstance(v, int):
                totals[k] = totals.get(k, 0) + v
    attrs: dict[str, object] = {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support-triage",
        "gen_ai.provider.name": svc.provider, "gen_ai.request.model": svc.model,
        **totals, "feature.id": first.attributes["feature.id"]}
    return SpanSpec(name="invoke_agent support-triage", trace_id=first.trace_id,
                    span_id=AGENT_SPAN_ID, start_ns=min(first.start_ns, second.start_ns),
                    end_ns=max(first.end_ns, second.end_ns), attributes=attrs)


def _resource(svc: Service, project: str) -> dict[str, object]:
    attrs: dict[str, object] = {"service.name": svc.name, "project.id": project}
    if svc.team:
        attrs["team.id"] = svc.team
    if svc.account and svc.account_attr:
        key = "openai.project.id" if svc.provider == "openai" else "anthropic.workspace.id"
        attrs[key] = svc.account
    return attrs


def _lognormal(rng: random.Random, mean: int, sigma: float = 0.6) -> int:
    mu = math.log(mean) - sigma * sigma / 2
    return max(1, int(rng.lognormvariate(mu, sigma)))


class _Prices:
    """List prices by exact model name, tier, token type and day (demo models only)."""

    def __init__(self) -> None:
        self.rows = [r for r in load_prices().iter_rows(named=True) if r["match_kind"] == "exact"]

    def get(self, provider: str, model: str, tier: str, token_type: str, day: date) -> Decimal:
        if model.startswith("ft:"):
            return FINE_TUNE_PRICES[token_type]
        for r in self.rows:
            if (r["provider"], r["model_match"], r["service_tier"], r["token_type"]) == (
                    provider, model, tier, token_type) and r["effective_from"] <= day and (
                    r["effective_to"] is None or day < r["effective_to"]):
                return r["usd_per_mtok"]
        raise KeyError(f"demo: no list price for {provider} {model} {tier} {token_type} on {day}")


# on_call(service, day, (input, cache_read, cache_write, output, reasoning), placed): every call,
# sampled out or not; ``placed`` is (project, feature, start_ns) for a call with a span, else None.
CallHook = Callable[[Service, date, tuple[int, int, int, int, int], tuple[str, str, int] | None], None]


def _service_day(svc: Service, n: int, day: date, rng: random.Random, billed: dict, requests: dict,
                 data: DemoData, on_call: CallHook | None) -> dict[str, list[SpanSpec]]:
    """``n`` calls of ``svc`` on ``day``: their billed tokens and requests, and their spans by project."""
    day_ns = _epoch(day) * 1_000_000_000
    by_project: dict[str, list[dict]] = defaultdict(list)
    for _ in range(n):
        total_in = _lognormal(rng, svc.input_mean * TOKEN_SCALE)
        cr = int(total_in * svc.cache_read_share * rng.uniform(0.6, 1.2))
        cw = int(total_in * svc.cache_write_share * rng.uniform(0.5, 1.5))
        cr, cw = min(cr, total_in), min(cw, max(0, total_in - cr))
        inp = total_in - cr - cw
        out = _lognormal(rng, svc.output_mean * TOKEN_SCALE, 0.7)
        reasoning = int(out * 0.6) if svc.model.startswith("o4") else 0
        account = svc.account or "default"
        key = (day, svc.provider, account, svc.model, svc.tier)
        if svc.provider == "anthropic" and total_in > LONG_CONTEXT_TOKENS:
            key = (*key[:4], f"{svc.tier}@200k-1M")  # billed at long-context rates
        billed[(*key, "input")] += inp
        billed[(*key, "cache_read")] += cr
        billed[(*key, "output")] += out
        requests[key] += 1
        if cw:
            one_hour = int(cw * svc.cache_1h_share)
            billed[(*key, "cache_write")] += cw - one_hour
            billed[(*key, "cache_write_1h")] += one_hour
        if rng.random() < SAMPLING_LOSS:
            data.spans_dropped += 1
            if on_call:
                on_call(svc, day, (inp, cr, cw, out, reasoning), None)
            continue
        project = rng.choice(svc.projects)
        feature = rng.choice(svc.features)
        start_ns = (day_ns + rng.randrange(86_399) * 1_000_000_000
                    + rng.randrange(1_000_000_000))
        by_project[project].append(SpanSpec(
            name=f"chat {svc.model}", trace_id=rng.getrandbits(128), span_id=rng.getrandbits(64),
            start_ns=start_ns, end_ns=start_ns + rng.randrange(200_000_000, 9_000_000_000),
            attributes=_span_attrs(svc, svc.model, feature, inp, cr, cw, out, reasoning),
            kind=SPAN_KIND_CLIENT))
        if on_call:
            on_call(svc, day, (inp, cr, cw, out, reasoning), (project, feature, start_ns))
    return by_project


def _growth_lines(day: date, seed: int, billed: dict, requests: dict, data: DemoData,
                  on_call: CallHook | None) -> list[bytes]:
    """The growing team's extra calls from ``GROWTH_FROM`` on (its traffic × ``GROWTH``).

    Drawn from a random stream of their own, so every other team's month stays as it was.
    """
    svc = next(s for s in SERVICES if s.name == GROWTH_SERVICE)
    if day.day < GROWTH_FROM:
        return []
    rng = random.Random(seed * 1000 + day.day)
    n = int(svc.per_day * REQUEST_SCALE * (1.0 if day.weekday() < 5 else 0.45) * (GROWTH - 1)
            * rng.uniform(0.85, 1.15))
    by_project = _service_day(svc, n, day, rng, billed, requests, data, on_call)
    return [encode_request(_resource(svc, project), spans[i:i + 200], scope_name="finops-demo", scope_version="1")
            for project, spans in by_project.items() for i in range(0, len(spans), 200)]


def generate(out_dir: Path, window: Window, seed: int = 7, on_call: CallHook | None = None, *,
             growth: bool = True) -> DemoData:
    """Write ``spans/`` and ``billing/`` for ``window`` under ``out_dir``.

    ``growth=False`` leaves out the growing team's extra calls (the month before the demo month).

    ``on_call`` sees every call, including those whose span sampling dropped (the metrics
    demo records them all: metrics are not sampled); it never changes what is written.
    """
    rng = random.Random(seed)
    prices = _Prices()
    data = DemoData()
    spans_dir = out_dir / "spans"
    spans_dir.mkdir(parents=True, exist_ok=True)
    # billed[(day, provider, account, model, tier, token_type)] = tokens, from ALL traffic
    billed: dict[tuple, int] = defaultdict(int)
    requests: dict[tuple, int] = defaultdict(int)
    for day in window.days:
        weekday = day.weekday() < 5
        lines: list[bytes] = []
        agent_line: bytes | None = None
        for svc in SERVICES:
            n = int(svc.per_day * REQUEST_SCALE * (1.0 if weekday else 0.45) * rng.uniform(0.85, 1.15))
            if svc.tier == "batch" and not weekday:
                n = 0
            by_project = _service_day(svc, n, day, rng, billed, requests, data, on_call)
            if day == window.days[0] and svc.name == AGENT_SERVICE and by_project:
                project, spans = next(iter(by_project.items()))
                if len(spans) >= 2:
                    agent = _agent_over(spans[0], spans[1], svc)
                    agent_line = encode_request(_resource(svc, project), [agent],
                                                scope_name="finops-demo-agent", scope_version="1")
                    data.agent_spans += 1
            for project, spans in by_project.items():
                for i in range(0, len(spans), 200):  # a collector batch per line
                    lines.append(encode_request(_resource(svc, project), spans[i:i + 200],
                                                scope_name="finops-demo", scope_version="1"))
        rng.shuffle(lines)
        if agent_line is not None:  # after the shuffle: the random stream stays as it was
            lines.append(agent_line)
        if growth:
            lines += _growth_lines(day, seed, billed, requests, data, on_call)
        path = spans_dir / f"{day.isoformat()}.jsonl.gz"
        write_jsonl(path, lines)
        data.files.append(path)
        for provider, account, model, usd in UNSPANNED:
            tokens_in = int(usd * rng.uniform(0.6, 1.4) / 4 * 1_000_000 / float(
                prices.get(provider, model, "standard", "input", day)))
            billed[(day, provider, account, model, "standard", "input")] += tokens_in
            billed[(day, provider, account, model, "standard", "output")] += tokens_in // 10
    _write_openai(out_dir / "billing" / "openai", window, billed, requests, prices, rng, data)
    _write_anthropic(out_dir / "billing" / "anthropic", window, billed, prices, data)
    return data


def _amount(tokens: int, usd_per_mtok: Decimal) -> Decimal:
    return Decimal(tokens) * usd_per_mtok / Decimal(1_000_000)


OPENAI_PIECES = {"input": "input", "cache_read": "cached input", "output": "output"}
ANTHROPIC_TOKEN_TYPES = {
    "input": "uncached_input_tokens", "cache_read": "cache_read_input_tokens",
    "cache_write": "cache_creation.ephemeral_5m_input_tokens",
    "cache_write_1h": "cache_creation.ephemeral_1h_input_tokens", "output": "output_tokens",
}
ANTHROPIC_NAMES = {"claude-sonnet-4-5-20250929": "Claude Sonnet 4.5",
                   "claude-haiku-4-5-20251001": "Claude Haiku 4.5",
                   "claude-opus-4-1-20250805": "Claude Opus 4.1"}
ANTHROPIC_PIECES = {"input": "Input Tokens", "cache_read": "Cache Read",
                    "cache_write": "Cache Write (5m)", "cache_write_1h": "Cache Write (1h)",
                    "output": "Output Tokens"}


def _split(n: int, weights: list[int]) -> list[int]:
    """``n`` split by ``weights``, largest remainder (Σ = n)."""
    total = sum(weights)
    base = [n * w // total for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(n * weights[i] % total), i))
    for i in order[:n - sum(base)]:
        base[i] += 1
    return base


def _keys(provider: str, account: str) -> tuple[tuple[str | None, str, int], ...]:
    return API_KEYS.get((provider, account), ((None, "", 1),))


def _by_key(provider: str, account: str, counts: dict[str, int]) -> list[tuple[str | None, dict[str, int]]]:
    """``counts`` split over the account's keys (a key with nothing left out)."""
    keys = _keys(provider, account)
    split = {k: _split(v, [w for _, _, w in keys]) for k, v in counts.items()}
    out = []
    for i, (key_id, _, _) in enumerate(keys):
        mine = {k: v[i] for k, v in split.items()}
        if any(mine.values()):
            out.append((key_id, mine))
    return out


def _write_key_listings(directory: Path, provider: str, data: DemoData) -> None:
    """The key listings' saved pages: OpenAI one per project, Anthropic one for the organization."""
    directory.mkdir(parents=True, exist_ok=True)
    listed = [(acc, key_id, name) for (prov, acc), keys in sorted(API_KEYS.items()) if prov == provider
              for key_id, name, _ in keys if key_id is not None]
    pages: dict[str, list[dict]] = defaultdict(list)
    for acc, key_id, name in listed:
        if provider == "openai":
            pages[acc].append({"object": "organization.project.api_key", "redacted_value": f"sk-proj-...{key_id[-4:]}",
                               "name": name, "created_at": 1759276800, "last_used_at": 1761955200,
                               "id": key_id, "owner": {"type": "service_account"}})
        else:
            pages["org"].append({"id": key_id, "type": "api_key", "name": name, "status": "active",
                                 "partial_key_hint": f"sk-ant-api03-...{key_id[-4:]}",
                                 "created_at": "2025-10-01T00:00:00Z",
                                 "created_by": {"id": "user_01Demo", "type": "user"},
                                 "workspace_id": None if acc == "default" else acc})
    for stem, items in pages.items():
        path = directory / f"api_keys_{stem}.json"
        body = {"data": items, "first_id": items[0]["id"], "last_id": items[-1]["id"], "has_more": False}
        path.write_text(json.dumps({"object": "list", **body} if provider == "openai" else body, indent=1))
        data.files.append(path)


def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _pages(buckets: list[dict], prefix: str, per_page: int = 7) -> list[dict]:
    pages = []
    chunks = [buckets[i:i + per_page] for i in range(0, len(buckets), per_page)]
    for i, chunk in enumerate(chunks):
        more = i + 1 < len(chunks)
        pages.append({"data": chunk, "has_more": more,
                      "next_page": f"page_{prefix}{i + 1:04d}" if more else None})
    return pages


def _dump_pages(directory: Path, stem: str, pages: list[dict], data: DemoData) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i, page in enumerate(pages, 1):
        path = directory / f"{stem}_page{i:02d}.json"
        path.write_text(json.dumps(page, indent=1))
        data.files.append(path)


def _write_openai(directory: Path, window: Window, billed: dict, requests: dict, prices: _Prices,
                  rng: random.Random, data: DemoData) -> None:
    cost_buckets, usage_buckets, total = [], [], Decimal(0)
    for day in window.days:
        costs, usage = [], []
        keys = sorted({k[:5] for k in billed if k[0] == day and k[1] == "openai"})
        for key in keys:
            _, _, account, model, tier = key
            tokens = {tt: billed.get((*key, tt), 0) for tt in OPENAI_PIECES}
            for tt, piece in OPENAI_PIECES.items():
                if not tokens[tt]:
                    continue
                amt = _amount(tokens[tt], prices.get("openai", model, tier, tt, day))
                value = float(round(amt, 10))  # OpenAI sends a JSON float in dollars
                total += Decimal(str(value)).quantize(Decimal("0.000001"), ROUND_HALF_EVEN)
                prefix = "batch | " if tier == "batch" else ""
                costs.append({"object": "organization.costs.result",
                              "amount": {"value": value, "currency": "usd"},
                              "line_item": f"{prefix}{model}, {piece}",
                              "project_id": None if account == "default" else account,
                              "api_key_id": None, "quantity": tokens[tt], "quantity_unit": "tokens"})
            for key_id, part in _by_key("openai", account, {**tokens, "requests": requests.get(key, 0)}):
                usage.append({"object": "organization.usage.completions.result",
                              "input_tokens": part["input"] + part["cache_read"],
                              "input_cached_tokens": part["cache_read"],
                              "output_tokens": part["output"],
                              "num_model_requests": part["requests"],
                              "project_id": None if account == "default" else account,
                              "user_id": None, "api_key_id": key_id, "model": model,
                              "batch": tier == "batch", "service_tier": "default"})
        if day.weekday() < 5:  # web search tool calls: a non-token charge
            value = round(rng.uniform(0.4, 1.6), 4)
            total += Decimal(str(value))
            costs.append({"object": "organization.costs.result",
                          "amount": {"value": value, "currency": "usd"},
                          "line_item": "web search tool calls", "project_id": "proj_search",
                          "api_key_id": None, "quantity": None, "quantity_unit": None})
        if day.day == CREDIT[0]:  # a credit: a negative costs result with no model
            total += CREDIT[2]
            costs.append({"object": "organization.costs.result",
                          "amount": {"value": float(CREDIT[2]), "currency": "usd"},
                          "line_item": CREDIT[1], "project_id": None,
                          "api_key_id": None, "quantity": None, "quantity_unit": None})
        start = _epoch(day)
        cost_buckets.append({"object": "bucket", "start_time": start, "end_time": start + 86400,
                             "results": costs})
        usage_buckets.append({"object": "bucket", "start_time": start, "end_time": start + 86400,
                              "results": usage})
    for stem, buckets in (("costs", cost_buckets), ("usage_completions", usage_buckets)):
        _dump_pages(directory, stem, [{"object": "page", **p} for p in _pages(buckets, stem[:4])], data)
    _write_key_listings(directory, "openai", data)
    data.billed_usd["openai"] = total


def _write_anthropic(directory: Path, window: Window, billed: dict, prices: _Prices,
                     data: DemoData) -> None:
    cost_buckets, usage_buckets, total = [], [], Decimal(0)
    for day in window.days:
        costs, usage = [], []
        keys = sorted({k[:5] for k in billed if k[0] == day and k[1] == "anthropic"})
        for key in keys:
            _, _, account, model, tier_context = key
            tier, _, context = tier_context.partition("@")
            long = bool(context)
            tokens = {tt: billed.get((*key, tt), 0) for tt in ANTHROPIC_TOKEN_TYPES}
            ws = None if account == "default" else account
            for tt, api_tt in ANTHROPIC_TOKEN_TYPES.items():
                if not tokens[tt]:
                    continue
                usd = _amount(tokens[tt], prices.get("anthropic", model, tier, tt, day))
                if long:
                    usd *= LONG_CONTEXT_RATE[tt]
                cents = (usd * 100).quantize(Decimal("0.00001"), ROUND_HALF_EVEN)  # fractional cents
                total += (cents / 100).quantize(Decimal("0.000001"), ROUND_HALF_EVEN)
                costs.append({"currency": "USD", "amount": str(cents), "workspace_id": ws,
                              "description": f"{ANTHROPIC_NAMES[model]} Usage - {ANTHROPIC_PIECES[tt]}"
                                             + (" - Long Context" if long else ""),
                              "cost_type": "tokens", "context_window": context or "0-200k", "model": model,
                              "service_tier": tier, "token_type": api_tt})
            for key_id, part in _by_key("anthropic", account, tokens):
                usage.append({"uncached_input_tokens": part["input"],
                              "cache_creation": {"ephemeral_1h_input_tokens": part["cache_write_1h"],
                                                 "ephemeral_5m_input_tokens": part["cache_write"]},
                              "cache_read_input_tokens": part["cache_read"],
                              "output_tokens": part["output"], "server_tool_use": {"web_search_requests": 0},
                              "api_key_id": key_id, "workspace_id": ws, "model": model,
                              "service_tier": tier, "context_window": context or "0-200k"})
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        span = {"starting_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "ending_at": (start + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
        cost_buckets.append({**span, "results": costs})
        usage_buckets.append({**span, "results": usage})
    _dump_pages(directory, "cost_report", _pages(cost_buckets, "Y29zd"), data)
    _dump_pages(directory, "usage_report", _pages(usage_buckets, "dXNhZ"), data)
    _write_key_listings(directory, "anthropic", data)
    data.billed_usd["anthropic"] = total


def demo_config(out_dir: Path, window: Window, today: date, previous: str | None = None) -> str:
    """The demo's finops.toml (paths relative to it); ``previous``: the folder of the month before."""
    def paths(pattern: str) -> str:
        found = [pattern] + ([f"{previous}/{pattern}"] if previous else [])
        return "[" + ", ".join(f'"{p}"' for p in found) + "]"

    teams = sorted({s.team for s in SERVICES if s.team})
    # growth's budget is small: past 70 % by mid-month, the demo's budget flag
    budgets = {"search": 9000, "support": 12000, "data-science": 1500, "legal": 3000, "growth": 60}
    lines = [
        "# Written by 'finops demo': the demo month's sources, teams and rules.",
        'currency = "USD"', "", "[warehouse]", 'path = "finops.duckdb"', "",
        "[gate]", "max_drift_pct = 5", "",
        "[reconcile]", "provisional_days = 3", f"today = {today.isoformat()}", "",
        "[[sources]]", 'name = "spans"', 'kind = "otlp_files"', f"paths = {paths('spans/*.jsonl.gz')}", "",
        "[[billing]]", 'name = "openai"', 'kind = "openai_files"',
        f"costs = {paths('billing/openai/costs_page*.json')}",
        f"usage = {paths('billing/openai/usage_completions_page*.json')}",
        f"api_keys = {paths('billing/openai/api_keys_*.json')}", "",
        "[[billing]]", 'name = "anthropic"', 'kind = "anthropic_files"',
        f"costs = {paths('billing/anthropic/cost_report_page*.json')}",
        f"usage = {paths('billing/anthropic/usage_report_page*.json')}",
        f"api_keys = {paths('billing/anthropic/api_keys_*.json')}", "",
    ]
    for t in teams:
        lines += [f'[teams."{t}"]', f'leads = ["{TEAM_LEADS[t]}"]']
        if t in budgets:
            lines.append(f"budget_usd = {budgets[t]}")
        if t == "data-science":
            lines.append('accounts = [{ provider = "openai", account = "proj_sandbox" }]')
        lines.append("")
    lines += ["# Each team's chargeback to its leads, the organisation summary to finance:",
              "#   finops -c finops.toml email --month 2026-10 --dry-run", "",
              "[email]", 'from = "finops@example.com"', 'finance = ["finance@example.com"]',
              'report_url = "https://finops.example.com/reports/{month}/chargeback-{month}.html"', ""]
    lines += ["# Gate failures posted to chat; each webhook URL comes from the environment variable named.",
              "# To see the posts without URLs (written as .json files into ./outbox):",
              "#   finops -c finops.toml gate --month 2026-10 --max-drift 4 --notify --dry-run", ""]
    for name, kind, env in (("demo-slack", "slack", "FINOPS_DEMO_SLACK_URL"),
                            ("demo-teams", "teams", "FINOPS_DEMO_TEAMS_URL"),
                            ("demo-webhook", "webhook", "FINOPS_DEMO_WEBHOOK_URL")):
        lines += ["[[notify]]", f'name = "{name}"', f'kind = "{kind}"', f'url_env = "{env}"',
                  'events = ["gate"]', ""]
    return "\n".join(lines)
