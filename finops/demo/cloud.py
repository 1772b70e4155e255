"""A small cloud-hosted month: Amazon Bedrock spans and the AWS FOCUS export that bills them.

Written beside the main demo (``make demo``: ``<out>/cloud/``) with its own ``finops.toml``,
so the main demo's figures stay as they are. What it shows, on purpose:

* the AWS bill is the whole cloud bill: EC2 and S3 rows are excluded with one note, only the
  Bedrock rows (the ``aws-bedrock`` preset) are LLM billing;
* ``catalog-enrich`` calls Claude Sonnet 4.5 on demand (US cross-region profile): its spans
  meet the bill's token lines in the pool (no span names the AWS account);
* ``kb-answers`` (team search) and ``ticket-summary`` (team support) invoke one Provisioned
  Throughput model (its ARN is their model id): the capacity, billed by the hour whether used
  or not, is split over the two by their token share of that model each day;
* a copywriting batch job on an application inference profile tagged ``team = growth`` has no
  spans at all: ``[teams.growth] tags = { team = "growth" }`` charges it to growth.

Every amount is computed from the calls at the bundled Bedrock prices, so the only drift is
the capacity (a non-token charge) and the provisioned model's usage having no token price.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from finops.demo.otlp_encode import SPAN_KIND_CLIENT, SpanSpec, encode_request, write_jsonl
from finops.windows import Window

ACCOUNT = "123456789012"
REGION = "us-east-1"
PROVISIONED = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:provisioned-model/kb-sonnet-pt1"
PROFILE = f"arn:aws:bedrock:{REGION}:{ACCOUNT}:application-inference-profile/copywriter"
PT_USD_PER_HOUR = Decimal("12.50")  # one model unit, billed every hour of the month
# Claude Sonnet 4.5 in-region / geographic and Claude 3 Haiku (pricing/aws_bedrock.toml), USD/1M
SONNET = {"input": Decimal("3.3"), "output": Decimal("16.5")}
HAIKU = {"input": Decimal("0.25"), "output": Decimal("1.25")}
METERS = {"sonnet": "USE1-Claude4.5Sonnet-{}-tokens", "haiku": "USE1-Claude3Haiku-{}-tokens"}
GROWTH_TAGS = '{"team": "growth", "app": "copywriter"}'


@dataclass(frozen=True)
class CloudService:
    """An instrumented service calling Bedrock."""

    name: str
    team: str
    project: str
    feature: str
    model: str  # as the span names it
    per_day: int
    input_mean: int
    output_mean: int


SERVICES = (
    CloudService("kb-answers", "search", "help-center", "answer", PROVISIONED, 60, 3000, 400),
    CloudService("ticket-summary", "support", "helpdesk", "summarise", PROVISIONED, 25, 5000, 300),
    CloudService("catalog-enrich", "catalog", "catalog", "enrich",
                 "us.anthropic.claude-sonnet-4-5-20250929-v1:0", 120, 12000, 1500),
)
# Other AWS services on the same bill: (ServiceName, SkuMeter, mean USD per day).
NOT_LLM = (("Amazon Elastic Compute Cloud", "USE1-BoxUsage:m7i.xlarge", 48.0),
           ("Amazon Simple Storage Service", "USE1-TimedStorage-ByteHrs", 6.5))
COLUMNS = ("BilledCost", "BillingAccountId", "BillingCurrency", "BillingPeriodStart",
           "BillingPeriodEnd", "ChargeCategory", "ChargeDescription", "ChargePeriodStart",
           "ChargePeriodEnd", "ConsumedQuantity", "ConsumedUnit", "ProviderName", "ResourceId",
           "ServiceName", "SkuId", "SkuMeter", "SubAccountId", "Tags")


@dataclass
class CloudDemo:
    """What was written: the config, the files and the month's billed LLM money."""

    config: Path
    files: list[Path] = field(default_factory=list)
    billed_llm: Decimal = Decimal(0)
    capacity: Decimal = Decimal(0)
    tagged: Decimal = Decimal(0)  # the growth team's tagged charges
    # tokens[(day, team)] of the spans on the provisioned model (what splits its capacity)
    provisioned_tokens: dict[tuple[date, str], int] = field(default_factory=dict)


def generate_cloud(out_dir: Path, window: Window, seed: int = 11) -> CloudDemo:
    """Write ``spans/``, ``bills/`` and ``finops.toml`` for ``window`` under ``out_dir``."""
    rng = random.Random(seed)
    (out_dir / "spans").mkdir(parents=True, exist_ok=True)
    (out_dir / "bills").mkdir(parents=True, exist_ok=True)
    demo = CloudDemo(out_dir / "finops.toml")
    rows: list[dict[str, str]] = []
    period = (f"{window.window_start.isoformat()}T00:00:00Z", f"{window.window_end.isoformat()}T00:00:00Z")

    def charge(day: date, service: str, meter: str, cost: Decimal, *, qty: str = "", unit: str = "",
               resource: str = "", tags: str = "") -> None:
        cost = cost.quantize(Decimal("0.000001"), ROUND_HALF_EVEN)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        rows.append({"BilledCost": str(cost), "BillingAccountId": ACCOUNT, "BillingCurrency": "USD",
                     "BillingPeriodStart": period[0], "BillingPeriodEnd": period[1],
                     "ChargeCategory": "Usage", "ChargeDescription": f"{service} {meter}",
                     "ChargePeriodStart": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "ChargePeriodEnd": (start + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "ConsumedQuantity": qty, "ConsumedUnit": unit, "ProviderName": "AWS",
                     "ResourceId": resource, "ServiceName": service, "SkuId": meter,
                     "SkuMeter": meter, "SubAccountId": ACCOUNT, "Tags": tags})
        if service == "Amazon Bedrock":
            demo.billed_llm += cost
        if tags:
            demo.tagged += cost

    for day in window.days:
        day_ns = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000_000
        lines = []
        on_demand = {"input": 0, "output": 0}
        for svc in SERVICES:
            spans = []
            for _ in range(int(svc.per_day * rng.uniform(0.8, 1.2))):
                inp = max(1, int(rng.lognormvariate(0, 0.5) * svc.input_mean))
                out = max(1, int(rng.lognormvariate(0, 0.6) * svc.output_mean))
                if svc.model != PROVISIONED:
                    on_demand["input"] += inp
                    on_demand["output"] += out
                else:
                    key = (day, svc.team)
                    demo.provisioned_tokens[key] = demo.provisioned_tokens.get(key, 0) + inp + out
                start_ns = day_ns + rng.randrange(86_399) * 1_000_000_000
                spans.append(SpanSpec(
                    name=f"chat {svc.model}", trace_id=rng.getrandbits(128), span_id=rng.getrandbits(64),
                    start_ns=start_ns, end_ns=start_ns + rng.randrange(300_000_000, 6_000_000_000),
                    kind=SPAN_KIND_CLIENT,
                    attributes={"gen_ai.provider.name": "aws.bedrock", "gen_ai.operation.name": "chat",
                                "gen_ai.request.model": svc.model, "gen_ai.usage.input_tokens": inp,
                                "gen_ai.usage.output_tokens": out, "feature.id": svc.feature}))
            lines.append(encode_request({"service.name": svc.name, "team.id": svc.team,
                                         "project.id": svc.project}, spans,
                                        scope_name="finops-demo-cloud", scope_version="1"))
        path = out_dir / "spans" / f"{day.isoformat()}.jsonl"
        write_jsonl(path, lines)
        demo.files.append(path)
        for tt, tokens in on_demand.items():
            charge(day, "Amazon Bedrock", METERS["sonnet"].format(tt), tokens * SONNET[tt] / 1_000_000,
                   qty=str(tokens), unit="Tokens",
                   resource=f"arn:aws:bedrock:{REGION}::foundation-model/anthropic.claude-sonnet-4-5")
        if day.weekday() < 5:  # the growth team's copywriting batch: tagged, never instrumented
            for tt, tokens in (("input", rng.randrange(2_000_000, 6_000_000)),
                               ("output", rng.randrange(400_000, 1_200_000))):
                charge(day, "Amazon Bedrock", METERS["haiku"].format(tt),
                       tokens * HAIKU[tt] / 1_000_000, qty=str(tokens), unit="Tokens",
                       resource=PROFILE, tags=GROWTH_TAGS)
        pt = PT_USD_PER_HOUR * 24
        charge(day, "Amazon Bedrock", "USE1-ProvisionedThroughput-Claude4.5Sonnet-ModelUnits", pt,
               qty="24", unit="Hours", resource=PROVISIONED)
        demo.capacity += pt
        for service, meter, usd in NOT_LLM:
            charge(day, service, meter, Decimal(str(round(usd * rng.uniform(0.9, 1.1), 4))),
                   qty="24", unit="Hours", resource=f"{service.split()[-1].lower()}-{rng.randrange(9)}")
    bill = out_dir / "bills" / f"aws-focus-{window.window_start:%Y-%m}.csv"
    with bill.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    demo.files.append(bill)
    demo.config.write_text(cloud_config(window.window_end + timedelta(days=22)))
    return demo


def cloud_config(today: date) -> str:
    """The cloud demo's finops.toml (paths relative to it)."""
    return "\n".join([
        "# Written by 'make demo' (finops.demo.cloud): Bedrock spans and the AWS FOCUS export.",
        'currency = "USD"', "", "[warehouse]", 'path = "finops.duckdb"', "",
        "[reconcile]", f"today = {today.isoformat()}", "",
        "[[sources]]", 'name = "spans"', 'kind = "otlp_files"', 'paths = ["spans/*.jsonl"]', "",
        "[[billing]]", 'name = "aws"', 'kind = "focus_files"', 'paths = ["bills/aws-focus-*.csv"]',
        'preset = "aws-bedrock"', "",
        "# Spend with no spans, charged by what the bill says of it (README \"Tags and resources\").",
        "[teams.growth]", 'tags = { team = "growth" }', "",
    ])


__all__ = ["CloudDemo", "cloud_config", "generate_cloud"]
