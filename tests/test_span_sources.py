"""Every span source reads the spans people actually have, and the same rows for the same spans.

Real OpenTelemetry SDK output (tests/otel_helpers.py) goes three ways: into an OTLP file,
into the fake Tempo (tests/fake_tempo.py, each attribute keeping its OTLP type) and into the
fake OpenObserve (tests/fake_openobserve.py, stored as OpenObserve stores it). With the
default attribute mapping the OTLP file source, Tempo (pushdown and search) and OpenObserve
must give equal frames: no convention dropped, no agent span counted, nothing twice.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from fake_openobserve import FakeOpenObserve
from fake_tempo import FakeTempo, spans_from_collector
from otel_helpers import collector_lines, write_lines
from pytest_httpserver import HTTPServer

from finops.config import AttributeMap, SpanSource
from finops.errors import ExitCode
from finops.frames import SpanPull
from finops.sources import openobserve, otlp_file, tempo

logging.getLogger("werkzeug").setLevel(logging.ERROR)
ATTRS = AttributeMap.default()
DAY1, DAY2, END = date(2026, 10, 3), date(2026, 10, 4), date(2026, 10, 5)


@pytest.fixture(autouse=True)
def _o2_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("O2_USER", "root@example.com")
    monkeypatch.setenv("O2_PASSWORD", "Complexpass#123")


def at(day: date, hour: float) -> str:
    return f"{day.isoformat()}T{int(hour):02d}:{int(hour * 60) % 60:02d}:00Z"


def pull_everywhere(lines: list[bytes], tmp_path: Path, httpserver: HTTPServer,
                    tempo_modes: tuple[str, ...] = ("pushdown", "search"),
                    convention: dict[str, str] | None = None) -> dict[str, SpanPull]:
    """The same collector lines through every span source, default mapping."""
    path = write_lines(tmp_path / "spans.jsonl", lines)
    conv = convention or {}
    out = {"otlp": otlp_file.pull(SpanSource("s", "otlp_files", {"paths": [str(path)]}, conv),
                                  ATTRS, DAY1, END)}
    fake = FakeTempo(spans_from_collector(lines))
    url = fake.install(httpserver)
    for mode in tempo_modes:
        out[f"tempo {mode}"] = tempo.pull(
            SpanSource("s", "tempo", {"url": url, "mode": mode}, conv), ATTRS, DAY1, END)
    httpserver.clear_all_handlers()
    o2 = FakeOpenObserve()
    o2.ingest_lines(lines)
    url = o2.install(httpserver)
    out["openobserve"] = openobserve.pull(
        SpanSource("s", "openobserve", {"url": url, "user_env": "O2_USER",
                                        "password_env": "O2_PASSWORD"}, conv),
        ATTRS, DAY1, END, sleep=lambda s: None)
    return out


def rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return frame.sort([c for c in frame.columns if c not in ("requests",)]).to_dicts()


def assert_all_equal(pulled: dict[str, SpanPull]) -> list[dict[str, Any]]:
    want = rows(pulled["otlp"].frame)
    for name, got in pulled.items():
        assert rows(got.frame) == want, name
    return want


# --------------------------------------------------------------------------- the fleet

def fleet() -> list[dict[str, Any]]:
    """Spans as a mixed fleet sends them (default mapping reads every one)."""
    return [
        # OTel GenAI, current names, tier under its 2026 name, account
        {"resource": {"service.name": "search-api", "team.id": "search"}, "start": at(DAY1, 9),
         "attributes": {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                        "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
                        "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 300,
                        "gen_ai.usage.cache_read.input_tokens": 200, "feature.id": "answer",
                        "openai.response.service_tier": "flex", "openai.project.id": "proj_search"}},
        # OTel GenAI, old names (gen_ai.system, prompt/completion, cache_*_input_tokens), request model only
        {"resource": {"service.name": "support"}, "start": at(DAY1, 10),
         "attributes": {"gen_ai.system": "anthropic", "gen_ai.request.model": "claude-sonnet-4-5-20250929",
                        "gen_ai.usage.prompt_tokens": 5000, "gen_ai.usage.completion_tokens": 400,
                        "gen_ai.usage.cache_creation_input_tokens": 1000,
                        "gen_ai.usage.cache_read_input_tokens": 2000, "team.id": "support"}},
        # OpenInference, team and project on the resource
        {"resource": {"service.name": "legal", "team.id": "legal", "project.id": "contracts"},
         "start": at(DAY1, 11),
         "attributes": {"openinference.span.kind": "LLM", "llm.provider": "anthropic",
                        "llm.system": "anthropic", "llm.model_name": "claude-haiku-4-5-20251001",
                        "llm.token_count.prompt": 900, "llm.token_count.completion": 90,
                        "llm.token_count.prompt_details.cache_read": 100,
                        "llm.token_count.prompt_details.cache_write": 50}},
        # the 2026 rename of the cache-write count
        {"resource": {"team.id": "support"}, "start": at(DAY2, 1),
         "attributes": {"gen_ai.provider.name": "anthropic", "gen_ai.response.model": "claude-sonnet-4-5-20250929",
                        "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 10,
                        "gen_ai.usage.cache_write.input_tokens": 300}},
        # Sentry's names (cached input, reasoning output)
        {"resource": {"team.id": "ds"}, "start": at(DAY2, 2),
         "attributes": {"gen_ai.system": "openai", "gen_ai.response.model": "o4-mini-2025-04-16",
                        "gen_ai.usage.input_tokens": 500, "gen_ai.usage.output_tokens": 200,
                        "gen_ai.usage.input_tokens.cached": 40,
                        "gen_ai.usage.output_tokens.reasoning": 20}},
        # pydantic-ai reasoning, Strands cache write
        {"resource": {"team.id": "ds"}, "start": at(DAY2, 3),
         "attributes": {"gen_ai.provider.name": "openai", "gen_ai.response.model": "o4-mini-2025-04-16",
                        "gen_ai.usage.input_tokens": 700, "gen_ai.usage.output_tokens": 150,
                        "gen_ai.usage.details.reasoning_tokens": 70}},
        {"resource": {"team.id": "agents"}, "start": at(DAY2, 4),
         "attributes": {"gen_ai.system": "anthropic", "gen_ai.request.model": "claude-haiku-4-5-20251001",
                        "gen_ai.usage.input_tokens": 400, "gen_ai.usage.output_tokens": 40,
                        "gen_ai.usage.cache_write_input_tokens": 25}},
        # provider on the resource; team on span and resource (the span's wins)
        {"resource": {"gen_ai.provider.name": "openai", "team.id": "platform"}, "start": at(DAY2, 5),
         "attributes": {"gen_ai.response.model": "gpt-4o-mini-2024-07-18", "team.id": "gateway",
                        "gen_ai.usage.input_tokens": 80, "gen_ai.usage.output_tokens": 8}},
        # both conventions' counts on one span: the first key of the mapping wins
        {"resource": {"team.id": "search"}, "start": at(DAY2, 6),
         "attributes": {"gen_ai.provider.name": "openai", "gen_ai.response.model": "gpt-4o-2024-08-06",
                        "llm.model_name": "ignored", "gen_ai.usage.input_tokens": 100,
                        "llm.token_count.prompt": 999, "gen_ai.usage.output_tokens": 5}},
        # a model and no counts (a request), and a span that is no LLM call at all
        {"resource": {"team.id": "search"}, "start": at(DAY2, 7),
         "attributes": {"gen_ai.response.model": "gpt-4o-2024-08-06"}},
        {"resource": {"team.id": "search"}, "start": at(DAY2, 8),
         "attributes": {"http.route": "/chat"}, "name": "POST /chat"},
    ]


def test_a_mixed_fleet_gives_the_same_rows_in_every_source(tmp_path: Path,
                                                           httpserver: HTTPServer) -> None:
    pulled = pull_everywhere(collector_lines(fleet(), spans_per_line=3), tmp_path, httpserver)
    want = assert_all_equal(pulled)
    assert sum(r["requests"] for r in want) == 10
    by_model = {(r["day"], r["model"], r["team"]): r for r in want}
    # each convention read: old GenAI names, OpenInference, the variants
    old = by_model[(DAY1, "claude-sonnet-4-5-20250929", "support")]
    assert (old["provider"], old["input_tokens"], old["cache_read_tokens"],
            old["cache_write_tokens"]) == ("anthropic", 2000, 2000, 1000)
    renamed = by_model[(DAY2, "claude-sonnet-4-5-20250929", "support")]
    assert (renamed["input_tokens"], renamed["cache_write_tokens"]) == (700, 300)
    oi = by_model[(DAY1, "claude-haiku-4-5-20251001", "legal")]
    assert (oi["input_tokens"], oi["cache_write_tokens"], oi["project"]) == (750, 50, "contracts")
    ds = by_model[(DAY2, "o4-mini-2025-04-16", "ds")]
    assert (ds["cache_read_tokens"], ds["reasoning_tokens"], ds["requests"]) == (40, 90, 2)
    assert by_model[(DAY2, "claude-haiku-4-5-20251001", "agents")]["cache_write_tokens"] == 25
    assert by_model[(DAY2, "gpt-4o-mini-2024-07-18", "gateway")]["provider"] == "openai"
    assert by_model[(DAY1, "gpt-4o-2024-08-06", "search")]["service_tier"] == "flex"
    assert by_model[(DAY2, "gpt-4o-2024-08-06", "search")]["input_tokens"] == 100  # not 999


def test_one_tempo_source_reads_openinference_and_genai(tmp_path: Path,
                                                        httpserver: HTTPServer) -> None:
    # The issue: Tempo read only the first key of each field, so OpenInference spans (all
    # the Anthropic spend here) vanished and the pull still exited 0.
    spans = [
        {"resource": {"team.id": "search"}, "start": at(DAY1, 9),
         "attributes": {"gen_ai.provider.name": "openai", "gen_ai.response.model": "gpt-4o",
                        "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100}},
        {"resource": {"team.id": "legal"}, "start": at(DAY1, 10),
         "attributes": {"openinference.span.kind": "LLM", "llm.provider": "anthropic",
                        "llm.model_name": "claude-sonnet-4-5-20250929",
                        "llm.token_count.prompt": 7000, "llm.token_count.completion": 700}},
    ]
    pulled = pull_everywhere(collector_lines(spans), tmp_path, httpserver)
    want = assert_all_equal(pulled)
    assert {r["provider"]: r["input_tokens"] for r in want} == {"openai": 1000, "anthropic": 7000}


def test_token_counts_stored_as_strings_are_read(tmp_path: Path, httpserver: HTTPServer) -> None:
    spans = [
        {"resource": {"team.id": "search"}, "start": at(DAY1, 9),
         "attributes": {"gen_ai.provider.name": "openai", "gen_ai.response.model": "gpt-4o",
                        "gen_ai.usage.input_tokens": "1200", "gen_ai.usage.output_tokens": "34"}},
        {"resource": {"team.id": "search"}, "start": at(DAY2, 9),
         "attributes": {"gen_ai.provider.name": "openai", "gen_ai.response.model": "gpt-4o",
                        "gen_ai.usage.input_tokens": 500, "gen_ai.usage.output_tokens": 5}},
    ]
    pulled = pull_everywhere(collector_lines(spans), tmp_path, httpserver)
    want = assert_all_equal(pulled)
    assert [(r["day"], r["input_tokens"], r["output_tokens"]) for r in want] == [
        (DAY1, 1200, 34), (DAY2, 500, 5)]
    push = pulled["tempo pushdown"]
    assert push.stats["search_tiles"] == 1  # the day with strings, read as spans
    assert any("cannot sum them" in n for n in push.notes)


def test_an_agent_span_over_two_model_calls_is_not_counted(tmp_path: Path,
                                                           httpserver: HTTPServer) -> None:
    team = {"service.name": "support-bot", "team.id": "support"}
    spans = [
        # OTel GenAI: invoke_agent carrying the totals of its two chat calls
        {"resource": team, "start": at(DAY1, 9), "end": at(DAY1, 10), "name": "invoke_agent triage",
         "attributes": {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "triage",
                        "gen_ai.provider.name": "anthropic",
                        "gen_ai.request.model": "claude-sonnet-4-5-20250929",
                        "gen_ai.usage.input_tokens": 5000, "gen_ai.usage.output_tokens": 500}},
        {"resource": team, "start": at(DAY1, 9.1), "parent": 0, "name": "chat claude",
         "attributes": {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
                        "gen_ai.response.model": "claude-sonnet-4-5-20250929",
                        "gen_ai.usage.input_tokens": 3000, "gen_ai.usage.output_tokens": 300}},
        {"resource": team, "start": at(DAY1, 9.2), "parent": 0, "name": "chat claude",
         "attributes": {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
                        "gen_ai.response.model": "claude-sonnet-4-5-20250929",
                        "gen_ai.usage.input_tokens": 2000, "gen_ai.usage.output_tokens": 200}},
        # OpenInference: AGENT over a CHAIN over two LLM calls, totals on both
        {"resource": team, "start": at(DAY1, 11), "end": at(DAY1, 12), "name": "agent",
         "attributes": {"openinference.span.kind": "AGENT", "llm.token_count.prompt": 900,
                        "llm.token_count.completion": 90}},
        {"resource": team, "start": at(DAY1, 11.1), "parent": 3, "name": "chain",
         "attributes": {"openinference.span.kind": "CHAIN", "llm.token_count.prompt": 900,
                        "llm.token_count.completion": 90, "llm.model_name": "gpt-4o"}},
        {"resource": team, "start": at(DAY1, 11.2), "parent": 4, "name": "llm",
         "attributes": {"openinference.span.kind": "LLM", "llm.provider": "openai",
                        "llm.model_name": "gpt-4o", "llm.token_count.prompt": 600,
                        "llm.token_count.completion": 60}},
        {"resource": team, "start": at(DAY1, 11.3), "parent": 4, "name": "embed",
         "attributes": {"openinference.span.kind": "EMBEDDING", "llm.provider": "openai",
                        "llm.model_name": "gpt-4o", "llm.token_count.prompt": 300,
                        "llm.token_count.completion": 30}},
        # token counts and no operation at all: counted (older instrumentations set none)
        {"resource": team, "start": at(DAY1, 13), "name": "legacy call",
         "attributes": {"gen_ai.provider.name": "openai", "gen_ai.response.model": "gpt-4o",
                        "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 1}},
    ]
    lines = collector_lines(spans)
    sent = json.loads(lines[0])["resourceSpans"][0]["scopeSpans"][0]["spans"]
    by_id = {s["spanId"]: s for s in sent}
    children = [s for s in sent if s.get("parentSpanId")]
    assert len(children) == 5  # real parent/child links, made by the SDK
    assert all(by_id[c["parentSpanId"]]["traceId"] == c["traceId"] for c in children)
    pulled = pull_everywhere(lines, tmp_path, httpserver)
    want = assert_all_equal(pulled)
    assert {r["provider"]: (r["requests"], r["input_tokens"], r["output_tokens"]) for r in want} == {
        "anthropic": (2, 5000, 500), "openai": (3, 910, 91)}
    for name, got in pulled.items():
        assert got.stats["agent_spans"] == 3, name
        assert any("agent/workflow span" in n for n in got.notes), name


def test_tempo_search_counts_a_span_stored_twice_once(tmp_path: Path,
                                                      httpserver: HTTPServer) -> None:
    lines = collector_lines([
        {"resource": {"team.id": "search"}, "start": at(DAY1, 9),
         "attributes": {"gen_ai.provider.name": "openai", "gen_ai.response.model": "gpt-4o",
                        "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100}}])
    fake = FakeTempo(spans_from_collector(lines * 2))  # at-least-once delivery: stored twice
    url = fake.install(httpserver)
    for options in ({"mode": "search"}, {"mode": "search", "scope": {
            f: "span" for f in ("provider", "model", "team", "project", "feature", "account",
                                "service_tier")}}):
        got = tempo.pull(SpanSource("s", "tempo", {"url": url, **options}), ATTRS, DAY1, END)
        assert got.frame["requests"].to_list() == [1] and got.frame["input_tokens"].to_list() == [1000]
        assert got.stats["duplicates"] == 1
        assert any("1 duplicate span" in n for n in got.notes)
    push = tempo.pull(SpanSource("s", "tempo", {"url": url, "mode": "pushdown"}), ATTRS, DAY1, END)
    assert any("cannot see duplicate spans" in n for n in push.notes)


def test_a_mapping_tempo_cannot_query_is_refused_at_config_load(cli, tmp_path: Path) -> None:
    cfg = tmp_path / "finops.toml"
    cfg.write_text(f"""
[warehouse]
path = "{tmp_path / 'w.duckdb'}"
[attributes]
team = ['team"id']
[[sources]]
name = "tempo"
kind = "tempo"
url = "http://127.0.0.1:9"
""")
    r = cli("-c", str(cfg), "pull", "--month", "2026-10")
    assert r.code == ExitCode.USAGE, r.err
    assert "sources.tempo" in r.err and "team\"id" in r.err and "cannot be queried" in r.err
    assert not (tmp_path / "w.duckdb").exists()  # refused before anything was opened
