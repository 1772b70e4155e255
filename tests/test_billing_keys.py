"""Billed tokens per API key and the key listings, against the loopback fakes and saved pages."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from fake_billing_servers import (
    FakeAnthropic,
    FakeOpenAI,
    Fault,
    Sleeps,
    anthropic_cost,
    anthropic_key,
    anthropic_usage,
    loopback,
    openai_cost,
    openai_key,
    openai_usage,
)

from finops.billing import anthropic, openai
from finops.billing.keys import safe_hint
from finops.config import BillingSource
from finops.errors import DataError, SourceError

OKEY = "sk-admin-Qm9vYmFyQmF6UXV4MTIzNDU2Nzg5MGFiY2RlZg-T3BlbkFJx7y8z9"
AKEY = "sk-ant-admin01-Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1ub3Bx-AbCdEfAA"
W0, W1 = date(2026, 10, 1), date(2026, 10, 3)
D1 = date(2026, 10, 1)
GPT4O = "gpt-4o-2024-08-06"
SONNET = "claude-sonnet-4-20250514"
WS = "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"

O_COSTS = {D1: [openai_cost(1.25, f"{GPT4O}, input", "proj_a"),
                openai_cost(2.0, f"{GPT4O}, output", "proj_a"),
                openai_cost(0.5, f"{GPT4O}, input", "proj_gone")]}
# proj_a: key_1 300k input / 150k output, key_2 200k / 50k; proj_gone: key_9 200k input
O_USAGE = {D1: [openai_usage(GPT4O, 300_000, 0, 150_000, project_id="proj_a", api_key_id="key_1"),
                openai_usage(GPT4O, 200_000, 0, 50_000, project_id="proj_a", api_key_id="key_2"),
                openai_usage(GPT4O, 200_000, 0, 0, project_id="proj_gone", api_key_id="key_9")]}
# 150 keys in proj_a: two pages of the 100-key listing
O_KEYS = {"proj_a": [openai_key("key_1", "ci-bot"), openai_key("key_2", "notebook", hint=None)]
          + [openai_key(f"key_x{i:03}", f"spare {i}") for i in range(148)]}


@pytest.fixture
def ofake(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_ADMIN_KEY", OKEY)
    with loopback() as server:
        yield FakeOpenAI(server, OKEY, costs=O_COSTS, usage=O_USAGE, keys=O_KEYS)


def osource(fake: FakeOpenAI, **opts) -> BillingSource:
    return BillingSource("openai", "openai", {"base_url": fake.base_url, "timeout": 2, **opts})


def tokens(pull) -> dict[tuple, int]:
    return {(r["account"], r["model"], r["token_type"], r["api_key"]): r["billed_tokens"]
            for r in pull.key_tokens.iter_rows(named=True)}


def test_openai_tokens_per_key_and_names_over_pages_and_a_deleted_project(ofake: FakeOpenAI):
    pulled = openai.pull(osource(ofake), W0, W1)
    assert tokens(pulled) == {
        ("proj_a", GPT4O, "input", "key_1"): 300_000, ("proj_a", GPT4O, "output", "key_1"): 150_000,
        ("proj_a", GPT4O, "input", "key_2"): 200_000, ("proj_a", GPT4O, "output", "key_2"): 50_000,
        ("proj_gone", GPT4O, "input", "key_9"): 200_000}
    assert sum(pulled.frame["amount"]) == Decimal("3.75")  # money still only from costs
    reqs = ofake.requests("api_keys")
    assert len(reqs) == 3  # proj_a: 2 pages (after = the first page's last_id); proj_gone: 404
    assert reqs[0]["limit"] == ["100"] and "after" not in reqs[0] and reqs[1]["after"] == ["key_x097"]
    keys = {r["api_key"]: r for r in pulled.api_keys.iter_rows(named=True)}
    assert len(keys) == 150
    assert (keys["key_1"]["name"], keys["key_1"]["hint"], keys["key_1"]["account"]) == \
        ("ci-bot", "sk-abc...def", "proj_a")
    assert keys["key_2"]["hint"] is None
    assert any("proj_gone: HTTP 404" in n for n in pulled.notes)
    assert any("1 API key(s) billed in the window are not in the key listing" in n and "key_9" in n
               for n in pulled.notes)


def test_openai_listing_retries_429_and_5xx(ofake: FakeOpenAI):
    ofake.fail("api_keys", Fault(429, {"Retry-After": "3"}), Fault(503, body="busy"))
    sleeps = Sleeps()
    pulled = openai.pull(osource(ofake), W0, W1, sleep=sleeps)
    assert sleeps[0] == 3.0 and len(sleeps) == 2 and pulled.api_keys.height == 150


def test_openai_listing_gives_up_and_names_the_page(ofake: FakeOpenAI):
    ofake.fail("api_keys", *[Fault(502, body="bad gateway")] * 2)
    with pytest.raises(SourceError, match=r"api_keys proj_a page 1: HTTP 502 after 2 attempts"):
        openai.pull(osource(ofake, attempts=2), W0, W1, sleep=Sleeps())


@pytest.mark.parametrize("body, message", [
    ('{"object": "list", "data": [{"id": "k', "response is not JSON"),
    (json.dumps({"object": "list", "data": [{"name": "x"}], "has_more": False}), "data[0].id"),
    (json.dumps({"object": "list", "data": {}, "has_more": False}), "data expected an array"),
])
def test_openai_listing_malformed_bodies(ofake: FakeOpenAI, body: str, message: str):
    ofake.fail("api_keys", Fault(200, body=body))
    with pytest.raises((DataError, SourceError)) as e:
        openai.pull(osource(ofake), W0, W1, sleep=Sleeps())
    assert "api_keys proj_a page 1" in str(e.value) and message in str(e.value)


def test_openai_repeated_listing_cursor_stops(ofake: FakeOpenAI):
    ofake.repeat_cursor = True
    with pytest.raises(SourceError, match="repeated"):
        openai.pull(osource(ofake), W0, W1)


def test_list_keys_false_reads_no_names(ofake: FakeOpenAI):
    pulled = openai.pull(osource(ofake, list_keys=False), W0, W1)
    assert ofake.requests("api_keys") == [] and pulled.api_keys is None
    assert tokens(pulled)[("proj_a", GPT4O, "input", "key_2")] == 200_000


def test_a_secret_shaped_hint_is_never_stored(ofake: FakeOpenAI):
    whole = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 3
    ofake.keys["proj_a"][0] = openai_key("key_1", "ci-bot", hint=whole)
    pulled = openai.pull(osource(ofake), W0, W1)
    row = pulled.api_keys.filter(pulled.api_keys["api_key"] == "key_1").row(0, named=True)
    assert row["hint"] is None and whole not in repr(pulled.api_keys.to_dicts())
    assert any("did not look redacted" in n for n in pulled.notes)
    assert safe_hint("sk-ant-api03-R2D...igAA") == "sk-ant-api03-R2D...igAA"
    assert safe_hint("sk-abc123") is None and safe_hint("") is None


A_COSTS = {D1: [anthropic_cost("300.00", "Claude Sonnet 4 Usage - Input Tokens", "uncached_input_tokens")]}
A_USAGE = {D1: [anthropic_usage(600_000, 0, 0, 0, 0, api_key_id="apikey_a"),
                anthropic_usage(300_000, 0, 0, 0, 0, api_key_id="apikey_b"),
                anthropic_usage(100_000, 0, 0, 0, 0, api_key_id=None)]}


@pytest.fixture
def afake(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", AKEY)
    keys = [anthropic_key("apikey_a", "prod"), anthropic_key("apikey_b", "staging", workspace_id=None)]
    with loopback() as server:
        yield FakeAnthropic(server, AKEY, costs=A_COSTS, usage=A_USAGE, keys=keys)


def test_anthropic_keys_console_usage_and_after_id(afake: FakeAnthropic):
    src = BillingSource("claude", "anthropic", {"base_url": afake.base_url, "timeout": 2})
    pulled = anthropic.pull(src, W0, W1)
    got = {r["api_key"]: r["billed_tokens"] for r in pulled.key_tokens.iter_rows(named=True)}
    assert got == {"apikey_a": 600_000, "apikey_b": 300_000, "": 100_000}
    assert any("100,000 billed tokens carry no API key" in n for n in pulled.notes)
    names = {r["api_key"]: (r["name"], r["hint"], r["account"]) for r in pulled.api_keys.iter_rows(named=True)}
    assert names == {"apikey_a": ("prod", "sk-ant-api03-R2D...igAA", WS),
                     "apikey_b": ("staging", "sk-ant-api03-R2D...igAA", None)}
    assert len(afake.requests("api_keys")) == 1


def test_files_kind_reads_saved_listing_pages(tmp_path: Path):
    usage = {"data": [{"starting_at": "2026-10-01T00:00:00Z", "ending_at": "2026-10-02T00:00:00Z",
                       "results": A_USAGE[D1]}], "has_more": False, "next_page": None}
    costs = {"data": [{"starting_at": "2026-10-01T00:00:00Z", "ending_at": "2026-10-02T00:00:00Z",
                       "results": A_COSTS[D1]}], "has_more": False, "next_page": None}
    (tmp_path / "u.json").write_text(json.dumps(usage))
    (tmp_path / "c.json").write_text(json.dumps(costs))
    (tmp_path / "k.json").write_text(json.dumps({"data": [anthropic_key("apikey_a", "prod")],
                                                 "has_more": False, "first_id": None, "last_id": None}))
    src = BillingSource("claude", "anthropic_files", {"costs": [str(tmp_path / "c.json")],
                                                      "usage": [str(tmp_path / "u.json")],
                                                      "api_keys": [str(tmp_path / "k.json")]})
    pulled = anthropic.pull(src, W0, W1)
    assert pulled.api_keys["api_key"].to_list() == ["apikey_a"]
    assert any("apikey_b" in n and "not in the key listing" in n for n in pulled.notes)
    (tmp_path / "k.json").write_text(json.dumps({"data": [{"id": 7}], "has_more": False}))
    with pytest.raises(DataError, match=r"claude api_keys .*k.json.*data\[0\].id"):
        anthropic.pull(src, W0, W1)


def test_sources_check_lists_one_page_of_a_keyed_project(ofake: FakeOpenAI):
    out = dict(openai.check(osource(ofake), today=date(2026, 10, 2)))
    assert out["api_keys"] == "authorised; 1 key(s) on the first page of proj_a"
    assert ofake.requests("api_keys")[0]["limit"] == ["1"]
    assert dict(openai.check(osource(ofake, list_keys=False), today=date(2026, 10, 2))).get("api_keys") is None


def test_sources_check_of_saved_listing_pages(tmp_path: Path):
    (tmp_path / "k.json").write_text(json.dumps({"data": [anthropic_key("apikey_a", "prod")], "has_more": False}))
    (tmp_path / "c.json").write_text(json.dumps({"data": [], "has_more": False, "next_page": None}))
    src = BillingSource("claude", "anthropic_files", {"costs": [str(tmp_path / "c.json")],
                                                      "api_keys": [str(tmp_path / "k.json")]})
    assert dict(anthropic.check(src))["api_keys"] == "1 file(s) parse, 1 key(s)"
