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
from hypothesis import given, settings
from hypothesis import strategies as st
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
# A fleet mid-migration: the Anthropic bot emits the newer counters, the rest only the histogram.
MIXED = [dict(c, counters=c["attributes"]["gen_ai.provider.name"] == "anthropic") for c in traffic(5, cache=True)]
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
    out += scrape(MIXED, **SCRAPE, buckets=False, extra_labels={"scenario": "mixed"})  # type: ignore[arg-type]
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
    assert set(frame["account"]) == {"proj_search", "wrkspc_support", ""}  # "": no account label
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
def test_mixed_fleet_maps_each_process_by_what_it_emits(server: Server, tmp_path: Path) -> None:
    """Counters give the cache split; the histogram's input keeps cache tokens inside (inclusive)."""
    frame, got = metrics_rows(server, "mixed")
    spans = span_rows(tmp_path, MIXED)
    bot = pl.col("provider") == "anthropic"
    same(frame.filter(bot), spans.filter(bot), ["requests", "input_tokens", "cache_read_tokens",
                                                "cache_write_tokens", "output_tokens", "reasoning_tokens"])
    hist = spans.filter(~bot).with_columns(
        (pl.col("input_tokens") + pl.col("cache_read_tokens") + pl.col("cache_write_tokens")).alias("input_tokens"),
        pl.lit(0, pl.Int64).alias("cache_read_tokens"), pl.lit(0, pl.Int64).alias("reasoning_tokens"))
    assert spans.filter(~bot)["cache_read_tokens"].sum() > 0
    same(frame.filter(~bot), hist, ["requests", "input_tokens", "cache_read_tokens", "output_tokens",
                                    "reasoning_tokens"])
    assert got.stats["input_tokens_cache_unknown"] == hist["input_tokens"].sum()


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
    else:  # Prometheus' increase() extrapolates to the day's edges: close (+0.35 % here), not exact
        assert got.stats["rounded_values"] > 0
        for col in ("input_tokens", "output_tokens", "requests"):
            m, s = bot_m[col].to_list(), bot_s[col].to_list()
            assert all(abs(a - b) <= 0.01 * b + 1 for a, b in zip(m, s, strict=True)), (col, m, s)


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


def test_collected_samples_equal_the_text_exposition() -> None:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource
    from otel_metrics import Instruments, _exposition, text_samples
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    reader = PrometheusMetricReader(registry=registry, resource_attribute_filter=lambda k: k == "team.id")
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "s", "team.id": "t"}))
    inst = Instruments(provider, counters=True, histogram=True)
    for call in CACHED[:20]:
        inst.record(call["attributes"])
    assert sorted(_exposition(registry, (), True)) == sorted(text_samples(registry))
    provider.shutdown()


def test_missing_binary_reason_names_the_make_target() -> None:
    assert "make metrics-servers" in MISSING_PROMETHEUS and "make metrics-servers" in MISSING_VICTORIA


def test_unreachable_pull_is_a_source_error() -> None:
    from metrics_servers import free_port

    src = SpanSource("metrics", "prometheus", {"url": f"http://127.0.0.1:{free_port()}", "attempts": 1})
    with pytest.raises(SourceError, match=r"prometheus metrics buildinfo: cannot connect"):
        prom.pull(src, AttributeMap.default(), START, END, sleep=lambda s: None)


@pytest.mark.slow
def test_plain_increase_loses_what_the_source_counts(server: Server) -> None:
    """Why the source does not send increase() alone: the evidence, on the real servers."""
    client = prom.PromClient(prom.parse_options(source(server, "edges"), AttributeMap.default()), "t")
    sel = 'gen_ai_client_token_usage_sum{scenario="edges",job="once",gen_ai_token_type="input"}'
    end = 1790985600  # 2026-10-03T00:00Z: the end of 2026-10-02, the label set's only call
    plain = client.query_range(f"sum(increase({sel}[1d]))", end, end, "evidence")
    ours = client.query_range(f"sum({prom.promql.daily_increase(sel)})", end, end, "evidence")
    assert ours[0][1] == [(end, 777.0)]
    # Both engines' increase() treat the first sample as the starting point: the call is lost.
    assert (plain[0][1][0][1] if plain else 0.0) == 0.0


# --- answer shapes no local server produces: a loopback server answering in the exact shape ----

DAY_END = {d: 1790899200 + 86400 * i for i, d in enumerate(["2026-10-01", "2026-10-02", "2026-10-03"])}
NAMES = ["gen_ai_client_token_usage_sum", "gen_ai_client_token_usage_count",
         "gen_ai_client_operation_duration_seconds_count"]


def shaped(httpserver: Any, answer: Any, *, names: list[str] = NAMES, version: str = "2.53.0") -> list[dict]:
    """Serve buildinfo, label APIs and query_range; ``answer(form)`` gives a query_range body."""
    from werkzeug import Request, Response

    seen: list[dict] = []

    def query_range(request: Request) -> Response:
        form = {k: request.form[k] for k in request.form}
        seen.append(form)
        got = answer(form)
        status, body = got if isinstance(got, tuple) else (200, got)
        return Response(json.dumps(body), status=status, content_type="application/json")

    httpserver.expect_request("/api/v1/status/buildinfo").respond_with_json(
        {"status": "success", "data": {"version": version}})
    httpserver.expect_request("/api/v1/label/__name__/values").respond_with_json(
        {"status": "success", "data": names})
    httpserver.expect_request("/api/v1/labels").respond_with_json(
        {"status": "success", "data": ["__name__", "gen_ai_token_type", "team_id"]})
    httpserver.expect_request("/api/v1/query_range", method="POST").respond_with_handler(query_range)
    return seen


def matrix(*series: tuple[dict, list], **extra: Any) -> dict:
    return {"status": "success", **extra,
            "data": {"resultType": "matrix", "result": [{"metric": m, "values": v} for m, v in series]}}


def tokens_or_requests(form: dict) -> dict:
    if "count(resets" in form["query"]:
        return matrix()
    if "gen_ai_token_type)" in form["query"]:
        return matrix(({"gen_ai_token_type": "input", "team_id": "a"}, [[DAY_END["2026-10-01"], "100"]]),
                      ({"gen_ai_token_type": "output", "team_id": "a"}, [[DAY_END["2026-10-01"], "10"]]))
    return matrix(({"team_id": "a"}, [[DAY_END["2026-10-01"], "2"]]))


def fake_source(httpserver: Any, **options: Any) -> SpanSource:
    return SpanSource("metrics", "prometheus", {"url": httpserver.url_for("/"), "attempts": 2, **options})


def test_prometheus_shape_rows(httpserver: Any) -> None:
    seen = shaped(httpserver, tokens_or_requests)
    got = prom.pull(fake_source(httpserver), AttributeMap.default(), START, END, sleep=lambda s: None)
    assert got.frame.select("day", "team", "requests", "input_tokens", "output_tokens").rows() == [
        (date(2026, 10, 1), "a", 2, 100, 10)]
    first = seen[0]
    assert (first["start"], first["end"], first["step"]) == (str(DAY_END["2026-10-01"]), str(DAY_END["2026-10-03"]),
                                                             "86400")
    assert first["partial_response"] == "false" and first["deny_partial_response"] == "1"
    assert 'gen_ai_operation_name=~"chat|text_completion|generate_content|embeddings|"' in first["query"]


def test_victoria_shape_integer_times_and_exponents(httpserver: Any) -> None:
    def answer(form: dict) -> dict:
        body = tokens_or_requests(form)
        for s in body["data"]["result"]:
            s["values"] = [[int(t), "1.2e+06" if v == "100" else v] for t, v in s["values"]]
        return {**body, "isPartial": False}

    shaped(httpserver, answer, version="")
    got = prom.pull(fake_source(httpserver), AttributeMap.default(), START, END, sleep=lambda s: None)
    assert got.frame["input_tokens"].to_list() == [1_200_000]
    assert got.notes[0].startswith("prometheus metrics: version unknown")


@pytest.mark.parametrize("body,allow,match", [
    (matrix(warnings=["remote_read: store eu-1 unavailable"]), False, r"warned that the answer may be incomplete"),
    ({**matrix(), "isPartial": True}, False, r"partial response"),
    (matrix(({"team_id": "a"}, [[DAY_END["2026-10-01"], "NaN"]])), False, r"not finite"),
    (matrix(({"team_id": "a"}, [[DAY_END["2026-10-01"] + 3600, "5"]])), False, r"not at a UTC day end"),
    ({"status": "success", "data": {"resultType": "vector", "result": []}}, False, r'expected "matrix", got .vector.'),
    ((400, {"status": "error", "errorType": "bad_data", "error": "parse error"}), False,
     r"bad_data: parse error \(query: sum"),
    ((422, {"status": "error", "errorType": "execution",
            "error": "found duplicate series for the match group {instance=\"a\"}; many-to-many matching not allowed"}),
     False, r"target_info has more than one series for a process"),
])
def test_answers_that_fail_the_pull(httpserver: Any, body: Any, allow: bool, match: str) -> None:
    from finops.errors import DataError

    shaped(httpserver, lambda form: tokens_or_requests(form) if "count(resets" in form["query"] else body)
    with pytest.raises(DataError, match=match):  # SourceError is a DataError
        prom.pull(fake_source(httpserver, allow_warnings=allow), AttributeMap.default(), START, END,
                  sleep=lambda s: None)


def test_warnings_accepted_and_infos_noted(httpserver: Any) -> None:
    def answer(form: dict) -> dict:
        body = tokens_or_requests(form)
        body["warnings"] = ["remote_read: store eu-1 unavailable", "PromQL info: metric might not be a counter, "
                            'name does not end in _total/_sum/_count/_bucket: "x"']
        body["infos"] = ["PromQL info: something informative"]
        return body

    shaped(httpserver, answer)
    got = prom.pull(fake_source(httpserver, allow_warnings=True), AttributeMap.default(), START, END)
    text = "\n".join(got.notes)
    assert "server warning accepted: remote_read: store eu-1 unavailable" in text
    assert "PromQL info: metric might not be a counter" in text and "something informative" in text


def test_a_timeout_is_split_by_days_not_retried(httpserver: Any) -> None:
    def answer(form: dict) -> Any:
        if int(form["end"]) - int(form["start"]) > 0:  # more than one day: too much work
            return 503, {"status": "error", "errorType": "timeout", "error": "query timed out in expression evaluation"}
        return tokens_or_requests(form) if form["start"] == str(DAY_END["2026-10-01"]) else matrix()

    seen = shaped(httpserver, answer)
    got = prom.pull(fake_source(httpserver, attempts=5), AttributeMap.default(), START, END,
                    sleep=lambda s: pytest.fail("a timeout must not be retried"))
    assert got.frame["input_tokens"].to_list() == [100]
    assert got.stats["day_splits"] == 2 * 3  # per spec: 3 days -> 1 + 2 -> 1 + 1
    assert len(seen) == got.stats["queries"]


def test_a_503_without_a_limit_is_retried(httpserver: Any) -> None:
    calls = {"n": 0}

    def answer(form: dict) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            return 503, {"status": "error", "errorType": "unavailable", "error": "storage is starting"}
        return tokens_or_requests(form)

    shaped(httpserver, answer)
    slept: list[float] = []
    got = prom.pull(fake_source(httpserver), AttributeMap.default(), START, END, sleep=slept.append)
    assert got.frame["requests"].to_list() == [2] and len(slept) == 1


def test_unauthorized_names_the_settings(httpserver: Any) -> None:
    httpserver.expect_request("/api/v1/status/buildinfo").respond_with_data("Unauthorized", status=401)
    with pytest.raises(SourceError, match=r"prometheus metrics buildinfo: HTTP 401 unauthorized .*user_env"):
        prom.pull(fake_source(httpserver), AttributeMap.default(), START, END)


def test_no_genai_metrics_is_said(httpserver: Any) -> None:
    shaped(httpserver, tokens_or_requests, names=["up", "target_info"])
    got = prom.pull(fake_source(httpserver), AttributeMap.default(), START, END)
    assert got.frame.is_empty()
    assert any("no GenAI token metrics" in n for n in got.notes)


# --- options, PromQL text ----------------------------------------------------------------------

@pytest.mark.parametrize("options,match", [
    ({}, r"sources.m: url must be an http\(s\) URL such as \"http://prometheus:9090\""),
    ({"url": "http://p:9090", "resorce": "labels"}, r"unknown option 'resorce' \(did you mean 'resource'\?\)"),
    ({"url": "http://p:9090", "resource": "both"}, r"resource must be one of auto, labels, target_info"),
    ({"url": "http://p:9090", "labels": {"teem": "team_id"}},
     r"sources.m.labels: unknown field 'teem' \(did you mean 'team'\?\)"),
    ({"url": "http://p:9090", "labels": {"team": "team.id"}}, r"'team.id' is not a valid Prometheus name"),
    ({"url": "http://p:9090", "metrics": {"token_usage": "gen_ai.client.token.usage"}}, r"not a valid Prometheus name"),
    ({"url": "http://p:9090", "metrics": {"tokens": "x"}}, r"unknown metric family 'tokens'"),
    ({"url": "http://p:9090", "selector": "prod"}, r"'prod' is not a label matcher"),
    ({"url": "http://p:9090", "max_points": 0}, r"max_points must be a positive integer"),
    ({"url": "http://p:9090", "check_lookback": "5 weeks"}, r"check_lookback must be a duration"),
    ({"url": "http://p:9090", "user_env": "U"}, r"basic auth needs both user_env and password_env"),
    ({"url": "http://p:9090", "token_env": "FINOPS_TEST_UNSET_TOKEN"},
     r"environment variable FINOPS_TEST_UNSET_TOKEN is not set"),
])
def test_options_errors_name_the_key(options: dict, match: str) -> None:
    from finops.errors import ConfigError

    with pytest.raises(ConfigError, match=match):
        prom.parse_options(SpanSource("m", "prometheus", options), AttributeMap.default())


def test_default_labels_follow_the_attribute_mapping() -> None:
    attrs = AttributeMap({**AttributeMap.default().keys, "team": ("squad.name", "team.id")})
    opts = prom.parse_options(SpanSource("m", "prometheus", {
        "url": "http://p:9090", "selector": ['env="prod"', '{cluster=~"eu-.*"}']}), attrs)
    assert opts.labels["team"] == ("squad_name", "team_id")
    assert opts.labels["model"] == ("gen_ai_response_model", "llm_response_model", "gen_ai_request_model",
                                    "llm_model_name")
    assert opts.selector == ('env="prod"', 'cluster=~"eu-.*"')
    assert prom.promql.label_for("2fa.enabled") == "key_2fa_enabled"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=12, unique=True), st.text(max_size=12))
def test_regex_alternatives_match_exactly_the_values(values: list[str], other: str) -> None:
    import re

    rx = re.compile(prom.promql.regex_alternatives(values), re.S)
    assert all(rx.fullmatch(v) for v in values)
    assert (rx.fullmatch(other) is not None) == (other in values)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab.:-0123456789", min_size=1, max_size=30), min_size=2, max_size=60, unique=True),
       st.integers(min_value=20, max_value=400))
def test_partition_covers_every_value_once_within_budget(values: list[str], budget: int) -> None:
    from finops.sources.prometheus.pushdown import partition

    values = ["", *values]
    groups = partition(values, budget)
    assert len(groups) >= 2
    assert sorted(v for g in groups for v in g) == sorted(values)
    for g in groups:
        assert len(g) == 1 or len(prom.promql.regex_alternatives(g)) <= budget


# --- through the library API and the CLI ---------------------------------------------------------

@pytest.mark.slow
def test_pull_loads_the_warehouse_and_sources_check_shows_metrics(server: Server, tmp_path: Path, prices_dir: Path,
                                                                   cli: Any) -> None:
    from finops import api
    from finops.config import load_config
    from finops.warehouse import connect
    from finops.windows import Window

    cfg = tmp_path / "finops.toml"
    cfg.write_text(f'[warehouse]\npath = "w.duckdb"\n[pricing]\ndir = "{prices_dir}"\n'
                   f'[reconcile]\ntoday = 2026-11-23\n\n[[sources]]\nname = "metrics"\nkind = "prometheus"\n'
                   f'url = "{server.url}"\nselector = \'scenario="target_info"\'\ncheck_lookback = "3650d"\n')
    config = load_config(cfg)
    window = Window(START, END)
    for _ in range(2):  # a re-run replaces the window: never double counted
        result = api.pull(config, window)
        assert not result.failed, result.failed
    (res,) = result.sources
    assert res.kind == "prometheus" and res.rows == res.stats["rows"] > 20
    con = connect(tmp_path / "w.duckdb", read_only=True)
    total = con.execute("SELECT sum(input_tokens), sum(requests) FROM usage_daily WHERE source = 'metrics'").fetchone()
    con.close()
    spans = span_rows(tmp_path, BASE)
    assert total == (spans["input_tokens"].sum(), spans["requests"].sum())

    r = cli("-c", str(cfg), "sources", "check")
    assert r.code == 0, r.err
    flat = " ".join(r.out.split())
    for text in ("gen_ai_client_token_usage_sum", "gen_ai_token_type", "team_id", "NOT distinguished"):
        assert text in flat


@pytest.mark.slow
def test_demo_metrics_script_runs(tmp_path: Path) -> None:
    """`make demo-metrics` on two days: SDK export, VictoriaMetrics, pull, reconcile, report."""
    import subprocess
    import sys

    from metrics_servers import free_port

    if not VICTORIA:
        pytest.skip(MISSING_VICTORIA)
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, str(root / "scripts" / "demo_metrics.py"), "--out", str(tmp_path),
                           "--days", "2", "--port", str(free_port())],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "metrics: metrics:" in proc.stdout and "do not tell cache reads" in proc.stdout
    lines = {ln.split()[0]: ln for ln in proc.stdout.splitlines() if "estimated" in ln and "drift" in ln}
    assert set(lines) == {"spans", "metrics"}
    assert [p.name for p in (tmp_path / "reports-metrics").glob("*.html")] == [
        "chargeback-2026-10-01..2026-10-03.html"]
    from finops.config import load_config

    cfg = load_config(tmp_path / "finops-metrics.toml")
    assert [s.kind for s in cfg.span_sources] == ["prometheus"] and cfg.warehouse.name == "finops-metrics.duckdb"


def test_docs_name_every_option() -> None:
    import tomllib

    from finops.sources.prometheus.options import OPTIONS

    doc = prom.__doc__ or ""
    block = doc[doc.index("[[sources]]"):doc.index("What the metrics cannot say")]
    toml = "\n".join(line.split("  #")[0] if not line.strip().startswith("#") else ""
                     for line in block.splitlines())
    example = tomllib.loads("\n".join(ln.strip() for ln in toml.splitlines()))["sources"][0]
    commented = {ln.strip().lstrip("# ").split(" ")[0] for ln in block.splitlines() if "_env" in ln}
    assert OPTIONS <= set(example) | commented | {"user_env", "password_env", "token_env"}
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert '`"prometheus"`' in readme and 'kind = "prometheus"' in readme
    assert "finops/sources/prometheus/__init__.py" in readme
