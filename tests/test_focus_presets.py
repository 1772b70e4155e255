"""The cloud presets on a real cloud bill: a focus-data-toolkit FOCUS 1.2 export (2,000 rows of
EC2, RDS, S3, Lambda ... or their Azure and GCP counterparts) with LLM rows mixed in, named as
each provider bills them. Only the LLM rows are LLM billing, to the cent; the rest is excluded
and reported in one line.

The backdrop is generated, offline, by the pinned dev dependency ``focus-data-toolkit==0.14.1``:
``python -m focus_data_toolkit generate --provider aws --focus-version 1.2 --rows 2000 --seed 7``
(deterministic: same seed, same bytes).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import polars as pl
import pytest
from otel_helpers import write_spans_file

from finops.billing import focus
from finops.billing.exclusions import notes as exclusion_notes
from finops.canonical import canonical_provider
from finops.config import BillingSource

W0, W1 = date(2026, 5, 1), date(2026, 6, 1)
CENT = Decimal("0.01")


@pytest.fixture(scope="session")
def toolkit_bill(tmp_path_factory):
    """``toolkit_bill("aws")``: the path of a generated 2,000-row FOCUS 1.2 bill (cached)."""
    made: dict[str, Path] = {}

    def make(provider: str) -> Path:
        if provider not in made:
            out = tmp_path_factory.mktemp(f"toolkit-{provider}")
            subprocess.run([sys.executable, "-m", "focus_data_toolkit", "generate", "--provider",
                            provider, "--focus-version", "1.2", "--rows", "2000", "--seed", "7",
                            "--out", str(out)], check=True, capture_output=True, timeout=300)
            made[provider] = out / f"focus_1_2_cost_and_usage_{provider}.csv"
        return made[provider]

    return make


def mix(bill: Path, llm: list[dict], out: Path) -> Path:
    """The bill with ``llm`` rows added: each copies a bill row and overrides the given columns."""
    frame = pl.read_csv(bill, infer_schema=False)
    template = frame.row(0, named=True)
    base = {**dict.fromkeys(template), "BillingAccountId": template["BillingAccountId"],
            "BillingAccountName": template["BillingAccountName"], "BillingCurrency": "USD",
            "BillingPeriodStart": template["BillingPeriodStart"],
            "BillingPeriodEnd": template["BillingPeriodEnd"], "ProviderName": template["ProviderName"],
            "PublisherName": template["PublisherName"], "SubAccountId": template["SubAccountId"],
            "ChargeCategory": "Usage", "ChargeFrequency": "Usage-Based",
            "ServiceCategory": "AI and Machine Learning", "ServiceSubcategory": "Generative AI"}
    rows = []
    for spec in llm:
        row = {**base, "ChargePeriodStart": f"{spec['day']}T00:00:00Z",
               "ChargePeriodEnd": f"{spec['day']}T01:00:00Z", "BilledCost": spec["cost"],
               "EffectiveCost": spec["cost"], "ListCost": spec["cost"],
               "ConsumedQuantity": spec.get("qty"), "ConsumedUnit": spec.get("unit")}
        row.update({k: v for k, v in spec.items() if k[0].isupper()})
        rows.append(row)
    mixed = pl.concat([frame, pl.DataFrame(rows, schema=frame.schema)]).sort(
        "ChargePeriodStart", maintain_order=True)
    mixed.write_csv(out)
    return out


def bill_total(bill: Path) -> tuple[int, Decimal, dict[str, Decimal]]:
    """Rows, money and money per service of the generated bill in the window (all excluded)."""
    frame = pl.read_csv(bill, infer_schema=False)
    frame = frame.filter(pl.col("ChargePeriodStart").str.slice(0, 10).is_between(
        pl.lit(str(W0)), pl.lit(str(date(2026, 5, 31)))))
    per: dict[str, Decimal] = defaultdict(Decimal)
    raw = Decimal(0)
    for r in frame.iter_rows(named=True):
        # The toolkit writes up to 15 decimals, as AWS does; finops keeps 6 per row (half-even).
        raw += Decimal(r["BilledCost"])
        per[r["ServiceName"] or ""] += Decimal(r["BilledCost"]).quantize(Decimal("0.000001"),
                                                                       ROUND_HALF_EVEN)
    total = sum(per.values(), Decimal(0))
    assert total.quantize(CENT) == raw.quantize(CENT)  # the same to the cent
    return frame.height, total, per


def source(preset: str, *paths: Path, rules=None) -> BillingSource:
    opts = {"paths": [str(p) for p in paths], "preset": preset}
    if rules is not None:
        opts["rules"] = rules
    return BillingSource("cloud", "focus_files", opts)


def totals(pulled) -> dict:
    out: dict = defaultdict(lambda: [Decimal(0), None])
    for r in pulled.frame.iter_rows(named=True):
        acc = out[(r["provider"], r["model"], r["token_type"], r["service_tier"])]
        acc[0] += r["amount"]
        if r["billed_tokens"] is not None:
            acc[1] = (acc[1] or 0) + r["billed_tokens"]
    return {k: (v[0], v[1]) for k, v in out.items()}


def expected(llm: list[dict], non_llm: list[dict]) -> tuple[dict, Decimal]:
    out: dict = defaultdict(lambda: [Decimal(0), None])
    for spec in llm:
        acc = out[spec["expect"]]
        acc[0] += Decimal(spec["cost"])
        if spec.get("tokens") is not None:
            acc[1] = (acc[1] or 0) + spec["tokens"]
    return ({k: (v[0], v[1]) for k, v in out.items()},
            sum((Decimal(s["cost"]) for s in non_llm), Decimal(0)))


def check_preset(toolkit_bill, tmp_path, cloud, preset, llm, non_llm, provider):
    bill = toolkit_bill(cloud)
    mixed = mix(bill, [*llm, *non_llm], tmp_path / f"{cloud}-mixed.csv")
    pulled = focus.pull(source(preset, mixed), W0, W1)
    want, extra_excluded = expected(llm, non_llm)
    assert totals(pulled) == want
    assert sum(pulled.frame["amount"]) == sum((Decimal(s["cost"]) for s in llm), Decimal(0))
    assert pulled.providers == [provider]
    n, money, per = bill_total(bill)
    for s in non_llm:
        per[s["ServiceName"]] += Decimal(s["cost"])
    assert pulled.stats["excluded_rows"] == n + len(non_llm)
    assert sum(pulled.excluded["amount"]) == money + extra_excluded
    rows = [{"reason": "unmatched", "service": k, "rows": 0, "amount": v, "currency": "USD"}
            for k, v in per.items()]
    rows[0]["rows"] = n + len(non_llm)
    assert pulled.notes == exclusion_notes(rows, "cloud: ")
    top = sorted(per.items(), key=lambda kv: -kv[1])[0]
    assert pulled.notes[0].startswith(f"cloud: excluded {n + len(non_llm):,} rows, "
                                      f"{money + extra_excluded:,.2f} USD not matched by any rule "
                                      f"(top services: {top[0]} {top[1]:,.2f} USD")
    return pulled


# --- AWS: Amazon Bedrock ------------------------------------------------------------------

def bedrock(day, meter, cost, expect, *, qty=None, unit="1K tokens", service="Amazon Bedrock",
            tokens=None):
    return {"day": day, "ServiceName": service, "SkuMeter": meter, "cost": cost, "qty": qty,
            "unit": unit if qty is not None else None, "expect": expect,
            "tokens": None if qty is None or (expect and expect[2] == "other") else (
                tokens if tokens is not None else int(Decimal(qty) * 1000)),
            "ChargeDescription": f"{service} {meter}",
            "ResourceId": "arn:aws:bedrock:us-east-1:200000000014:application-inference-profile/ab12",
            "Tags": '{"team":"search"}'}


B = "aws_bedrock"
BEDROCK_ROWS = [
    bedrock("2026-05-03", "USE1-Claude3.5Sonnet-input-tokens", "3.000000", qty="1000",
            expect=(B, "claude-3-5-sonnet", "input", "standard")),
    bedrock("2026-05-03", "USE1-Claude3.5Sonnet-output-tokens", "1.500000", qty="100",
            expect=(B, "claude-3-5-sonnet", "output", "standard")),
    bedrock("2026-05-04", "USE1-Claude4.5Sonnet-cache-read-input-token-count-cross-region-global",
            "0.300000", qty="1000", expect=(B, "claude-sonnet-4-5:global", "cache_read", "standard")),
    bedrock("2026-05-04", "USW2-Claude4.5Sonnet-input-tokens", "0.330000", qty="100",
            expect=(B, "claude-sonnet-4-5", "input", "standard")),
    bedrock("2026-05-05", "USE1-Claude3Haiku-batch-input-tokens", "0.125000", qty="1000",
            expect=(B, "claude-3-haiku", "input", "batch")),
    bedrock("2026-05-05", "USE1-Nova2.0Lite-cache-write-input-token-count", "0.010000", qty="50",
            expect=(B, "nova-2-lite", "cache_write", "standard")),
    bedrock("2026-05-06", "USE1-anthropic.claude-opus-5-mantle-output-tokens-global-standard",
            "2.500000", qty="100", expect=(B, "claude-opus-5:global", "output", "standard")),
    bedrock("2026-05-06", "USW2-MP:USW2_InputTokenCount_Global-Units", "3.000000", qty="1000",
            service="Claude Sonnet 4.5 (Amazon Bedrock Edition)",
            expect=(B, "claude-sonnet-4-5:global", "input", "standard")),
    bedrock("2026-05-07", "USE2-MP:USE2_OutputTokenCount-Units", "5.500000", qty="1",
            unit="1M tokens", tokens=1_000_000, service="Claude Haiku 4.5 (Amazon Bedrock Edition)",
            expect=(B, "claude-haiku-4-5", "output", "standard")),
    bedrock("2026-05-07", "USW2-MP:USW2_output_tokens_global_standard-Units", "25.000000",
            qty="1000", service="Claude Opus 5 (Amazon Bedrock Edition)",
            expect=(B, "claude-opus-5:global", "output", "standard")),
    bedrock("2026-05-08", "USE1-ProvisionedThroughput-Claude3Haiku-ModelUnits", "21.180000",
            qty="1", unit="Hours", expect=(B, "", "other", "standard")),
    bedrock("2026-05-08", "USE1-Guardrails-TextUnits", "0.750000",
            expect=(B, "", "other", "standard")),
    # some exports name the service by its product code
    bedrock("2026-05-09", "EUC1-NovaPro-output-tokens-flex", "0.032000", qty="10",
            service="AmazonBedrock", expect=(B, "nova-pro", "output", "flex")),
]
BEDROCK_NOT_LLM = [
    {"day": "2026-05-09", "ServiceName": "Amazon Bedrock AgentCore",
     "SkuMeter": "USE1-Runtime:Consumption-based:vCPU", "cost": "4.200000"},
]


def test_aws_bedrock_preset_on_a_generated_aws_bill(toolkit_bill, tmp_path):
    pulled = check_preset(toolkit_bill, tmp_path, "aws", "aws-bedrock", BEDROCK_ROWS,
                          BEDROCK_NOT_LLM, B)
    # hourly provisioned capacity carries no token count; token rows carry 1K / 1M tokens
    assert pulled.frame.filter(pl.col("token_type") == "other")["billed_tokens"].null_count() == 2
    assert pulled.stats["matched_rows"] == len(BEDROCK_ROWS)


def test_aws_focus_10_names_the_meter_x_usage_type(toolkit_bill, tmp_path):
    """AWS FOCUS 1.0 exports carry the usage type as x_UsageType: the same rows come out."""
    mixed = mix(toolkit_bill("aws"), [*BEDROCK_ROWS, *BEDROCK_NOT_LLM], tmp_path / "m.csv")
    v10 = tmp_path / "focus10.parquet"
    pl.read_csv(mixed, infer_schema=False).rename({"SkuMeter": "x_UsageType"}).write_parquet(v10)
    assert totals(focus.pull(source("aws-bedrock", v10), W0, W1)) == expected(
        BEDROCK_ROWS, BEDROCK_NOT_LLM)[0]


def test_parsed_charges_keep_resource_tags_and_the_provisioned_marker(toolkit_bill, tmp_path):
    mixed = mix(toolkit_bill("aws"), BEDROCK_ROWS, tmp_path / "m.csv")
    charges = focus.read(source("aws-bedrock", mixed), W0, W1).charges
    assert charges.height == len(BEDROCK_ROWS)
    assert set(charges["tags"]) == {'{"team":"search"}'}
    assert charges["resource_id"].str.contains("application-inference-profile").all()
    provisioned = charges.filter(pl.col("provisioned"))
    assert provisioned["sku"].to_list() == ["USE1-ProvisionedThroughput-Claude3Haiku-ModelUnits"]
    assert set(charges.filter(pl.col("deployment") == "global")["model"]) == {
        "claude-sonnet-4-5:global", "claude-opus-5:global"}


def test_explicit_rules_come_before_the_preset(toolkit_bill, tmp_path):
    mixed = mix(toolkit_bill("aws"), BEDROCK_ROWS, tmp_path / "m.csv")
    rules = [{"SkuMeter": "USE1-Guardrails-TextUnits", "exclude": True},
             {"ServiceName": "AmazonS3", "provider": "aws_bedrock", "token_type": "other"}]
    pulled = focus.pull(source("aws-bedrock", mixed, rules=rules), W0, W1)
    s3 = pl.read_csv(toolkit_bill("aws"), infer_schema=False).filter(
        pl.col("ServiceName") == "AmazonS3")
    s3_money = sum((Decimal(v).quantize(Decimal("0.000001"), ROUND_HALF_EVEN)
                    for v in s3["BilledCost"]), Decimal(0))
    want = sum((Decimal(s["cost"]) for s in BEDROCK_ROWS), Decimal(0)) - Decimal("0.75")
    assert sum(pulled.frame["amount"]) == want + s3_money
    assert pulled.notes[1] == ("cloud: excluded 1 row, 0.75 USD by exclude rules "
                               "(top services: Amazon Bedrock 0.75 USD)")


def test_sources_check_lists_matched_and_excluded_services(toolkit_bill, tmp_path):
    mixed = mix(toolkit_bill("aws"), [*BEDROCK_ROWS, *BEDROCK_NOT_LLM], tmp_path / "m.csv")
    found = focus.check(source("aws-bedrock", mixed))
    keys = [k for k, _ in found]
    assert keys[0] == "files" and "preset aws-bedrock" in found[0][1]
    matched = [v for k, v in found if k == "matched"]
    assert ("Claude Opus 5 (Amazon Bedrock Edition) · USW2-MP:USW2_output_tokens_global_standard"
            "-Units -> aws_bedrock claude-opus-5:global output: 1 row(s), 25.00 USD") in matched
    excluded = [v for k, v in found if k == "excluded"]
    n, _, per = bill_total(toolkit_bill("aws"))
    ec2 = per["AmazonEC2"]
    assert any(v.startswith("AmazonEC2: ") and f", {ec2:,.2f} USD (top SKUs: " in v
               for v in excluded)
    assert ("Amazon Bedrock AgentCore: 1 row(s) in 1 SKU(s), 4.20 USD (top SKUs: "
            "USE1-Runtime:Consumption-based:vCPU 4.20 USD)") in excluded
    assert found[-1][0] == "summary" and found[-1][1].startswith(
        f"excluded {n + 1:,} rows")


# --- Azure: Azure OpenAI ------------------------------------------------------------------

def azure(day, meter, cost, expect, *, product="Azure OpenAI", qty="1000", unit="Units"):
    return {"day": day, "ServiceName": "Azure AI Services", "SkuMeter": meter, "cost": cost,
            "qty": qty, "unit": unit, "expect": expect, "tokens": None,
            "ChargeDescription": f"{product} - {meter.removesuffix(' Tokens')} - US East",
            "ResourceId": "/subscriptions/11111111-1111-4111-8111-111111111111/resourceGroups/ai"
                          "/providers/Microsoft.CognitiveServices/accounts/aoai-prod"}


A = "azure_openai"
AZURE_ROWS = [
    azure("2026-05-03", "gpt-4o-0806-Inp-glbl Tokens", "2.500000", (A, "gpt-4o", "input", "standard")),
    azure("2026-05-03", "gpt-4o-0806-Outp-glbl Tokens", "10.000000", (A, "gpt-4o", "output", "standard")),
    azure("2026-05-04", "gpt 4o 0806 cached Inp Data Zone Tokens", "1.375000",
          (A, "gpt-4o", "cache_read", "standard")),
    azure("2026-05-04", "gpt-4o-0806-Inp-regnl Tokens", "2.750000", (A, "gpt-4o", "input", "standard")),
    azure("2026-05-05", "gpt 4o 0513 Input global Tokens", "5.000000",
          (A, "gpt-4o-2024-05-13", "input", "standard")),
    azure("2026-05-05", "gpt-4o-mini-0718-Batch-Outp-glbl Tokens", "0.300000",
          (A, "gpt-4o-mini", "output", "batch")),
    azure("2026-05-06", "5 mini pp Inp Gl 1M Tokens", "0.450000", (A, "gpt-5-mini", "input", "priority"),
          product="Azure OpenAI GPT5"),
    azure("2026-05-06", "GPT 5 outpt Glbl 1M Tokens", "10.000000", (A, "gpt-5", "output", "standard"),
          product="Azure OpenAI GPT5"),
    azure("2026-05-07", "5.6 luna ShortCo Cd Inp Std DZ 1M Tokens", "0.019330",
          (A, "gpt-5.6-luna", "cache_read", "standard"), product="Azure OpenAI GPT5"),
    azure("2026-05-07", "o4-mini 0416 Inp glbl Tokens", "1.100000", (A, "o4-mini", "input", "standard"),
          product="Azure OpenAI Reasoning"),
    azure("2026-05-08", "text-embedding-3-large-glbl Tokens", "0.130000",
          (A, "text-embedding-3-large", "input", "standard")),
    azure("2026-05-08", "Provisioned Managed Global", "24.000000", (A, "", "other", "standard"),
          qty="24", unit="Hours"),
    azure("2026-05-09", "Az-GPT35-Turbo-4K", "3.000000", (A, "", "other", "standard"),
          qty="1", unit="Hours"),
]
AZURE_NOT_LLM = [
    {"day": "2026-05-09", "ServiceName": "Azure AI Services", "SkuMeter": "S1 Speech To Text",
     "ChargeDescription": "Speech - S1 Speech To Text - US East", "cost": "1.000000"},
]


def test_azure_openai_preset_on_a_generated_azure_bill(toolkit_bill, tmp_path):
    pulled = check_preset(toolkit_bill, tmp_path, "azure", "azure-openai", AZURE_ROWS,
                          AZURE_NOT_LLM, A)
    # Azure's ConsumedUnit is "Units" (FinOps toolkit PricingUnits): no token count is guessed
    assert pulled.frame["billed_tokens"].null_count() == pulled.frame.height
    charges = focus.read(source("azure-openai", tmp_path / "azure-mixed.csv"), W0, W1).charges
    deployments = dict(zip(charges["sku"], charges["deployment"], strict=True))
    assert deployments["gpt 4o 0806 cached Inp Data Zone Tokens"] == "data_zone"
    assert deployments["gpt-4o-0806-Inp-regnl Tokens"] == "regional"
    assert charges.filter(pl.col("provisioned"))["deployment"].to_list() == ["global"]


# --- GCP: Vertex AI -----------------------------------------------------------------------

def vertex(day, sku, cost, expect, *, qty="1000000", unit="count"):
    return {"day": day, "ServiceName": "Vertex AI", "ChargeDescription": sku, "cost": cost,
            "qty": qty, "unit": unit, "expect": expect, "tokens": None, "SkuId": "A253-E8A3-DE5C",
            "ResourceId": "//aiplatform.googleapis.com/projects/examplecorp-prod-481627"}


V = "gcp_vertex_ai"
VERTEX_ROWS = [
    vertex("2026-05-03", "Gemini 2.5 Pro Text Input - Predictions", "1.250000",
           (V, "gemini-2.5-pro", "input", "standard")),
    vertex("2026-05-03", "Gemini 2.5 Pro Input Text Tokens", "0.625000",
           (V, "gemini-2.5-pro", "input", "standard")),
    vertex("2026-05-04", "Gemini 2.5 Pro Input Text Caching (Long)", "0.250000",
           (V, "gemini-2.5-pro", "cache_read", "standard")),
    vertex("2026-05-04", "Gemini 2.5 Flash GA Thinking Text Output - Predictions", "2.500000",
           (V, "gemini-2.5-flash", "output", "standard")),
    vertex("2026-05-05", "Gemini 2.5 Flash Text Output (Thinking On) - Batch Predictions", "1.250000",
           (V, "gemini-2.5-flash", "output", "batch")),
    vertex("2026-05-05", "Gemini 2.5 Flash Lite Text Input - Predictions", "0.100000",
           (V, "gemini-2.5-flash-lite", "input", "standard")),
    vertex("2026-05-06", "Gemini 3 Flash Text Input Priority - Predictions", "0.900000",
           (V, "gemini-3-flash", "input", "priority")),
    vertex("2026-05-06", "Gemini 3 Flash Text Input Caching Storage", "0.040000",
           (V, "gemini-3-flash", "other", "standard"), unit="gibibyte hour"),
    vertex("2026-05-07", "LLM Grounding with Google Search tool - Predictions", "35.000000",
           (V, "", "other", "standard"), qty="1000", unit="requests"),
    vertex("2026-05-07", "Vertex AI: Provisioned Throughput 1 month", "2000.000000",
           (V, "", "other", "standard"), qty="1", unit="month"),
]
VERTEX_NOT_LLM = [
    {"day": "2026-05-08", "ServiceName": "Vertex AI", "ChargeDescription":
     "Custom Training n1-standard-4 running in Americas", "cost": "3.800000"},
]


def test_gcp_vertex_ai_preset_on_a_generated_gcp_bill(toolkit_bill, tmp_path):
    pulled = check_preset(toolkit_bill, tmp_path, "gcp", "gcp-vertex-ai", VERTEX_ROWS,
                          VERTEX_NOT_LLM, V)
    charges = focus.read(source("gcp-vertex-ai", tmp_path / "gcp-mixed.csv"), W0, W1).charges
    assert charges.filter(pl.col("context") == "long")["sku"].to_list() == [
        "Gemini 2.5 Pro Input Text Caching (Long)"]
    assert charges.filter(pl.col("provisioned"))["amount"].to_list() == [Decimal("2000")]
    assert pulled.stats["matched_rows"] == len(VERTEX_ROWS)


def test_no_generated_row_is_llm_billing_under_any_preset(toolkit_bill):
    """The toolkit's EC2/VM/Compute Engine rows never match a cloud preset: all excluded."""
    for cloud, preset in (("aws", "aws-bedrock"), ("azure", "azure-openai"), ("gcp", "gcp-vertex-ai")):
        pulled = focus.pull(source(preset, toolkit_bill(cloud)), W0, W1)
        n, money, _ = bill_total(toolkit_bill(cloud))
        assert pulled.frame.height == 0, cloud
        assert (pulled.stats["excluded_rows"], sum(pulled.excluded["amount"])) == (n, money)


# --- spans meet bills -----------------------------------------------------------------------

@pytest.mark.parametrize("attribute, value", [
    ("gen_ai.provider.name", "aws.bedrock"), ("gen_ai.system", "aws.bedrock"),
    ("gen_ai.provider.name", "azure.ai.openai"), ("gen_ai.system", "az.ai.openai"),
    ("gen_ai.provider.name", "gcp.vertex_ai"), ("gen_ai.system", "vertex_ai"),
])
def test_span_provider_names_meet_the_preset_providers(attribute, value):
    presets = {"aws": "aws-bedrock", "azure": "azure-openai", "gcp": "gcp-vertex-ai",
               "az": "azure-openai", "vertex": "gcp-vertex-ai"}
    from finops.billing.rules import load_preset
    provider, _ = load_preset(presets[value.split(".")[0].split("_")[0]], "test")
    assert canonical_provider(value) == provider


def test_report_reconciles_bedrock_spans_against_the_cloud_bill(cli, tmp_path, toolkit_bill):
    """A platform engineer's setup: OTLP spans from a Bedrock app, the AWS FOCUS export with
    the aws-bedrock preset, the bundled prices. The month's LLM bill is the Bedrock money; its
    estimate meets it in the same cells; EC2 and friends are one note, not unattributed spend."""
    llm = [
        bedrock("2026-05-03", "USE1-Claude3.5Sonnet-input-tokens", "3.000000", qty="1000",
                expect=None),
        bedrock("2026-05-03", "USE1-Claude3.5Sonnet-output-tokens", "1.500000", qty="100",
                expect=None),
        bedrock("2026-05-04", "USW2-MP:USW2_InputTokenCount_Global-Units", "3.000000", qty="1000",
                service="Claude Sonnet 4.5 (Amazon Bedrock Edition)", expect=None),
        bedrock("2026-05-04", "USW2-MP:USW2_OutputTokenCount_Global-Units", "1.500000", qty="100",
                service="Claude Sonnet 4.5 (Amazon Bedrock Edition)", expect=None),
    ]
    (tmp_path / "bills").mkdir()
    mix(toolkit_bill("aws"), llm, tmp_path / "bills" / "aws-focus-2026-05.csv")
    (tmp_path / "spans").mkdir()
    account = pl.read_csv(toolkit_bill("aws"), infer_schema=False)["SubAccountId"][0]
    spans = [
        {"resource": {"service.name": "search", "team.id": "search"},
         "attributes": {"gen_ai.provider.name": "aws.bedrock", "llm.account.id": account,
                        "gen_ai.response.model": "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
                        "gen_ai.usage.input_tokens": 1_000_000, "gen_ai.usage.output_tokens": 100_000},
         "start": "2026-05-03T10:00:00Z"},
        {"resource": {"service.name": "assist", "team.id": "support"},
         "attributes": {"gen_ai.system": "aws.bedrock", "llm.account.id": account,
                        "gen_ai.response.model": "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
                        "gen_ai.usage.input_tokens": 1_000_000, "gen_ai.usage.output_tokens": 100_000},
         "start": "2026-05-04T10:00:00Z"},
    ]
    write_spans_file(tmp_path / "spans" / "bedrock.jsonl", spans)
    cfg = tmp_path / "finops.toml"
    cfg.write_text("""
[warehouse]
path = "w.duckdb"
[reconcile]
today = 2026-06-10
[[sources]]
name = "spans"
kind = "otlp_files"
paths = ["spans/*.jsonl"]
[[billing]]
name = "aws"
kind = "focus_files"
paths = ["bills/aws-focus-*.csv"]
preset = "aws-bedrock"
""")
    for _ in range(2):  # a re-pull replaces the window's exclusions: the note never doubles
        r = cli("-c", str(cfg), "pull", "--month", "2026-05")
        assert r.code == 0, r.err
    n, money, _ = bill_total(toolkit_bill("aws"))
    line = f"excluded {n:,} rows, {money:,.2f} USD not matched by any rule (top services: AmazonEC2"
    assert f"finops: note: aws: {line}" in r.err
    r_pull_notes = [x.removeprefix("finops: note: ") for x in r.err.splitlines()
                    if x.startswith("finops: note: ")]
    r = cli("-c", str(cfg), "report", "--month", "2026-05", "--format", "json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["billed_total"] == "9.00"
    assert [p["provider"] for p in doc["providers"]] == ["aws_bedrock"]
    assert doc["estimated_total"] == "9.00" and doc["drift_pct"] == "0.00"
    assert doc["unattributed"] == "0.00"
    assert {t["team"]: t["billed"] for t in doc["teams"]} == {"search": "4.50", "support": "4.50"}
    assert doc["unpriced"] == []
    assert [n for n in doc["notes"] if "excluded" in n] == [
        next(n for n in r_pull_notes if n.startswith(f"aws: {line}"))], doc["notes"]
    r = cli("-c", str(cfg), "sources", "check")
    assert r.code == 0, r.err
    assert "AmazonEC2" in r.out and "claude-sonnet-4-5:global" in r.out


def test_unknown_billing_option_is_a_config_error_before_anything_loads(cli, tmp_path):
    cfg = tmp_path / "finops.toml"
    cfg.write_text("""
[warehouse]
path = "w.duckdb"
[[billing]]
name = "aws"
kind = "focus_files"
paths = ["bills/*.csv"]
presets = "aws-bedrock"
""")
    for command in (("pull", "--month", "2026-05"), ("sources", "check")):
        r = cli("-c", str(cfg), *command)
        assert r.code == 2, (command, r.out, r.err)
        assert "billing source aws: unknown option 'presets' (did you mean 'preset'?)" in r.err
    assert not (tmp_path / "w.duckdb").exists()  # refused before the warehouse is opened
