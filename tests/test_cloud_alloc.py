"""Cloud spend charged by what the bill says (issue 15 parts 4-5): FOCUS ``Tags`` and
``ResourceId`` name the team of spend no span explains (``[teams.X] tags`` / ``resources``),
and provisioned capacity is split over the teams that used it by their token share.

Each cloud's rows are mixed into a focus-data-toolkit bill (``test_focus_presets``'s
generator); every team figure below is computed by hand in the comments.
"""

from __future__ import annotations

import json
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from builders import billing, usage, write_prices
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from otel_helpers import write_spans_file
from test_focus_presets import W0, W1, azure, bedrock, mix, source, vertex
from test_focus_presets import toolkit_bill as toolkit_bill  # noqa: F401 (the generated bills)

from finops.billing import focus
from finops.config import ChargeRule, load_config, parse_config
from finops.errors import ConfigError, DataError
from finops.frames import CHARGES_SCHEMA
from finops.reconcile import reconcile
from finops.reconcile.owners import owner
from finops.warehouse import connect, replace_window
from finops.windows import month_window

OCT = month_window("2026-10")
TODAY = date(2026, 11, 23)

MONTH = "2026-05"
HEADER = """
[warehouse]
path = "w.duckdb"
[reconcile]
today = 2026-06-10
[[sources]]
name = "spans"
kind = "otlp_files"
paths = ["spans/*.jsonl"]
[[billing]]
name = "cloud"
kind = "focus_files"
paths = ["bills/*.csv"]
preset = "{preset}"
{rules}
"""


def run_month(cli, tmp_path, bill_rows, toolkit, preset, spans, teams_toml, rules=""):
    (tmp_path / "bills").mkdir()
    mix(toolkit, bill_rows, tmp_path / "bills" / "focus-2026-05.csv")
    (tmp_path / "spans").mkdir()
    write_spans_file(tmp_path / "spans" / "s.jsonl", spans)
    cfg = tmp_path / "finops.toml"
    cfg.write_text(HEADER.format(preset=preset, rules=rules) + teams_toml)
    for _ in range(2):  # a re-pull replaces the window's charges: nothing doubles
        r = cli("-c", str(cfg), "pull", "--month", MONTH)
        assert r.code == 0, r.err
    r = cli("-c", str(cfg), "report", "--month", MONTH, "--format", "json")
    assert r.code in (0, 1), r.err
    return json.loads(r.out), cfg


def span(day, model, team, tokens, provider, *, output=0):
    return {"resource": {"service.name": team, "team.id": team},
            "attributes": {"gen_ai.provider.name": provider, "gen_ai.response.model": model,
                           "gen_ai.usage.input_tokens": tokens, "gen_ai.usage.output_tokens": output},
            "start": f"{day}T10:00:00Z"}


def teams(doc) -> dict[str, str]:
    return {t["team"]: t["billed"] for t in doc["teams"]}


def alloc_by_basis(cfg) -> dict[tuple[str, str], Decimal]:
    con = duckdb.connect(str(cfg.parent / "w.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT team, basis, sum(allocated) FROM recon_alloc "
                           "WHERE allocated <> 0 GROUP BY ALL").fetchall()
    finally:
        con.close()
    return {(t, b): a for t, b, a in rows}


# --- AWS Bedrock ----------------------------------------------------------------------------

PROFILE = "arn:aws:bedrock:us-east-1:{acct}:application-inference-profile/{id}"
PROVISIONED = "arn:aws:bedrock:us-east-1:{acct}:provisioned-model/pm1"


def test_bedrock_tags_resources_and_provisioned_throughput(cli, tmp_path, request):
    toolkit_bill = request.getfixturevalue("toolkit_bill")
    bill = toolkit_bill("aws")
    acct = pl.read_csv(bill, infer_schema=False)["SubAccountId"][0]
    arn = PROVISIONED.format(acct=acct)

    def row(day, meter, cost, tags, resource):
        r = bedrock(day, meter, cost, None, qty="1")
        r.update(Tags=tags, ResourceId=resource)
        return r

    rows = [
        # 05-10, one billed line (claude-3-5-sonnet input, 15.956789) with no spans: by tags
        row("2026-05-10", "USE1-Claude3.5Sonnet-input-tokens", "12.345678",
            '{"team": "search", "env": "prod"}', PROFILE.format(acct=acct, id="aa")),
        row("2026-05-10", "USE1-Claude3.5Sonnet-input-tokens", "2.500000",
            '{"cost-center": "cc-42"}', PROFILE.format(acct=acct, id="cc")),
        # a resource rule beats the tags the charge also carries
        row("2026-05-10", "USE1-Claude3.5Sonnet-input-tokens", "1.111111",
            '{"team": "search"}', PROFILE.format(acct=acct, id="BB")),
        row("2026-05-10", "USE1-Claude3.5Sonnet-output-tokens", "7.000001",
            '{"team":"search"}', PROFILE.format(acct=acct, id="aa")),
        # 05-11: untagged, no rule, no spans: unattributed
        row("2026-05-11", "USE1-Claude3Haiku-output-tokens", "0.999999", None, None),
        # 05-12: Provisioned Throughput, billed on the provisioned model's ARN
        {**bedrock("2026-05-12", "USE1-ProvisionedThroughput-Claude3Haiku-ModelUnits",
                   "21.180000", None, qty="1", unit="Hours"), "Tags": None, "ResourceId": arn},
    ]
    spans = [
        # the provisioned model's users: search 300k tokens, support 100k (3:1)
        span("2026-05-12", arn, "search", 200_000, "aws.bedrock", output=100_000),
        span("2026-05-12", arn, "support", 100_000, "aws.bedrock"),
        # on-demand Haiku the same day: not the capacity's user
        span("2026-05-12", "anthropic.claude-3-haiku-20240307-v1:0", "ads", 1_000_000,
             "aws.bedrock"),
    ]
    doc, cfg = run_month(cli, tmp_path, rows, bill, "aws-bedrock", spans, f"""
[teams.search]
tags = {{ team = "search" }}
[teams.ads]
tags = [{{ "cost-center" = "cc-42" }}]
[teams.platform]
resources = ["{PROFILE.format(acct=acct, id='bb')}"]
""")
    # billed 45.136789 -> 45.14. search 12.345678 + 7.000001 + 21.18 x 3/4 (15.885) = 35.230679;
    # ads 2.50; platform 1.111111; support 21.18 / 4 = 5.295; unattributed 0.999999.
    # Cents by largest remainder: floors 35.23 + 2.50 + 1.11 + 5.29 + 0.99 = 45.12, the two
    # cents left go to unattributed (.9999) and support (.5).
    assert doc["billed_total"] == "45.14"
    assert teams(doc) == {"search": "35.23", "ads": "2.50", "platform": "1.11",
                          "support": "5.30", "unattributed": "1.00"}
    by = alloc_by_basis(cfg)
    assert by[("search", "tag")] == Decimal("19.345679")
    assert by[("ads", "tag")] == Decimal("2.5")
    assert by[("platform", "resource")] == Decimal("1.111111")
    assert by[("search", "capacity")] == Decimal("15.885")
    assert by[("support", "capacity")] == Decimal("5.295")
    assert not any(t == "ads" and b.startswith("capacity") for t, b in by)
    assert [n for n in doc["notes"] if n.startswith("aws_bedrock: ")] == [
        "aws_bedrock: 21.18 USD of provisioned capacity split over 2 teams by their token share "
        "of the model it serves that day",
        "aws_bedrock: 1.11 USD with no spans charged by the bill's resource ids "
        "([teams.X] resources) to 1 team",
        "aws_bedrock: 21.85 USD with no spans charged by the bill's tags ([teams.X] tags) to 2 teams",
    ]


# --- Azure OpenAI --------------------------------------------------------------------------

AOAI = ("/subscriptions/11111111-1111-4111-8111-111111111111/resourceGroups/ai/providers/"
        "Microsoft.CognitiveServices/accounts/")


def test_azure_resource_tags_and_ptu_by_the_days_tokens(cli, tmp_path, request):
    bill = request.getfixturevalue("toolkit_bill")("azure")
    acct = pl.read_csv(bill, infer_schema=False)["SubAccountId"][0]
    inp = "gpt-4o-0806-Inp-glbl Tokens"
    rows = [
        # 05-10, one billed line (gpt-4o input, 6.00) with no spans: by tags, resource, account rule
        {**azure("2026-05-10", inp, "4.000000", None), "ResourceId": AOAI + "aoai-ml",
         "Tags": '{"team": "ml", "env": "prod"}'},
        {**azure("2026-05-10", inp, "1.234567", None), "ResourceId": AOAI + "AOAI-Shared"},
        {**azure("2026-05-10", inp, "0.765433", None), "ResourceId": AOAI + "aoai-other"},
        # 05-11: a global PTU deployment's hours; Azure's bill names the resource, not the model
        {**azure("2026-05-11", "Provisioned Managed Global", "48.000000", None, qty="24",
                 unit="Hours"), "ResourceId": AOAI + "aoai-prod"},
    ]
    spans = [
        span("2026-05-11", "gpt-4o-2024-08-06", "chat", 500_000, "azure.ai.openai", output=100_000),
        span("2026-05-11", "gpt-4o-mini", "chat", 200_000, "azure.ai.openai"),
        span("2026-05-11", "gpt-4o-mini", "docs", 200_000, "azure.ai.openai"),
    ]
    doc, cfg = run_month(cli, tmp_path, rows, bill, "azure-openai", spans, f"""
[teams.ml]
tags = {{ team = "ml" }}
[teams.shared]
resources = ["{AOAI.lower()}aoai-shared"]
[teams.platform]
accounts = [{{ provider = "azure_openai", account = "{acct}" }}]
""")
    # billed 54.00: ml 4.00; shared 1.234567; the line's untagged rest 0.765433 to the account
    # rule's platform; the PTU by the day's tokens: chat 800k of 1M = 38.40, docs 9.60.
    # Floors 4.00 + 1.23 + 0.76 + 38.40 + 9.60 = 53.99: the cent left to platform (.5433).
    assert doc["billed_total"] == "54.00"
    assert teams(doc) == {"ml": "4.00", "shared": "1.23", "platform": "0.77", "chat": "38.40",
                          "docs": "9.60"}
    by = alloc_by_basis(cfg)
    assert by[("platform", "rule")] == Decimal("0.765433")
    assert by[("chat", "capacity_day")] == Decimal("38.4")
    assert by[("docs", "capacity_day")] == Decimal("9.6")
    assert ("azure_openai: 48.00 USD of provisioned capacity split over 2 teams by their share of "
            "the day's tokens (the bill names no model it serves, or no span used that model that "
            "day)") in doc["notes"]


# --- GCP Vertex AI --------------------------------------------------------------------------

ENDPOINT = ("//aiplatform.googleapis.com/projects/examplecorp-prod-481627/locations/us-central1/"
            "endpoints/pt-flash")


def test_gcp_labels_and_provisioned_throughput_named_by_a_rule(cli, tmp_path, request):
    bill = request.getfixturevalue("toolkit_bill")("gcp")
    sku = "Gemini 2.5 Pro Text Input - Predictions"
    rows = [
        {**vertex("2026-05-10", sku, "3.333333", None), "Tags": '{"team":"research"}'},
        {**vertex("2026-05-10", sku, "1.666667", None), "Tags": '{"env":"dev"}'},
        {**vertex("2026-05-12", "Vertex AI: Provisioned Throughput 1 month", "100.000000", None,
                  qty="1", unit="month"), "ResourceId": ENDPOINT},
    ]
    spans = [
        span("2026-05-12", "gemini-2.5-flash-001", "research", 700_000, "gcp.vertex_ai"),
        span("2026-05-12", "gemini-2.5-flash", "web", 200_000, "gcp.vertex_ai", output=100_000),
        # another model that day: not the endpoint's user
        span("2026-05-12", "gemini-2.5-pro", "ads", 5_000_000, "gcp.vertex_ai"),
    ]
    # the endpoint's model is named by a rule on its ResourceId (the bill does not say it)
    rule = (f'rules = [{{ ServiceName = "Vertex AI", ResourceId = "{ENDPOINT}", provisioned = true, '
            'provider = "gcp_vertex_ai", model = "gemini-2.5-flash" }]')
    doc, cfg = run_month(cli, tmp_path, rows, bill, "gcp-vertex-ai", spans, """
[teams.research]
tags = { team = "research" }
""", rules=rule)
    # billed 105.00: research 3.333333 by its label + 70 % of the endpoint (700k of gemini-2.5-flash's
    # 1M tokens that day) = 73.333333; web 30.00; the untagged 1.666667 unattributed.
    # Floors 73.33 + 30.00 + 1.66 = 104.99: the cent left to unattributed (.6667).
    assert doc["billed_total"] == "105.00"
    assert teams(doc) == {"research": "73.33", "web": "30.00", "unattributed": "1.67",
                          "ads": "0.00"}  # spans on another model: none of the capacity
    by = alloc_by_basis(cfg)
    assert by[("research", "capacity")] == Decimal("70")
    assert by[("web", "capacity")] == Decimal("30")
    assert by[("unattributed", "untagged")] == Decimal("1.666667")
    # listed where unattributed money comes from, with the rule that would charge it
    acct = pl.read_csv(bill, infer_schema=False)["SubAccountId"][0]
    assert [(u["reason"], u["provider"], u["account"], u["amount"]) for u in doc["unattributed_sources"]] == [
        ("no_spans", "gcp_vertex_ai", acct, "1.67")]
    assert not any(t == "ads" and b.startswith("capacity") for t, b in by)


def test_owner_resource_first_then_tags_in_team_order():
    rules = [ChargeRule("platform", resource="ARN:x/bb"), ChargeRule("search", tags=(("team", "search"),)),
             ChargeRule("ads", tags=(("cost-center", "cc"), ("team", "search")))]
    assert owner(rules, "arn:x/BB", '{"team":"search"}') == ("platform", "resource")
    assert owner(rules, "arn:x/aa", '{"cost-center":"cc","team":"search"}') == ("search", "tag")
    assert owner(rules, "", '{"team":"ads"}') is None
    assert owner(rules, "", "") is None


@pytest.mark.parametrize("teams_toml, message", [
    ('[teams.a]\ntags = { team = 1 }', "teams.a.tags.team must be a string"),
    ('[teams.a]\ntags = [{}]', "teams.a.tags[0] must be a non-empty table"),
    ('[teams.a]\nresources = "arn:x"', "teams.a.resources must be a list"),
    ('[teams.a]\ntags = { team = "a" }\n[teams.b]\ntags = { team = "a" }',
     "teams.b: tags {'team': 'a'} is already listed by teams.a"),
    ('[teams.a]\nresources = ["arn:X"]\n[teams.b]\nresources = ["arn:x"]',
     "teams.b: resource 'arn:x' is already listed by teams.a"),
    ('[teams.a]\ntag = { team = "a" }', "tag"),
])
def test_tag_and_resource_rules_are_checked(tmp_path, teams_toml, message):
    cfg = tmp_path / "finops.toml"
    cfg.write_text('[warehouse]\npath = "w.duckdb"\n' + teams_toml)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("{", r"\{")):
        load_config(cfg)


def test_charges_add_up_to_the_billing_rows(tmp_path, request):
    toolkit_bill = request.getfixturevalue("toolkit_bill")
    rows = [bedrock("2026-05-03", "USE1-Claude3.5Sonnet-input-tokens", c, None, qty="1")
            | {"Tags": t} for c, t in (("1.000001", '{"team":"a"}'), ("2.5", '{"team":"b"}'),
                                       ("0.25", None))]
    pulled = focus.pull(source("aws-bedrock", mix(toolkit_bill("aws"), rows, tmp_path / "m.csv")),
                        W0, W1)
    assert pulled.charges is not None
    assert sorted(pulled.charges["tags"].to_list()) == ["", '{"team":"a"}', '{"team":"b"}']
    assert sum(pulled.charges["amount"]) == sum(pulled.frame["amount"]) == Decimal("3.750001")
    assert set(pulled.charges["capacity"]) == {"on_demand"}


def test_cloud_demo_month(cli, tmp_path):
    """``make demo``'s cloud part: the capacity follows the provisioned model's token share
    each day, the tagged job with no spans is growth's, EC2 and S3 are one note."""
    from finops.demo.cloud import PT_USD_PER_HOUR, generate_cloud
    from finops.windows import month_window

    demo = generate_cloud(tmp_path / "cloud", month_window("2026-10"))
    cfg = str(demo.config)
    assert cli("-c", cfg, "pull", "--month", "2026-10").code == 0
    doc = json.loads(cli("-c", cfg, "report", "--month", "2026-10", "--format", "json").out)
    got = {t["team"]: Decimal(t["billed"]) for t in doc["teams"]}
    assert Decimal(doc["billed_total"]) == demo.billed_llm.quantize(Decimal("0.01")) == sum(got.values())
    assert got["search"] + got["support"] == demo.capacity == PT_USD_PER_HOUR * 24 * 31
    # each day's 300.00 by that day's tokens on the provisioned model, summed: within a cent
    exact = Decimal(0)
    for (day, team), tokens in demo.provisioned_tokens.items():
        if team == "search":
            total = sum(t for (d, _), t in demo.provisioned_tokens.items() if d == day)
            exact += PT_USD_PER_HOUR * 24 * tokens / total
    assert abs(got["search"] - exact) <= Decimal("0.01"), (got["search"], exact)
    assert got["growth"] == demo.tagged.quantize(Decimal("0.01"))
    assert doc["unattributed"] == "0.00"
    assert any(n.startswith("aws: excluded 62 rows") for n in doc["notes"])


# --- invariants -----------------------------------------------------------------------------

P_DAYS = [date(2026, 10, d) for d in (1, 2, 31)]
P_TAGS = ['{"team":"a"}', '{"team":"b"}', '{"env":"x"}', ""]
charge_rows = st.lists(st.fixed_dictionaries({
    "day": st.sampled_from(P_DAYS), "model": st.sampled_from(["gpt-4o", "gpt-4o-mini"]),
    "account": st.sampled_from(["default", "proj_a"]),
    "kind": st.sampled_from(["input", "output", "capacity"]),
    "tags": st.sampled_from(P_TAGS), "resource": st.sampled_from(["", "r1", "R2"]),
    "amount": st.decimals(min_value=Decimal("0"), max_value=Decimal("500"), places=6,
                          allow_nan=False, allow_infinity=False),
}), max_size=20)
span_rows = st.lists(st.fixed_dictionaries({
    "day": st.sampled_from(P_DAYS), "model": st.sampled_from(["gpt-4o", "gpt-4o-mini"]),
    "account": st.sampled_from(["", "proj_a"]), "team": st.sampled_from(["a", "c", "d"]),
    "input_tokens": st.integers(0, 2_000_000), "output_tokens": st.integers(0, 200_000),
}), max_size=12, unique_by=lambda r: (r["day"], r["model"], r["account"], r["team"]))


def charges_and_bill(rows):
    charges = []
    for r in rows:
        cap = r["kind"] == "capacity"
        charges.append({
            "day": r["day"], "provider": "openai", "account": r["account"], "model": r["model"],
            "service_tier": "standard", "token_type": "other" if cap else r["kind"],
            "line_item": f"PTU {r['model']}" if cap else f"{r['model']}, {r['kind']}",
            "resource_id": r["resource"], "tags": r["tags"],
            "capacity": "provisioned" if cap else "on_demand", "rows": 1, "amount": r["amount"],
            "currency": "USD", "billed_tokens": None})
    keys = ["day", "provider", "account", "model", "service_tier", "token_type", "line_item",
            "resource_id", "tags", "capacity", "currency"]
    frame = (pl.DataFrame(charges, schema=CHARGES_SCHEMA) if charges
             else pl.DataFrame(schema=CHARGES_SCHEMA))
    frame = frame.group_by(keys).agg(pl.col("rows").sum(), pl.col("amount").sum(),
                                     pl.col("billed_tokens").first()).select(list(CHARGES_SCHEMA))
    bill = [{"day": r["day"], "account": r["account"], "model": r["model"],
             "token_type": r["token_type"], "line_item": r["line_item"], "amount": r["amount"]}
            for r in frame.group_by(["day", "account", "model", "token_type", "line_item"])
            .agg(pl.col("amount").sum()).iter_rows(named=True)]
    return frame, billing(bill)


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(charge_rows, span_rows)
def test_tag_and_capacity_splits_are_exact(rows, spans):
    """Σ allocated = Σ billed; on a 'tag' line each rule's team gets exactly its charges' money;
    capacity on a line with spans goes only to teams with spans that day."""
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        config = parse_config({
            "warehouse": {"path": str(root / "w.duckdb")},
            "pricing": {"dir": str(write_prices(root / "pricing"))},
            "teams": {"a": {"tags": {"team": "a"}}, "b": {"tags": [{"team": "b"}],
                                                             "resources": ["r2"]}},
        })
        charges, bill = charges_and_bill(rows)
        con = connect(config.warehouse)
        replace_window(con, "usage", "spans", OCT.window_start, OCT.window_end, usage(
            [{**s, "provider": "openai", "project": "p", "feature": "f"} for s in spans]))
        replace_window(con, "billing", "bills", OCT.window_start, OCT.window_end, bill,
                       providers=["openai"], charges=charges)
        reconcile(con, config, OCT, TODAY)
        billed = sum((r["amount"] for r in rows), Decimal(0))
        assert con.execute("SELECT coalesce(sum(allocated), 0) FROM recon_alloc").fetchone()[0] == billed
        # the money of each tag line's charges, by the team its rule names (resource first)
        want: dict[str, Decimal] = {}
        tag_lines = {(r[0], r[1], r[2], r[3]) for r in con.execute(
            "SELECT day, account, model, token_type FROM recon_bill_match WHERE matched_by = 'tag'"
        ).fetchall()}
        for r in charges.iter_rows(named=True):
            line_model = r["line_item"] if r["token_type"] == "other" else r["model"]
            if (r["day"], r["account"], line_model, r["token_type"]) not in tag_lines:
                continue
            team = ("b" if r["resource_id"] == "R2" else
                    {"": None, '{"team":"a"}': "a", '{"team":"b"}': "b"}.get(r["tags"]))
            if team:
                want[team] = want.get(team, Decimal(0)) + r["amount"]
        got = dict(con.execute("SELECT team, sum(allocated) FROM recon_alloc "
                               "WHERE basis IN ('tag', 'resource') GROUP BY team").fetchall())
        assert {t: v for t, v in got.items() if v} == {t: v for t, v in want.items() if v}
        # capacity weighed by spans goes to teams with spans that day, never to tag teams
        wrong = con.execute("""
            SELECT count(*) FROM recon_alloc a
            WHERE a.basis IN ('capacity', 'capacity_day') AND a.allocated <> 0
              AND NOT EXISTS (SELECT 1 FROM usage_daily u WHERE u.day = a.day AND u.team = a.team)
        """).fetchone()[0]
        assert wrong == 0
        event(f"tag lines: {bool(tag_lines)}")
        event("bases: " + ",".join(sorted(b for (b,) in con.execute(
            "SELECT DISTINCT basis FROM recon_alloc WHERE basis IN "
            "('tag', 'resource', 'untagged', 'capacity', 'capacity_day')").fetchall())))
        con.close()


def test_a_load_whose_charges_do_not_add_up_is_refused(tmp_path):
    config = parse_config({"warehouse": {"path": str(tmp_path / "w.duckdb")}})
    charges, bill = charges_and_bill([{"day": P_DAYS[0], "model": "gpt-4o", "account": "default",
                                       "kind": "input", "tags": "", "resource": "",
                                       "amount": Decimal("1.000001")}])
    con = connect(config.warehouse)
    off = charges.with_columns(amount=pl.col("amount") + Decimal("0.000001"))
    with pytest.raises(DataError, match=r"bills 2026-10-01\.\.2026-11-01: charges of openai default "
                                        r"gpt-4o input 'gpt-4o, input' on 2026-10-01 add up to "
                                        r"1\.000002, the billing row to 1\.000001"):
        replace_window(con, "billing", "bills", OCT.window_start, OCT.window_end, bill, charges=off)
    assert con.execute("SELECT count(*) FROM billing_daily").fetchone()[0] == 0  # rolled back
    replace_window(con, "billing", "bills", OCT.window_start, OCT.window_end, bill, charges=charges)
    assert con.execute("SELECT sum(amount) FROM billing_charges").fetchone()[0] == Decimal("1.000001")
    con.close()
