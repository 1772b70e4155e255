"""OpenAI billing: parsers over the spec fixtures, file mode, the API against a loopback fake."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from fake_billing_servers import (
    FIXTURES,
    FakeOpenAI,
    Fault,
    Sleeps,
    loopback,
    midnight,
    openai_cost,
    openai_usage,
)

from finops.billing import openai
from finops.config import BillingSource
from finops.errors import ConfigError, DataError, SourceError

KEY = "sk-admin-Qm9vYmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZg-T3BlbkFJx7y8z9"
W0, W1 = date(2026, 10, 1), date(2026, 10, 8)
D1, D3, D5, D7 = (date(2026, 10, d) for d in (1, 3, 5, 7))
GPT4O = "gpt-4o-2024-08-06"
GPT41 = "gpt-4.1-2025-04-14"
MINI = "gpt-4o-mini-2024-07-18"

# Hand-computed: gpt-4o 500k input × $2.50/M = 1.25, 250k cached × $1.25/M = 0.3125,
# 200k output × $10/M = 2.00; web search 0.25; gpt-4.1 priority 200k input × $3.50/M = 0.70,
# 100k output × $8/M = 0.80; vector storage 0.10; mini 1M input × $0.15/M = 0.15;
# 0.123456789 rounds half-even to 0.123457.
COSTS = {
    D1: [openai_cost(1.25, f"{GPT4O}, input", "proj_a"),
         openai_cost(0.3125, f"{GPT4O}, cached input", "proj_a"),
         openai_cost(2.0, f"{GPT4O}, output", "proj_a"),
         openai_cost(0.25, "web search tool calls", "proj_a")],
    D3: [openai_cost(0.7, "priority | gpt-4.1, input", "proj_b"),
         openai_cost(0.8, f"{GPT41}, output", "proj_b"),
         openai_cost(0.1, "Vector storage", None)],
    D5: [openai_cost(0.15, f"{MINI}, input", "proj_a", quantity=1000, unit="1000_tokens")],
    D7: [openai_cost(0.123456789, f"{GPT4O}, input", "proj_a")],
}
USAGE = {
    D1: [openai_usage(GPT4O, 750_000, 250_000, 200_000, project_id="proj_a")],
    D3: [openai_usage(GPT41, 200_000, 0, 0, project_id="proj_b", service_tier="priority"),
         openai_usage(GPT41, 0, 0, 100_000, project_id="proj_b")],
    D5: [openai_usage(MINI, 1_200_000, 0, 0, project_id="proj_a")],
}
TOTAL = Decimal("5.685957")


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
    return KEY


@pytest.fixture
def fake(key: str):
    with loopback() as server:
        yield FakeOpenAI(server, key, costs=COSTS, usage=USAGE)


def api_source(fake: FakeOpenAI, **opts) -> BillingSource:
    return BillingSource("openai", "openai",
                         {"base_url": fake.base_url, "timeout": 2, "page_limit": 3, **opts})


def rows(pull) -> dict[tuple, tuple]:
    return {(r["day"], r["account"], r["model"], r["service_tier"], r["token_type"],
             r["line_item"]): (r["amount"], r["billed_tokens"])
            for r in pull.frame.iter_rows(named=True)}


# ----------------------------------------------------------------- parsers and files

def test_spec_fixture_pages_2025_and_2026_shapes():
    for name in ("openai_costs_response_spec2025.json", "openai_costs_response_spec2026.json"):
        page = json.loads((FIXTURES / name).read_text())
        [row] = openai.parse_costs_page(page, "t")
        assert row.day == date(2024, 11, 1)
        assert row.amount == Decimal("0.060000") and row.currency == "USD"
        assert row.account == "default" and not row.item.matched


def test_usage_tokens_made_disjoint_in_both_shapes():
    [new] = openai.parse_usage_page(
        json.loads((FIXTURES / "openai_usage_completions_response_spec2026.json").read_text()), "t")
    assert new.tokens == {"input": 500, "cache_read": 400, "cache_write": 100, "output": 500}
    [old] = openai.parse_usage_page(
        json.loads((FIXTURES / "openai_usage_completions_response_spec2025.json").read_text()), "t")
    assert old.tokens == {"input": 200, "cache_read": 800, "cache_write": 0, "output": 500}
    assert old.model == "" and old.account == "default" and old.service_tier == "standard"
    # without input_uncached_tokens, input = input_tokens − cached − cache writes
    res = openai_usage(MINI, 5000, 1800, 1000, cache_write=200)
    page = {"data": [{"start_time": midnight(D1), "results": [res]}]}
    [row] = openai.parse_usage_page(page, "t")
    assert row.tokens["input"] == 3000 and row.service_tier == "standard"
    batch = openai_usage(MINI, 10, 0, 1, batch=True)
    [row] = openai.parse_usage_page({"data": [{"start_time": 0, "results": [batch]}]}, "t")
    assert row.service_tier == "batch"


def test_file_mode_pages_arrays_window_and_result_spelling(tmp_path: Path):
    # the 2025 spec's "result" spelling, an unaligned first bucket (cookbook: 1736616660),
    # an array of pages, and a day outside the window
    pages = [
        {"object": "page", "data": [
            {"object": "bucket", "start_time": 1736616660, "end_time": 1736640000,
             "result": [openai_cost(1.5, f"{GPT4O}, input", shape=2025)]},
            {"object": "bucket", "start_time": 1736640000, "end_time": 1736726400,
             "results": []}], "has_more": True, "next_page": "page_x"},
        {"object": "page", "data": [
            {"object": "bucket", "start_time": 1736726400, "end_time": 1736812800,
             "results": [openai_cost(2.25, f"{GPT4O}, output")]},
            {"object": "bucket", "start_time": 1736812800, "end_time": 1736899200,
             "results": [openai_cost(9.0, f"{GPT4O}, output")]}],
         "has_more": False, "next_page": None},
    ]
    costs = tmp_path / "costs.json"
    costs.write_text(json.dumps(pages))
    usage = tmp_path / "usage.json"
    usage.write_text(json.dumps({"data": [{"start_time": 1736616660, "results": [
        openai_usage(GPT4O, 600_000, 0, 0, shape=2025)]}]}))
    src = BillingSource("saved", "openai_files", {"costs": [str(costs)], "usage": [str(usage)]})
    seen = []
    pulled = openai.pull(src, date(2025, 1, 11), date(2025, 1, 14),
                         progress=lambda *a: seen.append(a))
    got = rows(pulled)
    assert got == {
        (date(2025, 1, 11), "proj_abc", GPT4O, "standard", "input", f"{GPT4O}, input"):
            (Decimal("1.5"), 600_000),
        (date(2025, 1, 13), "proj_abc", GPT4O, "standard", "output", f"{GPT4O}, output"):
            (Decimal("2.25"), None),
    }
    assert pulled.providers == ["openai"] and set(pulled.frame["source"]) == {"saved"}
    assert sum(pulled.frame["amount"]) == Decimal("3.75")
    assert seen == [("saved files", 1, None), ("saved files", 2, None)]


def test_quantity_wins_and_alias_and_long_context():
    page = {"data": [{"start_time": midnight(D1), "results": [
        openai_cost(0.5, "priority | gpt-4.1, input", quantity=None),
        openai_cost(0.4, f"{GPT41}, input", quantity=None),
        openai_cost(0.3, f"{GPT41}, input, long context"),
        openai_cost(0.06, "input_tokens", quantity=10000, unit="tokens"),
        openai_cost(0.2, f"{MINI}, output", quantity=12.5, unit="1000_tokens"),
    ]}]}
    usage = {"data": [{"start_time": midnight(D1), "results": [
        openai_usage(GPT41, 100, 0, 0, service_tier="priority"),
        openai_usage(GPT41, 70, 0, 0),
        openai_usage(MINI, 0, 0, 999),
    ]}]}
    pulled = openai.assemble(openai.parse_costs_page(page, "c"),
                             openai.parse_usage_page(usage, "u"), "s", W0, W1)
    got = {k[5]: v[1] for k, v in rows(pulled).items()}
    assert got == {
        "priority | gpt-4.1, input": 100,  # alias → the dated snapshot's priority usage
        f"{GPT41}, input": 70,  # first line item of the cell carries the tokens
        f"{GPT41}, input, long context": None,
        "input_tokens": 10000,  # unmatched, but its quantity is kept
        f"{MINI}, output": 12500,  # quantity in 1000_tokens wins over usage's 999
    }
    assert any("'input_tokens'" in n for n in pulled.notes)
    assert any("long context" in n for n in pulled.notes)


@pytest.mark.parametrize("mutate, message", [
    (lambda p: p["data"][0]["results"][1]["amount"].pop("value"),
     "data[0].results[1].amount.value missing"),
    (lambda p: p["data"][0]["results"][1]["amount"].update(value="1.25"),
     "data[0].results[1].amount.value expected a number, got string"),
    (lambda p: p["data"][0]["results"][1]["amount"].update(currency="zzz"),
     "data[0].results[1].amount.currency unknown currency 'zzz'"),
    (lambda p: p["data"][0].pop("start_time"), "data[0].start_time missing"),
    (lambda p: p["data"][0]["results"][1].update(quantity=-5),
     "data[0].results[1].quantity is negative"),
    (lambda p: p.pop("data"), "data missing"),
])
def test_bad_costs_name_file_and_path(tmp_path: Path, mutate, message):
    page = {"data": [{"start_time": midnight(D1), "results": COSTS[D1][:2]}]}
    page = json.loads(json.dumps(page))
    mutate(page)
    f = tmp_path / "costs.json"
    f.write_text(json.dumps([page]))
    src = BillingSource("oa", "openai_files", {"costs": [str(f)]})
    with pytest.raises(DataError) as e:
        openai.pull(src, W0, W1)
    assert str(e.value).startswith(f"oa costs {f}: [0].{message}")


def test_bad_usage_negative_and_inconsistent(tmp_path: Path):
    bad = openai_usage(MINI, 10, 0, 5)
    bad["output_tokens"] = -1
    with pytest.raises(DataError, match=r"u: data\[0\].results\[0\].output_tokens is negative"):
        openai.parse_usage_page({"data": [{"start_time": 0, "results": [bad]}]}, "u")
    worse = openai_usage(MINI, 10, 20, 5)
    with pytest.raises(DataError, match=r"input_cached_tokens plus cache writes \(20\) exceed"):
        openai.parse_usage_page({"data": [{"start_time": 0, "results": [worse]}]}, "u")


def test_file_errors(tmp_path: Path):
    f = tmp_path / "costs.json"
    f.write_text('{"object": "page", "data": [')
    src = BillingSource("oa", "openai_files", {"costs": [str(f)]})
    with pytest.raises(DataError, match=r"oa costs .*costs.json: not valid JSON"):
        openai.pull(src, W0, W1)
    missing = BillingSource("oa", "openai_files", {"costs": [str(tmp_path / "nope.json")]})
    with pytest.raises(DataError, match="file not found"):
        openai.pull(missing, W0, W1)
    with pytest.raises(ConfigError, match="'costs' lists no files"):
        openai.pull(BillingSource("oa", "openai_files", {}), W0, W1)


# ----------------------------------------------------------------- API

def test_api_pull_pages_money_and_tokens(fake: FakeOpenAI):
    seen = []
    pulled = openai.pull(api_source(fake), W0, W1, progress=lambda *a: seen.append(a))
    assert sum(pulled.frame["amount"]) == TOTAL
    got = rows(pulled)
    assert got[(D1, "proj_a", GPT4O, "standard", "input", f"{GPT4O}, input")] == \
        (Decimal("1.25"), 500_000)
    assert got[(D1, "proj_a", GPT4O, "standard", "cache_read", f"{GPT4O}, cached input")] == \
        (Decimal("0.3125"), 250_000)
    assert got[(D1, "proj_a", GPT4O, "standard", "output", f"{GPT4O}, output")] == \
        (Decimal("2"), 200_000)
    assert got[(D1, "proj_a", "", "standard", "other", "web search tool calls")] == \
        (Decimal("0.25"), None)
    assert got[(D3, "proj_b", "gpt-4.1", "priority", "input", "priority | gpt-4.1, input")] == \
        (Decimal("0.7"), 200_000)
    assert got[(D3, "proj_b", GPT41, "standard", "output", f"{GPT41}, output")] == \
        (Decimal("0.8"), 100_000)
    assert got[(D3, "default", "", "standard", "other", "Vector storage")] == \
        (Decimal("0.1"), None)
    assert got[(D5, "proj_a", MINI, "standard", "input", f"{MINI}, input")] == \
        (Decimal("0.15"), 1_000_000)
    assert got[(D7, "proj_a", GPT4O, "standard", "input", f"{GPT4O}, input")] == \
        (Decimal("0.123457"), None)
    assert len(got) == 9
    # 7 daily buckets, 3 per page: 3 pages per endpoint, cursors passed back
    costs_reqs, usage_reqs = fake.requests("costs"), fake.requests("usage")
    assert len(costs_reqs) == 3 and len(usage_reqs) == 3
    first = costs_reqs[0]
    assert first["start_time"] == [str(midnight(W0))] and first["end_time"] == [str(midnight(W1))]
    assert first["bucket_width"] == ["1d"] and first["limit"] == ["3"]
    assert first["group_by[]"] == ["project_id", "line_item"] and "page" not in first
    assert costs_reqs[1]["page"] and costs_reqs[2]["page"] != costs_reqs[1]["page"]
    assert set(usage_reqs[0]["group_by[]"]) == {"model", "project_id", "batch", "service_tier", "api_key_id"}
    assert seen == [("openai costs", n, None) for n in (1, 2, 3)] + \
        [("openai usage", n, None) for n in (1, 2, 3)]
    assert pulled.stats["pages"] == 6 and pulled.stats["requests"] == 6
    assert any("web search tool calls" in n and "Vector storage" in n for n in pulled.notes)


def test_page_limits_are_capped(fake: FakeOpenAI):
    openai.pull(api_source(fake, page_limit=500), W0, W1)
    assert fake.requests("costs")[0]["limit"] == ["180"]
    assert fake.requests("usage")[0]["limit"] == ["31"]


def test_fake_accepts_both_array_encodings(fake: FakeOpenAI, key: str):
    hdr = {"Authorization": f"Bearer {key}"}
    base = {"start_time": midnight(W0), "end_time": midnight(W1), "limit": 7}
    for name in ("group_by", "group_by[]"):
        r = requests.get(fake.base_url + "/v1/organization/costs", headers=hdr, timeout=5,
                         params={**base, name: ["line_item", "project_id"]})
        assert r.status_code == 200, r.text
        assert len(r.json()["data"]) == 7


def test_unaligned_first_bucket_and_empty_buckets(key: str):
    with loopback() as server:
        fake = FakeOpenAI(server, key, costs=COSTS, first_bucket_offset=3600,
                          bucket_key="result")
        pulled = openai.pull(api_source(fake), W0, W1)
    assert sum(pulled.frame["amount"]) == TOTAL  # the 01:00 first bucket is still Oct 1


def test_429_retry_after_is_honoured(fake: FakeOpenAI):
    fake.fail("costs", Fault(429, {"Retry-After": "7"}, '{"error": {"message": "slow down"}}'))
    sleeps = Sleeps()
    pulled = openai.pull(api_source(fake), W0, W1, sleep=sleeps)
    assert sleeps == [7.0]
    assert sum(pulled.frame["amount"]) == TOTAL


def test_429_without_retry_after_backs_off(fake: FakeOpenAI):
    fake.fail("usage", Fault(429), Fault(429))
    sleeps = Sleeps()
    pulled = openai.pull(api_source(fake), W0, W1, sleep=sleeps)
    assert len(sleeps) == 2 and all(0 < s <= 60 for s in sleeps)
    assert sum(pulled.frame["amount"]) == TOTAL


def test_5xx_then_success(fake: FakeOpenAI):
    fake.fail("costs", Fault(500, body="oops"), Fault(503, {"Retry-After": "2"}))
    sleeps = Sleeps()
    pulled = openai.pull(api_source(fake), W0, W1, sleep=sleeps)
    assert len(sleeps) == 2 and sleeps[1] == 2.0
    assert sum(pulled.frame["amount"]) == TOTAL


def test_5xx_until_give_up(fake: FakeOpenAI):
    fake.fail("costs", *[Fault(502, body="<html><body>Bad gateway</body></html>")] * 3)
    with pytest.raises(SourceError) as e:
        openai.pull(api_source(fake, attempts=3), W0, W1, sleep=Sleeps())
    assert "openai costs 2026-10-01..2026-10-08 page 1: HTTP 502 after 3 attempts" in str(e.value)
    assert "HTML page" in str(e.value)


def test_timeout_then_success_and_give_up(fake: FakeOpenAI):
    fake.fail("costs", Fault(delay=1.0))
    sleeps = Sleeps()
    pulled = openai.pull(api_source(fake, timeout=0.2), W0, W1, sleep=sleeps)
    assert len(sleeps) == 1 and sum(pulled.frame["amount"]) == TOTAL
    fake.fail("usage", Fault(delay=0.6), Fault(delay=0.6))
    with pytest.raises(SourceError, match=r"openai usage .* timed out after 0.2s \(2 attempts\)"):
        openai.pull(api_source(fake, timeout=0.2, attempts=2), W0, W1, sleep=Sleeps())


@pytest.mark.parametrize("fault, message", [
    (Fault(200, body='{"object": "page", "data": [{"object": "bu'), "response is not JSON"),
    (Fault(200, {"content-type": "text/html"}, "<!DOCTYPE html><html>Gateway</html>"),
     "response is not JSON: an HTML page"),
    (Fault(404, {"content-type": "text/html"}, "<html><body>Not Found</body></html>"),
     "HTTP 404: an HTML page"),
    (Fault(200, body='["not", "a", "page"]'), "page 1: expected a JSON object"),
    (Fault(200, body=json.dumps({"object": "page", "data": [{"start_time": "1730419200",
                                                             "results": []}]})),
     "page 1: data[0].start_time expected an integer, got string"),
    (Fault(200, body=json.dumps({"object": "page", "data": [{"start_time": 1730419200,
                                                             "results": {}}]})),
     "page 1: data[0].results expected an array, got object"),
])
def test_malformed_bodies(fake: FakeOpenAI, fault: Fault, message: str):
    fake.fail("costs", fault)
    with pytest.raises(DataError) as e:
        openai.pull(api_source(fake), W0, W1, sleep=Sleeps())
    assert str(e.value).startswith("openai costs 2026-10-01..2026-10-08")
    assert message in str(e.value)
    assert len(fake.requests("costs")) == 1


def test_wrong_key_401_explained_and_not_retried(fake: FakeOpenAI, monkeypatch):
    monkeypatch.setenv("PROJECT_KEY", "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789")
    sleeps = Sleeps()
    with pytest.raises(SourceError) as e:
        openai.pull(api_source(fake, admin_key_env="PROJECT_KEY"), W0, W1, sleep=sleeps)
    msg = str(e.value)
    assert "HTTP 401: an Admin API key is required (sk-admin-…), not a project/API key" in msg
    assert "PROJECT_KEY" in msg and "sk-proj-abcdefghij" not in msg
    assert sleeps == [] and len(fake.requests("costs")) == 1


def test_400_not_retried(fake: FakeOpenAI):
    fake.fail("costs", Fault(400, body=json.dumps({"error": {
        "type": "invalid_request_error", "message": "limit too large", "param": "limit",
        "code": None}})))
    with pytest.raises(SourceError, match="HTTP 400: bad request: limit too large"):
        openai.pull(api_source(fake), W0, W1, sleep=Sleeps())
    assert len(fake.requests("costs")) == 1


def test_repeated_cursor_stops(fake: FakeOpenAI):
    fake.repeat_cursor = True
    with pytest.raises(SourceError, match="repeated; stopping instead of looping"):
        openai.pull(api_source(fake, page_limit=2), W0, W1)
    assert len(fake.requests("costs")) == 2  # page 2 repeats page 1's cursor


def test_missing_key_env_is_config_error(monkeypatch):
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
    with pytest.raises(ConfigError, match="environment variable OPENAI_ADMIN_KEY is not set"):
        openai.pull(BillingSource("openai", "openai", {}), W0, W1)


def test_key_never_leaks(fake: FakeOpenAI, key: str, monkeypatch):
    texts: list[str] = []
    pulled = openai.pull(api_source(fake), W0, W1, sleep=Sleeps())
    texts += pulled.notes + [str(v) for col in pulled.frame.columns for v in pulled.frame[col]]
    texts.append(repr(openai.client(api_source(fake))))
    # failures: the server echoes the key in its error body; 5xx give-up; timeouts; bad key
    fake.fail("costs", Fault(500, body=json.dumps({"error": {"message": f"boom {key}"}})))
    fake.fail("usage", Fault(400, body=json.dumps({"error": {"message": f"bad key {key}"}})))
    for opts in ({"attempts": 1}, {}, {"timeout": 0.1, "attempts": 1}):
        if "timeout" in opts:
            fake.fail("costs", Fault(delay=0.4))
        with pytest.raises(SourceError) as e:
            openai.pull(api_source(fake, **opts), W0, W1, sleep=Sleeps())
        texts += [str(e.value), repr(e.value)]
    fake.key = "sk-admin-someotherkeyvalue0000"  # the server now rejects ours and echoes it
    with pytest.raises(SourceError) as e:
        openai.pull(api_source(fake), W0, W1, sleep=Sleeps())
    texts += [str(e.value), repr(e.value)]
    assert "Incorrect API key" in str(e.value)
    for t in texts:
        assert key not in t and key[:20] not in t, t


@pytest.mark.parametrize(("kind", "opts", "message"), [
    # a mistyped base_url must not quietly send the admin key to api.openai.com
    ("openai", {"base_ur": "http://127.0.0.1:1"}, "unknown option 'base_ur' (did you mean 'base_url'?)"),
    ("openai", {"costs": ["c.json"]}, "unknown option 'costs'"),  # a files option on the API kind
    ("openai_files", {"costs": ["c.json"], "usgae": ["u.json"]}, "unknown option 'usgae' (did you mean 'usage'?)"),
])
def test_unknown_billing_options_are_refused(fake: FakeOpenAI, kind: str, opts: dict, message: str):
    with pytest.raises(ConfigError, match=re.escape(f"billing source oa: {message}")):
        openai.pull(BillingSource("oa", kind, opts), W0, W1, sleep=Sleeps())
    assert fake.requests("costs") == [] and fake.requests("usage") == []


def test_request_counts_ride_on_one_row_and_premiums_and_credits_are_named():
    start = midnight(D1)
    costs = {"object": "page", "has_more": False, "next_page": None, "data": [
        {"object": "bucket", "start_time": start, "end_time": start + 86400, "results": [
            openai_cost(1.25, f"{GPT4O}, input", "proj_a"),
            openai_cost(2.0, f"{GPT4O}, output", "proj_a"),
            openai_cost(0.5, f"{GPT4O}, input, long context", "proj_a"),
            openai_cost(0.7, "priority | gpt-4.1, input", "proj_b"),
            openai_cost(-3.0, "Credit grant", None)]}]}
    a = openai_usage(GPT4O, 600_000, 0, 200_000, project_id="proj_a")
    b = openai_usage(GPT41, 200_000, 0, 0, project_id="proj_b", service_tier="priority")
    a["num_model_requests"], b["num_model_requests"] = 42, 7
    usage = {"object": "page", "has_more": False, "next_page": None, "data": [
        {"object": "bucket", "start_time": start, "end_time": start + 86400, "results": [a, b]}]}
    pulled = openai.assemble(openai.parse_costs_page(costs, "c"), openai.parse_usage_page(usage, "u"),
                             "oa", W0, W1)
    got = {r["line_item"]: (r["amount"], r["billed_requests"], r["premium"])
           for r in pulled.frame.iter_rows(named=True)}
    # each usage key's requests once, on its input row; the other rows carry none
    assert got == {f"{GPT4O}, input": (Decimal("1.25"), 42, None),
                   f"{GPT4O}, output": (Decimal("2"), None, None),
                   f"{GPT4O}, input, long context": (Decimal("0.5"), None, "long_context"),
                   "priority | gpt-4.1, input": (Decimal("0.7"), 7, "priority"),
                   "Credit grant": (Decimal("-3"), None, None)}
    assert sum(pulled.frame["billed_requests"].drop_nulls()) == 49
    assert any("1 credit line(s) (negative amounts) totalling -3.00: 'Credit grant'" in n for n in pulled.notes)
