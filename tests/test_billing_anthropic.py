"""Anthropic billing: cost/usage report parsers, file mode, and the API against a loopback fake."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from fake_billing_servers import (
    FIXTURES,
    FakeAnthropic,
    Fault,
    Sleeps,
    anthropic_cost,
    anthropic_usage,
    loopback,
)

from finops.billing import anthropic
from finops.config import BillingSource
from finops.errors import ConfigError, DataError, SourceError

KEY = "sk-ant-admin01-Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3Bx-AbCdEfAA"
A1, A2, A3, A4 = (date(2025, 8, d) for d in (1, 2, 3, 4))
SONNET = "claude-sonnet-4-20250514"
HAIKU = "claude-haiku-4-5-20251001"
WS = "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"

# Hand-computed (cents → dollars): sonnet 1.5M input × $3/M = 4.50, 100k long-context input
# × $6/M = 0.60, 500k output × $15/M = 7.50, 200k cache read × $0.30/M = 0.06,
# 50k 5-minute writes × $3.75/M = 0.1875, 100k 1-hour writes × $6/M = 0.60, 100 web searches
# = 1.00, haiku 1,237,891 input × $1/M = 1.237891 ("123.78912" cents, half-even to 6 dp),
# code execution 0.055, batch 1M input × $1.50/M = 1.50.
COSTS = {
    A1: [
        anthropic_cost("450.00", "Claude Sonnet 4 Usage - Input Tokens", "uncached_input_tokens"),
        anthropic_cost("60", "Claude Sonnet 4 Usage - Input Tokens - Long Context",
                       "uncached_input_tokens", context_window="200k-1M"),
        anthropic_cost("750", "Claude Sonnet 4 Usage - Output Tokens", "output_tokens"),
        anthropic_cost("6", "Claude Sonnet 4 Usage - Cache Read", "cache_read_input_tokens"),
        anthropic_cost("18.75", "Claude Sonnet 4 Usage - Cache Write 5m",
                       "cache_creation.ephemeral_5m_input_tokens"),
        anthropic_cost("60.00", "Claude Sonnet 4 Usage - Cache Write 1h",
                       "cache_creation.ephemeral_1h_input_tokens"),
        anthropic_cost("100", "Web Search Usage", None, model=None, service_tier=None,
                       context_window=None, cost_type="web_search"),
        anthropic_cost("123.78912", "Claude Haiku 4.5 Usage - Input Tokens",
                       "uncached_input_tokens", model=HAIKU, workspace_id=None),
    ],
    A3: [
        anthropic_cost("5.5", "Code Execution Usage", None, model=None, service_tier=None,
                       context_window=None, cost_type="code_execution"),
        anthropic_cost("150", "Claude Sonnet 4 Batch Usage - Input Tokens",
                       "uncached_input_tokens", service_tier="batch"),
    ],
}
USAGE = {
    A1: [
        anthropic_usage(1_500_000, 200_000, 50_000, 100_000, 500_000),
        anthropic_usage(100_000, 0, 0, 0, 0, context_window="200k-1M"),
        anthropic_usage(1_237_891, 0, 0, 0, 0, model=HAIKU, workspace_id=None),
        anthropic_usage(10_000, 0, 0, 0, 2_000, service_tier="priority"),
    ],
    A3: [anthropic_usage(1_000_000, 0, 0, 0, 0, service_tier="batch")],
}
TOTAL = Decimal("17.240391")


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", KEY)
    return KEY


@pytest.fixture
def fake(key: str):
    with loopback() as server:
        yield FakeAnthropic(server, key, costs=COSTS, usage=USAGE)


def api_source(fake: FakeAnthropic, **opts) -> BillingSource:
    return BillingSource("claude", "anthropic",
                         {"base_url": fake.base_url, "timeout": 2, "page_limit": 2, **opts})


def rows(pull) -> dict[tuple, tuple]:
    return {(r["day"], r["account"], r["model"], r["service_tier"], r["token_type"],
             r["line_item"]): (r["amount"], r["billed_tokens"])
            for r in pull.frame.iter_rows(named=True)}


# ----------------------------------------------------------------- parsers and files

def test_docs_fixtures_file_mode():
    src = BillingSource("saved", "anthropic_files", {
        "costs": [str(FIXTURES / "anthropic_cost_report_response_docs2025.json")],
        "usage": [str(FIXTURES / "anthropic_usage_report_messages_response_docs2025.json")]})
    pulled = anthropic.pull(src, A1, A2)
    assert rows(pulled) == {
        (A1, WS, SONNET, "standard", "input", "Claude Sonnet 4 Usage - Input Tokens"):
            (Decimal("1.237891"), 1500)}
    assert pulled.frame["currency"].to_list() == ["USD"]
    assert pulled.providers == ["anthropic"]
    # the other token types of the usage row have no cost row: said, not billed
    assert any("4 usage key(s)" in n for n in pulled.notes)
    assert anthropic.pull(src, A2, A3).frame.height == 0  # outside the window


def test_usage_report_token_mapping():
    page = json.loads((FIXTURES / "anthropic_usage_report_messages_response_docs2025.json")
                      .read_text())
    [u] = anthropic.parse_usage_page(page, "t")
    assert u.tokens == {"input": 1500, "cache_read": 200, "cache_write": 500,
                        "cache_write_1h": 1000, "output": 500}
    assert (u.day, u.account, u.model, u.service_tier, u.context_window) == \
        (A1, WS, SONNET, "standard", "0-200k")


def test_cost_token_types_and_cents():
    page = {"data": [{"starting_at": "2025-08-01T00:00:00Z", "ending_at": "2025-08-02T00:00:00Z",
                      "results": COSTS[A1]}]}
    got = {(c.token_type, c.line_item): c.amount for c in anthropic.parse_cost_page(page, "t")}
    assert got[("cache_write", "Claude Sonnet 4 Usage - Cache Write 5m")] == Decimal("0.1875")
    assert got[("cache_write_1h", "Claude Sonnet 4 Usage - Cache Write 1h")] == Decimal("0.6")
    assert got[("other", "Web Search Usage")] == Decimal("1")
    assert got[("input", "Claude Haiku 4.5 Usage - Input Tokens")] == Decimal("1.237891")
    # half-even at the 7th decimal: 0.0000125 → 0.000012, 0.0000135 → 0.000014
    tiny = [anthropic_cost("0.00125", "a", "output_tokens"),
            anthropic_cost("0.00135", "b", "output_tokens")]
    amounts = [c.amount for c in anthropic.parse_cost_page(
        {"data": [{"starting_at": "2025-08-01T00:00:00Z", "results": tiny}]}, "t")]
    assert amounts == [Decimal("0.000012"), Decimal("0.000014")]


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r.update(amount=450.0), "data[0].results[0].amount expected a string, got number"),
    (lambda r: r.update(amount="4,50"), "data[0].results[0].amount is not a decimal number"),
    (lambda r: r.pop("amount"), "data[0].results[0].amount missing"),
    (lambda r: r.update(currency="XBT"), "data[0].results[0].currency unknown currency 'XBT'"),
    (lambda r: r.update(service_tier="turbo"),
     "data[0].results[0].service_tier unknown service tier 'turbo'"),
])
def test_bad_cost_rows(tmp_path: Path, mutate, message):
    res = json.loads(json.dumps(COSTS[A1][0]))
    mutate(res)
    f = tmp_path / "cost.json"
    f.write_text(json.dumps({"data": [{"starting_at": "2025-08-01T00:00:00Z",
                                       "results": [res]}]}))
    src = BillingSource("claude", "anthropic_files", {"costs": [str(f)]})
    with pytest.raises(DataError) as e:
        anthropic.pull(src, A1, A4)
    assert str(e.value).startswith(f"claude cost_report {f}: {message}")


@pytest.mark.parametrize("mutate, message", [
    (lambda r: r.update(output_tokens=-3), "results[0].output_tokens is negative"),
    (lambda r: r.update(output_tokens="3"),
     "results[0].output_tokens expected a count, got string"),
    (lambda r: r.pop("cache_creation"), "results[0].cache_creation missing"),
    (lambda r: r["cache_creation"].pop("ephemeral_1h_input_tokens"),
     "results[0].cache_creation.ephemeral_1h_input_tokens missing"),
])
def test_bad_usage_rows(mutate, message):
    res = json.loads(json.dumps(USAGE[A1][0]))
    mutate(res)
    with pytest.raises(DataError, match=r"^u: data\[0\]\." + message.replace("[", r"\[")
                       .replace("]", r"\]")):
        anthropic.parse_usage_page({"data": [{"starting_at": "2025-08-01T00:00:00Z",
                                              "results": [res]}]}, "u")


def test_bad_bucket_time():
    with pytest.raises(DataError, match=r"data\[0\].starting_at is not an RFC 3339 time"):
        anthropic.parse_cost_page({"data": [{"starting_at": "yesterday", "results": []}]}, "c")


# ----------------------------------------------------------------- API

def test_api_pull_pages_money_tokens_and_priority_note(fake: FakeAnthropic):
    seen = []
    pulled = anthropic.pull(api_source(fake), A1, A4, progress=lambda *a: seen.append(a))
    assert sum(pulled.frame["amount"]) == TOTAL
    got = rows(pulled)
    assert got[(A1, WS, SONNET, "standard", "input", "Claude Sonnet 4 Usage - Input Tokens")] == \
        (Decimal("4.5"), 1_500_000)
    assert got[(A1, WS, SONNET, "standard", "input",
                "Claude Sonnet 4 Usage - Input Tokens - Long Context")] == (Decimal("0.6"), 100_000)
    assert got[(A1, WS, SONNET, "standard", "output", "Claude Sonnet 4 Usage - Output Tokens")] \
        == (Decimal("7.5"), 500_000)
    assert got[(A1, WS, SONNET, "standard", "cache_read", "Claude Sonnet 4 Usage - Cache Read")] \
        == (Decimal("0.06"), 200_000)
    assert got[(A1, WS, SONNET, "standard", "cache_write",
                "Claude Sonnet 4 Usage - Cache Write 5m")] == (Decimal("0.1875"), 50_000)
    assert got[(A1, WS, SONNET, "standard", "cache_write_1h",
                "Claude Sonnet 4 Usage - Cache Write 1h")] == (Decimal("0.6"), 100_000)
    assert got[(A1, WS, "", "standard", "other", "Web Search Usage")] == (Decimal("1"), None)
    assert got[(A1, "default", HAIKU, "standard", "input",
                "Claude Haiku 4.5 Usage - Input Tokens")] == (Decimal("1.237891"), 1_237_891)
    assert got[(A3, WS, "", "standard", "other", "Code Execution Usage")] == \
        (Decimal("0.055"), None)
    assert got[(A3, WS, SONNET, "batch", "input",
                "Claude Sonnet 4 Batch Usage - Input Tokens")] == (Decimal("1.5"), 1_000_000)
    assert len(got) == 10
    assert not any(r[3] == "priority" for r in got)  # no money invented for Priority
    assert ("claude: Anthropic Priority Tier usage (12000 tokens) is not in the cost report; "
            "it is billed separately") in pulled.notes
    # 3 daily buckets (+1 asked past the window, filtered out) at 2 per page: 2 pages per report
    cost_reqs = fake.requests("cost_report")
    assert len(cost_reqs) == 2 and len(fake.requests("usage_report")) == 2
    assert cost_reqs[0]["starting_at"] == ["2025-08-01T00:00:00Z"]
    assert cost_reqs[0]["ending_at"] == ["2025-08-05T00:00:00Z"]  # one day past: "buckets that end before"
    assert cost_reqs[0]["group_by[]"] == ["workspace_id", "description"]
    assert cost_reqs[0]["limit"] == ["2"] and cost_reqs[1]["page"]
    assert fake.requests("usage_report")[0]["group_by[]"] == \
        ["model", "workspace_id", "service_tier", "context_window", "api_key_id"]
    headers = fake.log[0][2]
    assert headers["Anthropic-Version"] == "2023-06-01" and headers["X-Api-Key"] == fake.key
    assert seen == [("claude cost_report", 1, None), ("claude cost_report", 2, None),
                    ("claude usage_report", 1, None), ("claude usage_report", 2, None)]


def test_limit_capped_at_31(fake: FakeAnthropic):
    anthropic.pull(api_source(fake, page_limit=100), A1, A4)
    assert fake.requests("cost_report")[0]["limit"] == ["31"]


def test_429_with_retry_after_is_retried(fake: FakeAnthropic):
    fake.fail("cost_report", Fault(429, {"retry-after": "3"}, json.dumps(
        {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}})))
    fake.fail("usage_report", Fault(529, body=json.dumps(
        {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})))
    sleeps = Sleeps()
    pulled = anthropic.pull(api_source(fake), A1, A4, sleep=sleeps)
    assert sleeps[0] == 3.0 and len(sleeps) == 2
    assert sum(pulled.frame["amount"]) == TOTAL


def test_spend_cap_429_without_retry_after_is_not_retried(fake: FakeAnthropic):
    fake.fail("cost_report", Fault(429, body=json.dumps(
        {"type": "error", "error": {"type": "rate_limit_error",
                                    "message": "monthly spend limit reached"}})))
    sleeps = Sleeps()
    with pytest.raises(SourceError) as e:
        anthropic.pull(api_source(fake), A1, A4, sleep=sleeps)
    assert str(e.value).startswith("claude cost_report 2025-08-01..2025-08-04 page 1: HTTP 429")
    assert "spend cap is reached (not retried" in str(e.value)
    assert sleeps == [] and len(fake.requests("cost_report")) == 1


def test_5xx_then_success_and_timeout(fake: FakeAnthropic):
    fake.fail("cost_report", Fault(500), Fault(delay=1.0))
    sleeps = Sleeps()
    pulled = anthropic.pull(api_source(fake, timeout=0.2), A1, A4, sleep=sleeps)
    assert len(sleeps) == 2 and sum(pulled.frame["amount"]) == TOTAL


@pytest.mark.parametrize("fault, error, message", [
    (Fault(200, body='{"data": [{"starting_at": "2025-08-01T00:00:00Z", "resu'), SourceError,
     "response is not JSON"),
    (Fault(503, {"content-type": "text/html", "retry-after": "1"},
           "<html><body>Service Unavailable</body></html>"), SourceError,
     "HTTP 503 after 2 attempts: an HTML page"),
    (Fault(200, body=json.dumps({"data": [{"starting_at": "2025-08-01T00:00:00Z", "results": [
        {**COSTS[A1][0], "amount": 450}]}], "has_more": False, "next_page": None})),
     DataError, "page 1: data[0].results[0].amount expected a string, got integer 450"),
    (Fault(200, body=json.dumps({"has_more": False})), DataError, "page 1: data missing"),
])
def test_malformed_bodies(fake: FakeAnthropic, fault: Fault, error, message: str):
    fake.fail("cost_report", fault, fault)
    with pytest.raises(error) as e:
        anthropic.pull(api_source(fake, attempts=2), A1, A4, sleep=Sleeps())
    assert str(e.value).startswith("claude cost_report 2025-08-01..2025-08-04")
    assert message in str(e.value)


def test_403_explained_and_not_retried(fake: FakeAnthropic, monkeypatch):
    monkeypatch.setenv("PLAIN_KEY", "sk-ant-api03-abcdefghijklmnopqrstuvwxyz")
    sleeps = Sleeps()
    fake.fail("cost_report", Fault(403, body=json.dumps(
        {"type": "error", "error": {"type": "permission_error", "message": "not an admin"}})))
    with pytest.raises(SourceError) as e:
        anthropic.pull(api_source(fake, admin_key_env="PLAIN_KEY"), A1, A4, sleep=sleeps)
    assert "HTTP 403: an Admin API key is required (sk-ant-admin…), not an API key; check " \
        "PLAIN_KEY (not an admin)" in str(e.value)
    assert sleeps == [] and len(fake.requests("cost_report")) == 1


def test_repeated_cursor_stops(fake: FakeAnthropic):
    fake.repeat_cursor = True
    with pytest.raises(SourceError, match="cursor .* repeated"):
        anthropic.pull(api_source(fake, page_limit=1), A1, A4)


def test_files_need_costs():
    with pytest.raises(ConfigError):
        anthropic.pull(BillingSource("c", "anthropic_files", {"usage": ["x.json"]}), A1, A4)
    with pytest.raises(ConfigError, match="not one of"):
        anthropic.pull(BillingSource("c", "anthropic_csv", {}), A1, A4)


def test_key_never_leaks(fake: FakeAnthropic, key: str):
    texts: list[str] = []
    pulled = anthropic.pull(api_source(fake), A1, A4, sleep=Sleeps())
    texts += pulled.notes + [str(v) for col in pulled.frame.columns for v in pulled.frame[col]]
    texts.append(repr(anthropic.client(api_source(fake))))
    texts.append(repr(anthropic.client(api_source(fake)).headers))
    echo = json.dumps({"type": "error", "error": {"type": "authentication_error",
                                                  "message": f"invalid x-api-key {key}"}})
    for faults, opts in (([Fault(401, body=echo)], {}),
                         ([Fault(429, body=echo)], {}),
                         ([Fault(500, body=echo)], {"attempts": 1}),
                         ([Fault(delay=0.4)], {"timeout": 0.1, "attempts": 1}),
                         ([Fault(200, body=echo[:40] + key)], {})):
        fake.fail("usage_report", *faults)
        with pytest.raises(SourceError) as e:
            anthropic.pull(api_source(fake, **opts), A1, A4, sleep=Sleeps())
        texts += [str(e.value), repr(e.value)]
    assert any("invalid x-api-key ***" in t for t in texts)
    for t in texts:
        assert key not in t and key[:24] not in t, t


def test_rows_the_bill_prices_above_base_carry_their_premium_and_stay_apart():
    base = anthropic_cost("300", "Claude Sonnet 4 Usage - Input Tokens", "uncached_input_tokens")
    long = anthropic_cost("600", "Claude Sonnet 4 Usage - Input Tokens", "uncached_input_tokens",
                          context_window="200k-1M")
    us = {**anthropic_cost("330", "Claude Sonnet 4 Usage - Input Tokens", "uncached_input_tokens"),
          "inference_geo": "us"}
    said = anthropic_cost("600", "Claude Sonnet 4 Usage - Input Tokens - Long Context",
                          "uncached_input_tokens", context_window="200k-1M")
    page = {"data": [{"starting_at": "2025-08-01T00:00:00Z", "results": [base, long, us, said]}]}
    got = {(c.line_item, c.premium) for c in anthropic.parse_cost_page(page, "t")}
    assert got == {("Claude Sonnet 4 Usage - Input Tokens", ()),
                   ("Claude Sonnet 4 Usage - Input Tokens, context 200k-1M", ("long_context",)),
                   ("Claude Sonnet 4 Usage - Input Tokens, geo us", ("geo:us",)),
                   ("Claude Sonnet 4 Usage - Input Tokens - Long Context", ("long_context",))}
    pulled = anthropic.assemble(anthropic.parse_cost_page(page, "t"), [], "a", A1, A2)
    assert sorted(map(str, pulled.frame["premium"].to_list())) == ["None", "geo:us", "long_context", "long_context"]
    assert pulled.frame["billed_requests"].null_count() == 4  # the usage report counts no requests
