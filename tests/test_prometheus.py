"""The prometheus source against real Prometheus 2.42 and VictoriaMetrics 1.79 (Debian packages).

Traffic is a list of calls; the same calls become an OTLP span file (tests/otel_helpers.py)
and GenAI metrics exported by the real OpenTelemetry SDK and its Prometheus exporter
(tests/otel_metrics.py), scraped every 5 minutes on historical UTC days. VictoriaMetrics
gets them through its import API; Prometheus through ``promtool tsdb create-blocks-from
openmetrics`` (backfilled blocks in its data directory before it starts: no remote-write
receiver, no out-of-order window, no clock games). Rows must equal the OTLP file source's.

Every scenario carries its own ``scenario`` label (as a scrape config's relabelling would
add), so one server of each kind holds them all; the source selects one with ``selector``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from metrics_servers import (
    MISSING_PROMETHEUS,
    MISSING_VICTORIA,
    PROMETHEUS,
    PROMTOOL,
    VICTORIA,
    Server,
    start_prometheus,
    start_victoria,
)
from otel_helpers import llm_span, write_spans_file
from otel_metrics import backfill_prometheus, load_victoria, scrape

from finops.config import AttributeMap, SpanSource
from finops.errors import SourceError
from finops.sources import otlp_file
from finops.sources import prometheus as prom

START, END = date(2026, 10, 1), date(2026, 10, 4)
DAYS = ["2026-10-01", "2026-10-02", "2026-10-03"]
SCRAPE = dict(start="2026-09-29T12:00:00Z", end="2026-10-04T12:00:00Z", interval=300, offset=7)
KEYS = ["day", "provider", "account", "model", "service_tier", "team", "project", "feature"]

SERVICES = [
    # service, resource attributes, provider, model, point attributes, processes
    ("chat-api", {"team.id": "search", "project.id": "web", "openai.project.id": "proj_search"},
     "openai", "gpt-4o-2024-08-06", {}, 2),
    ("support-bot", {"team.id": "support", "project.id": "helpdesk", "anthropic.workspace.id": "wrkspc_support"},
     "anthropic", "claude-sonnet-4-5-20250929", {}, 1),
    ("labeller", {"team.id": "data-science", "project.id": "labels"}, "openai", "gpt-4o-mini-2024-07-18",
     {"gen_ai.openai.request.service_tier": "batch"}, 1),
    ("legacy", {}, "openai", "gpt-4o-mini-2024-07-18", {}, 1),
]


def traffic(seed: int, *, cache: bool = False, calls_per_day: int = 6,
            busy: dict[str, int] | None = None, days: list[str] = DAYS) -> list[dict[str, Any]]:
    """Calls on ``days``, never in the last 10 minutes of a day (those count on the next day)."""
    rng = random.Random(seed)
    calls = []
    for day in days:
        for svc, res, provider, model, extra, procs in SERVICES:
            for _ in range((busy or {}).get(svc, calls_per_day)):
                t = rng.randrange(0, 86400 - 600)
                start = f"{day}T{t // 3600:02d}:{t // 60 % 60:02d}:{t % 60:02d}Z"
                attrs: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.request.model": model,
                                         "feature.id": rng.choice(["answer", "rewrite"]), **extra}
                inp, out = rng.randrange(50, 9000), rng.randrange(1, 900)
                if cache and provider == "anthropic":
                    attrs["gen_ai.usage.cache_read.input_tokens"] = rng.randrange(0, inp // 2)
                    attrs["gen_ai.usage.cache_creation.input_tokens"] = rng.randrange(0, inp // 4)
                if cache and model.startswith("gpt-4o-2024"):
                    attrs["gen_ai.usage.cache_read.input_tokens"] = rng.randrange(0, inp // 2)
                    attrs["gen_ai.usage.reasoning.output_tokens"] = rng.randrange(0, out)
                call = llm_span(start, provider=provider, model=model, input_tokens=inp, output_tokens=out,
                                resource={"service.name": svc, **res}, **attrs)
                call["process"] = f"{svc}-{rng.randrange(procs)}"
                calls.append(call)
    return calls


BASE = traffic(1)
CACHED = traffic(2, cache=True)
# Traffic from the day before the window: the series exist (and have a base) when it starts.
RESETS = traffic(3, busy={"support-bot": 150}, days=["2026-09-30", *DAYS])
MANY = traffic(4, calls_per_day=3)
# A label set seen once, and one whose only call is its first sample: what increase() loses.
SPARSE = [llm_span("2026-10-02T10:00:00Z", model="gpt-4.1-2025-04-14", input_tokens=777, output_tokens=7,
                   resource={"service.name": "once", "team.id": "growth"}, **{"gen_ai.operation.name": "chat"})]
NEAR_MIDNIGHT = [llm_span("2026-10-01T23:58:30Z", input_tokens=500, output_tokens=50,
                          resource={"service.name": "late", "team.id": "night"},
                          **{"gen_ai.operation.name": "chat"}),
                 llm_span("2026-10-01T20:00:00Z", input_tokens=999, output_tokens=99,
                          resource={"service.name": "late", "team.id": "night"},
                          **{"gen_ai.operation.name": "invoke_agent"})]


def samples() -> list[Any]:
    """Every scenario's samples, each with its own ``scenario`` label."""
    out = []
    # With the histograms' _bucket series (as stored; finops never reads them), every 15 minutes.
    out += scrape(BASE, **{**SCRAPE, "interval": 900}, extra_labels={"scenario": "target_info"})  # type: ignore[arg-type]
    out += scrape(BASE, **SCRAPE, buckets=False, promote=["team.id", "project.id", "openai.project.id",  # type: ignore[arg-type]
                                                           "anthropic.workspace.id"],
                  extra_labels={"scenario": "promoted"})
    out += scrape(CACHED, **SCRAPE, buckets=False, counters=True, extra_labels={"scenario": "counters"})  # type: ignore[arg-type]
    # The busy support bot is redeployed at noon every day (same instance: its counters reset).
    restarts = {"support-bot-0": [f"{d}T12:00:00Z" for d in ["2026-09-30", *DAYS]]}
    out += scrape(RESETS, **SCRAPE, buckets=False, restarts=restarts, extra_labels={"scenario": "resets"})  # type: ignore[arg-type]
    out += scrape(SPARSE + NEAR_MIDNIGHT, **SCRAPE, buckets=False, extra_labels={"scenario": "edges"})  # type: ignore[arg-type]
    return out


def limited_samples() -> list[Any]:
    """More processes (series) for the servers started with small query limits."""
    calls = [dict(c, process=f"{c['process']}-{i % 4}") for i, c in enumerate(MANY)]
    return scrape(calls, **SCRAPE, buckets=False, extra_labels={"scenario": "limits"})  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def loaded() -> list[Any]:
    return samples()


def _server(kind: str, root: Path, data: list[Any], flags: list[str]) -> Iterator[Server]:
    if kind == "prometheus":
        if not (PROMETHEUS and PROMTOOL):
            pytest.skip(MISSING_PROMETHEUS)
        backfill_prometheus(root / "tsdb", data, promtool=PROMTOOL)
        server = start_prometheus(root / "tsdb", flags)
    else:
        if not VICTORIA:
            pytest.skip(MISSING_VICTORIA)
        server = start_victoria(root / "vm", flags)
        load_victoria(server.url, data)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session", params=["prometheus", "victoria-metrics"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
           loaded: list[Any]) -> Iterator[Server]:
    yield from _server(request.param, tmp_path_factory.mktemp(request.param), loaded, [])


@pytest.fixture(scope="session", params=["prometheus", "victoria-metrics"])
def limited(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # Prometheus: at most 400 samples in memory at once (it evaluates series by series, but a
    # sum holds every series' point of a step, and a range query every step's); 3 days of
    # ~50 series is refused, so are some single days. VictoriaMetrics: 8 series per query
    # and 2 points (days) per series.
    flags = (["--query.max-samples=400"] if request.param == "prometheus"
             else ["-search.maxUniqueTimeseries=8", "-search.maxPointsPerTimeseries=2"])
    yield from _server(request.param, tmp_path_factory.mktemp(request.param + "-limited"),
                       limited_samples(), flags)


def source(server: Server, scenario: str, **options: Any) -> SpanSource:
    return SpanSource("metrics", "prometheus", {"url": server.url, "selector": f'scenario="{scenario}"',
                                                "attempts": 1, **options})


def metrics_rows(server: Server, scenario: str, **options: Any) -> tuple[pl.DataFrame, Any]:
    got = prom.pull(source(server, scenario, **options), AttributeMap.default(), START, END)
    return got.frame, got


def span_rows(tmp_path: Path, calls: list[dict[str, Any]]) -> pl.DataFrame:
    path = write_spans_file(tmp_path / "spans.jsonl", calls)
    src = SpanSource("spans", "otlp_files", {"paths": [str(path)]})
    return otlp_file.pull(src, AttributeMap.default(), START, END).frame


def same(metrics: pl.DataFrame, spans: pl.DataFrame, columns: list[str]) -> None:
    a = metrics.select(*KEYS, *columns).sort(KEYS)
    b = spans.select(*KEYS, *columns).sort(KEYS)
    assert a.to_dicts() == b.to_dicts()


# --- equality with the OTLP file source ------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("scenario,options", [
    ("target_info", {}),  # resource attributes joined from target_info (auto)
    ("target_info", {"resource": "target_info"}),
    ("promoted", {}),  # resource attributes promoted to labels (auto finds them on the series)
    ("promoted", {"resource": "labels"}),
])
def test_rows_equal_the_span_source(server: Server, tmp_path: Path, scenario: str, options: dict) -> None:
    frame, got = metrics_rows(server, scenario, **options)
    spans = span_rows(tmp_path, BASE)
    assert frame.height == spans.height > 20
    same(frame, spans, ["requests", "input_tokens", "output_tokens"])
    assert set(frame["team"]) == {"search", "support", "data-science", "unattributed"}
    assert set(frame["account"]) == {"proj_search", "wrkspc_support", "default"}
    assert set(frame["service_tier"]) == {"standard", "batch"}
    joined = "team_id" in got.notes[0] and "target_info" in got.notes[0]
    assert joined == (scenario == "target_info")
    assert got.stats["input_tokens_cache_unknown"] == spans["input_tokens"].sum()
    assert any("do not tell cache reads and cache writes apart" in n for n in got.notes)


@pytest.mark.slow
def test_newer_counters_give_cache_and_reasoning_tokens(server: Server, tmp_path: Path) -> None:
    frame, got = metrics_rows(server, "counters")
    spans = span_rows(tmp_path, CACHED)
    assert spans["cache_read_tokens"].sum() > 0 and spans["cache_write_tokens"].sum() > 0
    assert spans["reasoning_tokens"].sum() > 0
    # The processes emit both the histogram and the counters: counted once, from the counters.
    same(frame, spans, ["requests", "input_tokens", "cache_read_tokens", "cache_write_tokens",
                        "output_tokens", "reasoning_tokens"])
    assert got.stats.get("input_tokens_cache_unknown", 0) == 0
    assert "gen_ai_client_inference_input_tokens_by_cache_total" in got.notes[0]


@pytest.mark.slow
def test_counter_resets(server: Server, tmp_path: Path) -> None:
    frame, got = metrics_rows(server, "resets")
    spans = span_rows(tmp_path, RESETS)
    assert got.stats["series_with_resets"] > 0
    assert any("counter reset" in n for n in got.notes)
    others = pl.col("team") != "support"
    same(frame.filter(others), spans.filter(others), ["requests", "input_tokens", "output_tokens"])
    bot_m = frame.filter(~others).sort(KEYS)
    bot_s = spans.filter(~others).sort(KEYS)
    assert bot_m.select(KEYS).to_dicts() == bot_s.select(KEYS).to_dicts()
    if server.kind == "victoria-metrics":  # its increase() is exact across a reset
        same(frame, spans, ["requests", "input_tokens", "output_tokens"])
    else:  # Prometheus' increase() extrapolates to the day's edges: close, not exact
        for col in ("input_tokens", "output_tokens", "requests"):
            m, s = bot_m[col].to_list(), bot_s[col].to_list()
            assert all(abs(a - b) <= 0.05 * b + 2 for a, b in zip(m, s, strict=True)), (col, m, s)


@pytest.mark.slow
def test_first_call_of_a_label_set_counts(server: Server, tmp_path: Path) -> None:
    """increase() alone loses it (Prometheus: 0; VictoriaMetrics: may take it as the base)."""
    frame, _ = metrics_rows(server, "edges")
    once = frame.filter(pl.col("team") == "growth")
    assert once.select("day", "requests", "input_tokens", "output_tokens").rows() == [
        (date(2026, 10, 2), 1, 777, 7)]


@pytest.mark.slow
def test_calls_just_before_midnight_count_on_the_next_day(server: Server) -> None:
    frame, _ = metrics_rows(server, "edges")
    late = frame.filter(pl.col("team") == "night")
    # 23:58:30 is first scraped at 00:02:07; the agent operation does not count at all.
    assert late.select("day", "requests", "input_tokens").rows() == [(date(2026, 10, 2), 1, 500)]


# --- limits: the query is split, the answer is the same ----------------------------------------

@pytest.mark.slow
def test_limits_split_the_query(limited: Server, tmp_path: Path) -> None:
    calls = [dict(c, process=f"{c['process']}-{i % 4}") for i, c in enumerate(MANY)]
    frame, got = metrics_rows(limited, "limits")
    same(frame, span_rows(tmp_path, calls), ["requests", "input_tokens", "output_tokens"])
    assert got.stats["day_splits"] > 0  # 3 days asked at once first
    assert got.stats["shard_queries"] > 0
    assert got.stats["queries"] > 3  # unsplit: token usage, requests and resets, once each


# --- sources check -------------------------------------------------------------------------------

@pytest.mark.slow
def test_check_reports_metrics_and_labels(server: Server) -> None:
    rows = dict(prom.check(source(server, "target_info", check_lookback="3650d")))
    assert rows["reachable"] == "yes" and rows["auth"] == "ok"
    assert "gen_ai_client_token_usage_sum (token_usage)" in rows["metrics"]
    assert "gen_ai_client_operation_duration_seconds_count (operation_duration)" in rows["metrics"]
    assert "gen_ai_token_type" in rows["labels gen_ai_client_token_usage_sum"]
    assert "team_id" in rows["labels target_info"]
    assert rows["field team"].startswith("team_id (from target_info, joined on job, instance)")
    assert rows["field model"] == "gen_ai_response_model (on the series)"
    assert "NOT distinguished" in rows["cache tokens"]
    if server.kind == "prometheus":
        assert rows["server"].startswith("2.42")
    counters = dict(prom.check(source(server, "counters", check_lookback="3650d")))
    assert counters["cache tokens"] == "separate (input_by_cache)"


def test_check_unreachable_says_so(tmp_path: Path) -> None:
    from metrics_servers import free_port

    src = SpanSource("metrics", "prometheus", {"url": f"http://127.0.0.1:{free_port()}"})
    rows = dict(prom.check(src))
    assert rows["reachable"].startswith("no: prometheus metrics buildinfo: cannot connect")


def test_samples_are_sdk_output() -> None:
    """The loader's input is the real exporter's: names, suffixes and labels as Prometheus stores them."""
    got = scrape(SPARSE, start="2026-10-02T09:00:00Z", end="2026-10-02T10:10:00Z", interval=300)
    names = {s[0] for s in got}
    assert {"gen_ai_client_token_usage_sum", "gen_ai_client_token_usage_count",
            "gen_ai_client_token_usage_bucket", "gen_ai_client_operation_duration_seconds_count",
            "target_info"} <= names
    usage = [dict(s[1]) for s in got if s[0] == "gen_ai_client_token_usage_sum"]
    assert {u["gen_ai_token_type"] for u in usage} == {"input", "output"}
    assert usage[0]["job"] == "once" and usage[0]["instance"].endswith(":9464")
    info = next(dict(s[1]) for s in got if s[0] == "target_info")
    assert info["team_id"] == "growth"
    # The call at 10:00:00 is in the scrapes at 10:00:07 and 10:05:07 (every 300 s, 7 s past).
    assert json.dumps(sorted({s[3] for s in got})) == json.dumps([1790935207000, 1790935507000])


def test_missing_binary_reason_names_the_make_target() -> None:
    assert "make metrics-servers" in MISSING_PROMETHEUS and "make metrics-servers" in MISSING_VICTORIA


def test_unreachable_pull_is_a_source_error() -> None:
    from metrics_servers import free_port

    src = SpanSource("metrics", "prometheus", {"url": f"http://127.0.0.1:{free_port()}", "attempts": 1})
    with pytest.raises(SourceError, match=r"prometheus metrics buildinfo: cannot connect"):
        prom.pull(src, AttributeMap.default(), START, END, sleep=lambda s: None)
