"""The Tempo span source against a fake Tempo on a loopback socket (tests/fake_tempo.py)."""

from __future__ import annotations

import json
import logging
import random
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests
from fake_tempo import FakeTempo, parse, tempo_sum
from otel_helpers import write_spans_file
from pytest_httpserver import HTTPServer

from finops.config import AttributeMap, SpanSource
from finops.errors import ConfigError, DataError, SourceError
from finops.schemas import USAGE_SCHEMA
from finops.sources import otlp_file, tempo
from finops.sources.tempo.decode import (
    Ctx,
    b64_id,
    full_trace,
    json_body,
    metrics_range,
    search_traces,
)

logging.getLogger("werkzeug").setLevel(logging.ERROR)
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tempo"
NS = 1_000_000_000
DAY1 = date(2026, 10, 3)
DAY3 = date(2026, 10, 6)
ATTRS = AttributeMap.default()


def ns(day: date, seconds: float) -> int:
    base = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    return base * NS + int(seconds * NS)


# --------------------------------------------------------------------------- the span set

def make_spans(seed: int = 3) -> list[dict[str, Any]]:
    """A known synthetic span set over three days (plus spans just outside the window).

    Two providers (one spelled as an alias), accounts on some spans only, spans without a
    team or feature, project on the resource, batch tier, cache reads and writes, reasoning
    tokens, a span without a provider (inferred from the model), non-LLM spans in the same
    traces, traces with many LLM spans (more than spss), trace ids with leading zeros.
    Anthropic spans carry *exclusive* input counts (configured per provider).
    """
    rng = random.Random(seed)
    spans: list[dict[str, Any]] = []
    span_no = 0
    days = [date(2026, 10, 2), DAY1, date(2026, 10, 4), date(2026, 10, 5), DAY3]
    for trace_no in range(120):
        day = days[0] if trace_no < 3 else days[-1] if trace_no >= 117 else \
            days[1 + trace_no % 3]
        t0 = rng.uniform(1, 86400 - 120)
        n = 7 if trace_no % 10 == 0 else rng.randint(1, 3)
        trace_id = f"{trace_no + 1:x}" if trace_no % 4 else f"{trace_no + 1:032x}"
        team = None if trace_no % 9 == 0 else f"team-{trace_no % 4}"
        resource = {"service.name": "llm-gateway", "project.id": f"project-{trace_no % 3}"}
        for k in range(n + 1):
            span_no += 1
            start = ns(day, t0 + k * 7.5 + rng.random())
            if k == 0:  # the parent: an HTTP span, not an LLM call
                attrs: dict[str, Any] = {"http.route": "/chat"}
                if team:
                    attrs["team.id"] = team
                spans.append({"trace_id": trace_id, "span_id": f"{span_no:x}", "start_ns": start,
                              "attributes": attrs, "resource": resource, "name": "POST /chat"})
                continue
            anthropic = rng.random() < 0.4
            attrs = {}
            if anthropic:
                attrs["gen_ai.provider.name"] = "anthropic"
                attrs["gen_ai.response.model"] = rng.choice(
                    ["claude-sonnet-4-20250514", "claude-3-5-haiku-20241022"])
                attrs["gen_ai.usage.input_tokens"] = rng.randint(0, 300)  # exclusive count
                if rng.random() < 0.6:
                    attrs["gen_ai.usage.cache_read.input_tokens"] = rng.randint(0, 5000)
                if rng.random() < 0.3:
                    attrs["gen_ai.usage.cache_creation.input_tokens"] = rng.randint(0, 2000)
            else:
                if rng.random() < 0.1:
                    pass  # no provider attribute: inferred from the model name
                else:
                    attrs["gen_ai.provider.name"] = rng.choice(["openai", "openai", "OpenAI"])
                attrs["gen_ai.response.model"] = rng.choice(["gpt-4o", "gpt-4o-mini", "o4-mini"])
                inp = rng.randint(1, 6000)
                attrs["gen_ai.usage.input_tokens"] = inp
                if rng.random() < 0.5:
                    attrs["gen_ai.usage.cache_read.input_tokens"] = rng.randint(0, inp)
                if attrs["gen_ai.response.model"] == "o4-mini":
                    attrs["gen_ai.usage.reasoning.output_tokens"] = rng.randint(0, 400)
                if rng.random() < 0.2:
                    attrs["gen_ai.openai.response.service_tier"] = rng.choice(["batch", "default"])
            attrs["gen_ai.usage.output_tokens"] = rng.randint(0, 1500)
            if attrs.get("gen_ai.usage.reasoning.output_tokens"):
                attrs["gen_ai.usage.output_tokens"] += attrs["gen_ai.usage.reasoning.output_tokens"]
            if team:
                attrs["team.id"] = team
            if rng.random() < 0.8:
                attrs["feature.id"] = rng.choice(["chat", "summarise", "search"])
            if rng.random() < 0.3:
                attrs["llm.account.id"] = rng.choice(["proj_a", "proj_b"])
            spans.append({"trace_id": trace_id, "span_id": f"{span_no:x}", "start_ns": start,
                          "attributes": attrs, "resource": resource})
    return spans


SPANS = make_spans()
OPTIONS: dict[str, Any] = {"scope": {"project": "resource"}, "spss": 3, "search_limit": 10}
CONVENTION = {"anthropic": "exclusive"}


@pytest.fixture
def serve(httpserver: HTTPServer):
    """Start a fake Tempo on the loopback server: ``serve(spans, **fake_options)``."""
    def start(spans: Any = SPANS, **kw: Any) -> tuple[FakeTempo, str]:
        fake = FakeTempo(spans, **kw)
        return fake, fake.install(httpserver)
    return start


def source(url: str, **options: Any) -> SpanSource:
    return SpanSource("tempo", "tempo", {"url": url, **OPTIONS, **options}, CONVENTION)


def run(url: str, sleeps: list[float] | None = None, progress: list[Any] | None = None,
        start: date = DAY1, end: date = DAY3, **options: Any):
    def record(label: str, done: int, total: int | None) -> None:
        if progress is not None:
            progress.append((label, done, total))
    return tempo.pull(source(url, **options), ATTRS, start, end,
                      progress=record, sleep=(sleeps.append if sleeps is not None else None))


def expected_rows() -> pl.DataFrame:
    """The rollup computed directly from the span dicts (independent of any source)."""
    from finops.sources.rollup import Rollup

    rollup = Rollup(CONVENTION, "expected")
    fields = {"provider": "gen_ai.provider.name", "account": "llm.account.id",
              "model": "gen_ai.response.model",
              "service_tier": "gen_ai.openai.response.service_tier", "team": "team.id",
              "project": "project.id", "feature": "feature.id"}
    tokens = ["gen_ai.usage.input_tokens", "gen_ai.usage.cache_read.input_tokens",
              "gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.output_tokens",
              "gen_ai.usage.reasoning.output_tokens"]
    lo, hi = ns(DAY1, 0), ns(DAY3, 0)
    for s in SPANS:
        a = {**s["resource"], **s["attributes"]}
        if "gen_ai.response.model" not in a or not lo <= s["start_ns"] < hi:
            continue
        day = datetime.fromtimestamp(s["start_ns"] // NS, UTC).date()
        rollup.add_span(day, tuple(a.get(fields[f]) for f in fields),
                        tuple(a.get(t, 0) for t in tokens), "expected")  # type: ignore[arg-type]
    return rollup.frame("tempo", "expected")


def test_span_set_covers_the_cases() -> None:
    llm = [s for s in SPANS if "gen_ai.response.model" in s["attributes"]]
    assert any("gen_ai.provider.name" not in s["attributes"] for s in llm)
    assert any(s["attributes"].get("gen_ai.usage.cache_read.input_tokens", 0)
               > s["attributes"]["gen_ai.usage.input_tokens"] for s in llm)
    assert any(len(s["trace_id"]) < 32 for s in SPANS)
    frame = expected_rows()
    assert {"openai", "anthropic"} <= set(frame["provider"])
    assert {"proj_a", ""} <= set(frame["account"])  # "": spans with no account attribute
    assert "unattributed" in set(frame["team"]) and "batch" in set(frame["service_tier"])
    assert frame["day"].n_unique() == 3


# --------------------------------------------------------------------------- equivalence

@pytest.mark.parametrize("version", ["2.10.1", "3.0.3"])
def test_pushdown_and_search_equal_the_spans(serve, version: str) -> None:
    fake, url = serve(version=version)
    push = run(url, mode="pushdown")
    search = run(url, mode="search", search_step="24h")
    want = expected_rows()
    assert push.frame.schema == pl.Schema(USAGE_SCHEMA)
    assert push.frame.equals(want), push.frame.join(want, on=list(want.columns), how="anti")
    assert search.frame.equals(want)
    assert push.stats["pushdown"] == 1 and search.stats["pushdown"] == 0
    assert search.stats["full_traces"] > 0  # spss truncation was detected and resolved
    assert search.stats["tile_splits"] > 0  # the limit was hit and tiles shrank
    tiles_per_day = 8 if version.startswith("2.") else 1
    assert push.stats["tiles"] == 3 * tiles_per_day


def test_pushdown_search_and_otlp_file_agree(serve, tmp_path: Path) -> None:
    path = write_spans_file(tmp_path / "spans.jsonl", [
        {"resource": s["resource"], "attributes": s["attributes"], "start": s["start_ns"],
         "name": s.get("name", "chat")} for s in SPANS], spans_per_line=50)
    otlp = otlp_file.pull(SpanSource("tempo", "otlp_files", {"paths": [str(path)]}, CONVENTION),
                          ATTRS, DAY1, DAY3)
    _, url = serve()
    push = run(url, mode="pushdown")
    search = run(url, mode="search")
    assert otlp.frame.height == push.frame.height > 20
    assert push.frame.equals(otlp.frame)
    assert search.frame.equals(otlp.frame)


def test_resource_scoped_team(serve) -> None:
    spans = [{**s, "resource": {**s["resource"], "team.id": s["attributes"]["team.id"]},
              "attributes": {k: v for k, v in s["attributes"].items() if k != "team.id"}}
             for s in SPANS if "team.id" in s["attributes"]]
    fake, url = serve(spans)
    frame = run(url, scope={"project": "resource", "team": "resource"}).frame
    assert "unattributed" not in set(frame["team"]) and frame["team"].n_unique() == 4
    assert any("by (resource.team.id" in q for q in fake.queries())


# --------------------------------------------------------------------------- the fake itself

def test_fake_speaks_tempo_encoding(serve) -> None:
    t = ns(DAY1, 0)
    spans = [
        {"trace_id": "c", "span_id": "1", "start_ns": t + 600 * NS,
         "attributes": {"team.id": "a", "feature.id": "f", "gen_ai.usage.input_tokens": 5}},
        {"trace_id": "c", "span_id": "2", "start_ns": t + 4000 * NS,
         "attributes": {"feature.id": "f", "gen_ai.usage.input_tokens": 7}},  # no team
        {"trace_id": "c", "span_id": "3", "start_ns": t + 4100 * NS,
         "attributes": {"gen_ai.usage.input_tokens": 1}},  # no team, no feature
    ]
    _, url = serve(spans, version="2.10.1")
    params = {"q": "{ span.gen_ai.usage.input_tokens > 0 } | count_over_time() "
                   "by (span.team.id, span.feature.id)",
              "start": t // NS, "end": t // NS + 7200, "step": "1h"}
    body = requests.get(url + "/api/metrics/query_range", params=params, timeout=5).json()
    series = {json.dumps(s["labels"]): s["samples"] for s in body["series"]}
    hour = (t // NS) * 1000
    a_f = json.dumps([{"key": "span.team.id", "value": {"stringValue": "a"}},
                      {"key": "span.feature.id", "value": {"stringValue": "f"}}])
    f_only = json.dumps([{"key": "span.feature.id", "value": {"stringValue": "f"}}])
    nil = json.dumps([{"key": "span.team.id", "value": {"stringValue": "nil"}}])
    assert set(series) == {a_f, f_only, nil}
    # leading bucket (t - 1h, t], then (t, t+1h], (t+1h, t+2h]; timestamps are strings,
    # zero counts have no value
    assert series[a_f] == [{"timestampMs": str(hour)},
                           {"timestampMs": str(hour + 3_600_000), "value": 1},
                           {"timestampMs": str(hour + 7_200_000)}]
    assert series[f_only][2] == {"timestampMs": str(hour + 7_200_000), "value": 1}
    too_long = requests.get(url + "/api/metrics/query_range", timeout=5, params={
        **params, "end": t // NS + 4 * 3600})
    assert too_long.status_code == 400
    assert too_long.headers["Content-Type"].startswith("text/plain")
    assert too_long.text == ("metrics query time range exceeds the maximum allowed duration "
                             "of 3h0m0s")
    search = requests.get(url + "/api/search", timeout=5, params={
        "q": "{ span.gen_ai.usage.input_tokens > 0 } | select(span.team.id)", "limit": 5,
        "spss": 2, "start": t // NS, "end": t // NS + 7200}).json()
    (trace,) = search["traces"]
    assert trace["traceID"] == "c"  # leading zeros stripped, as Tempo does by default
    assert trace["spanSets"][0]["matched"] == 3 and len(trace["spanSets"][0]["spans"]) == 2
    assert trace["spanSets"][0]["spans"][0]["attributes"] == [
        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "5"}},
        {"key": "team.id", "value": {"stringValue": "a"}}]
    full = requests.get(url + "/api/v2/traces/c", timeout=5).json()
    ids = [sp["spanId"] for rs in full["trace"]["resourceSpans"]
           for ss in rs["scopeSpans"] for sp in ss["spans"]]
    assert ids == ["AAAAAAAAAAE=", "AAAAAAAAAAI=", "AAAAAAAAAAM="]  # base64, not hex
    assert requests.get(url + "/api/v2/traces/d", timeout=5).json() == {"trace": {}}


# --------------------------------------------------------------------------- #7857

def test_sum_over_time_bug_in_the_fake_and_finops_is_immune(serve) -> None:
    t = ns(DAY1, 3600)
    spans = [
        {"trace_id": "a1", "span_id": f"{i + 1:x}", "start_ns": t + i * NS,
         "attributes": {"gen_ai.provider.name": "openai", "gen_ai.response.model": "gpt-4o",
                        **({"gen_ai.usage.reasoning.output_tokens": v} if v else {})}}
        for i, v in enumerate([10, None, 20, 30, 40])]
    fake, url = serve(spans)
    start, end = ns(DAY1, 0) // NS, ns(DAY1, 3 * 3600) // NS

    def total(q: str) -> float:
        body = requests.get(url + "/api/metrics/query_range", timeout=5, params={
            "q": q, "start": start, "end": end, "step": "3h"}).json()
        return sum(float(s.get("value", 0)) for series in body["series"]
                   for s in series["samples"])

    attr = "span.gen_ai.usage.reasoning.output_tokens"
    unfiltered = total(f'{{ span.gen_ai.provider.name = "openai" }} | sum_over_time({attr})')
    filtered = total(f'{{ span.gen_ai.provider.name = "openai" && {attr} > 0 }} '
                     f'| sum_over_time({attr})')
    assert tempo_sum([10, None, 20, 30, 40]) == 40
    assert unfiltered == 40  # the bug: a span without the attribute corrupts the bucket
    assert filtered == 100
    frame = run(url, mode="pushdown").frame
    assert frame["reasoning_tokens"].sum() == 100 and frame["requests"].sum() == 5
    sums = [q for q in fake.queries() if "sum_over_time" in q and "exemplars" in q]
    assert sums and all(f"{q.split('sum_over_time(')[1].split(')')[0]} > 0" in q for q in sums)


def test_queries_respect_tempo_limits(serve) -> None:
    fake, url = serve()
    run(url, mode="pushdown")
    queries = fake.queries()
    for q in queries:
        parsed = parse(q)
        assert len(parsed.by) <= 5
        assert parsed.hints == {"exemplars": "0"}
        if parsed.fn == "sum_over_time":
            assert parsed.fn_arg is not None
    for _, args in fake.log:
        if "step" in args:
            assert int(args["end"]) - int(args["start"]) == int(args["step"].rstrip("s"))
            assert int(args["start"]) % int(args["step"].rstrip("s")) == 0


# --------------------------------------------------------------------------- versions

def test_version_2_7_uses_search_in_auto_and_refuses_pushdown(serve) -> None:
    fake, url = serve(version="2.7.2")
    pulled = run(url)
    assert pulled.stats["pushdown"] == 0 and pulled.frame.equals(expected_rows())
    assert any("no sum_over_time" in n for n in pulled.notes)
    assert not fake.queries()
    with pytest.raises(ConfigError, match="needs sum_over_time"):
        run(url, mode="pushdown")


def test_auto_falls_back_to_search_without_metrics(serve) -> None:
    _, url = serve(metrics=False)
    pulled = run(url)
    assert pulled.stats["pushdown"] == 0 and pulled.frame.equals(expected_rows())
    assert any("localblocks" in n for n in pulled.notes)
    with pytest.raises(SourceError, match="serves no TraceQL metrics"):
        run(url, mode="pushdown")


def test_shorter_server_maximum_halves_tiles(serve) -> None:
    # A 2.x frontend that counts the aligned range (with its leading bucket) against 3h.
    fake, url = serve(version="2.10.1", check_aligned_range=True)
    pulled = run(url, mode="pushdown", end=date(2026, 10, 4))
    assert pulled.frame.equals(expected_rows().filter(pl.col("day") == DAY1))
    assert any("using 5400s tiles" in n for n in pulled.notes)


def test_step_option_and_its_checks(serve) -> None:
    fake, url = serve(version="3.0.3")
    pulled = run(url, mode="pushdown", step="6h")
    assert pulled.stats["tiles"] == 12 and pulled.frame.equals(expected_rows())
    with pytest.raises(ConfigError, match="step must divide a day"):
        run(url, step="5h")
    _, url2 = serve(version="2.10.1")
    with pytest.raises(ConfigError, match="exceeds the metrics maximum"):
        run(url2, step="6h", mode="pushdown")


# --------------------------------------------------------------------------- PARTIAL

def test_partial_answers_are_requeried_in_smaller_tiles(serve) -> None:
    fake, url = serve(version="3.0.3", max_series=12)
    pulled = run(url, mode="pushdown", end=date(2026, 10, 4))
    assert pulled.frame.equals(expected_rows().filter(pl.col("day") == DAY1))
    assert pulled.stats["tile_splits"] > 0
    assert any("PARTIAL" in n for n in pulled.notes)


def test_persistent_partial_is_an_error(serve) -> None:
    _, url = serve(version="3.0.3", max_series=1)
    with pytest.raises(SourceError, match=r"^tempo 2026-10-03T\d\d:\d\d(:\d\d)?Z\.\.\S+: Tempo "
                                          r"returned a PARTIAL answer"):
        run(url, mode="pushdown")


# --------------------------------------------------------------------------- failures

def test_429_with_retry_after_then_success(serve) -> None:
    fake, url = serve()
    fake.fail("/api/metrics/query_range", 429, "job queue full", headers={"Retry-After": "7"})
    sleeps: list[float] = []
    pulled = run(url, sleeps, mode="pushdown")
    assert sleeps == [7.0]
    assert pulled.frame.equals(expected_rows())


def test_5xx_is_retried(serve) -> None:
    fake, url = serve()
    fake.fail("/api/search", 502, "<html><body>Bad gateway</body></html>", times=2,
              content_type="text/html")
    sleeps: list[float] = []
    pulled = run(url, sleeps, mode="search")
    assert len(sleeps) == 2 and pulled.frame.equals(expected_rows())


def test_5xx_gives_up_with_a_clear_line(serve) -> None:
    fake, url = serve(version="2.10.1")
    fake.fail("/api/metrics/query_range", 503, "", times=99)
    with pytest.raises(SourceError) as e:
        run(url, [], mode="pushdown", attempts=3)
    assert str(e.value) == "tempo 2026-10-03T00:00Z..03:00Z: HTTP 503 after 3 attempts: "


def test_plain_text_400_is_surfaced(serve) -> None:
    fake, url = serve(version="2.10.1")
    fake.fail("/api/metrics/query_range", 400,
              "invalid TraceQL query: parse error at line 1, col 3: syntax error")
    with pytest.raises(SourceError) as e:
        run(url, [], mode="pushdown")
    line = str(e.value)
    assert line.startswith("tempo 2026-10-03T00:00Z..03:00Z: HTTP 400: invalid TraceQL query: "
                           "parse error at line 1, col 3: syntax error (query: {")
    assert "\n" not in line


def test_401_no_org_id_is_explained_as_the_tenant_setting(serve) -> None:
    _, url = serve(tenant="acme")
    with pytest.raises(SourceError, match=r"no org id: .*set tenant = \"<org id>\""):
        run(url, [])
    assert run(url, tenant="acme").frame.equals(expected_rows())
    other = run(url, tenant="someone-else")
    assert other.frame.is_empty()


def test_grafana_cloud_prefix_and_basic_auth(serve, monkeypatch: pytest.MonkeyPatch) -> None:
    _, url = serve(prefix="/tempo", basic=("123456", "glc_secret-token-value"))
    assert url.endswith("/tempo")
    monkeypatch.setenv("TEMPO_USER", "123456")
    monkeypatch.setenv("TEMPO_TOKEN", "glc_secret-token-value")
    pulled = run(url, user_env="TEMPO_USER", password_env="TEMPO_TOKEN")
    assert pulled.frame.equals(expected_rows())
    monkeypatch.setenv("TEMPO_TOKEN", "glc_wrong-token-value")
    with pytest.raises(SourceError) as e:
        run(url, [], user_env="TEMPO_USER", password_env="TEMPO_TOKEN")
    assert "HTTP 401" in str(e.value) and "traces:read" in str(e.value)
    assert "glc_" not in str(e.value)
    with pytest.raises(SourceError, match="path prefix"):
        run(url.removesuffix("/tempo"), [], user_env="TEMPO_USER", password_env="TEMPO_TOKEN",
            mode="search")


def test_bearer_token(serve, monkeypatch: pytest.MonkeyPatch) -> None:
    _, url = serve(bearer="tok-123456")
    monkeypatch.setenv("TEMPO_BEARER", "tok-123456")
    assert run(url, token_env="TEMPO_BEARER").frame.equals(expected_rows())


def test_wrong_types_name_tempo_the_tile_and_the_field(serve) -> None:
    fake, url = serve(version="2.10.1")

    def corrupt(text: str) -> str:
        body = json.loads(text)
        body["series"][0]["samples"][0]["value"] = "abc"
        return json.dumps(body)
    fake.mangle("/api/metrics/query_range", corrupt)
    with pytest.raises(SourceError) as e:
        run(url, [], mode="pushdown")
    assert str(e.value) == ('tempo 2026-10-03T00:00Z..03:00Z: series[0].samples[0].value: '
                            'expected a number, got "abc"')


@pytest.mark.parametrize("transform, needle", [
    (lambda t: t[: len(t) // 2], "body: not valid JSON (truncated?)"),
    (lambda t: '{"series": {"labels": []}}', "series: expected a list, got an object"),
    (lambda t: '{"series": [{"labels": [], "samples": [{"value": 3}]}]}',
     "series[0].samples[0].timestampMs: missing"),
    (lambda t: '{"series": [{"labels": [{"key": "span.team.id", "value": {"stringValue": 7}}]}]}',
     "series[0].labels[0].value.stringValue: expected a string, got 7"),
    (lambda t: '[1, 2]', "body: expected a JSON object, got a list"),
])
def test_bad_bodies_are_one_clear_line(serve, transform, needle: str) -> None:
    fake, url = serve(version="2.10.1")
    fake.mangle("/api/metrics/query_range", transform)
    with pytest.raises(SourceError) as e:
        run(url, [], mode="pushdown")
    assert str(e.value).startswith(f"tempo 2026-10-03T00:00Z..03:00Z: {needle}")
    assert "\n" not in str(e.value)


def test_html_page_is_named(serve) -> None:
    fake, url = serve(version="2.10.1")
    fake.fail("/api/metrics/query_range", 200, "<!DOCTYPE html><html>Grafana login</html>",
              content_type="text/html")
    with pytest.raises(SourceError, match=r"^tempo 2026-10-03T00:00Z\.\.03:00Z: body: expected "
                                          "JSON, got an HTML page"):
        run(url, [], mode="pushdown")


def test_a_failure_late_in_the_window_returns_nothing(serve) -> None:
    fake, url = serve(version="3.0.3")
    original = fake._route
    last_day = str(ns(date(2026, 10, 5), 0) // NS)

    def route(path: str, args: dict[str, str], frame: pl.DataFrame) -> Any:
        if path == "/api/metrics/query_range" and args.get("start") == last_day:
            return 200, {"series": "cut"}
        return original(path, args, frame)
    fake._route = route  # type: ignore[method-assign]
    with pytest.raises(SourceError, match=r"^tempo 2026-10-05T00:00Z\.\.24:00Z: series: "):
        run(url, [], mode="pushdown")
    assert any(a.get("start") == last_day for _, a in fake.log)  # days 1-2 had succeeded


# --------------------------------------------------------------------------- search details

def test_search_pads_ids_fetches_full_traces_and_dedupes(serve) -> None:
    fake, url = serve(version="2.7.0")
    pulled = run(url, spss=2, search_limit=1000)
    assert pulled.frame.equals(expected_rows())
    fetched = [p for p, _ in fake.log if p.startswith("/api/v2/traces/")]
    assert fetched and all(len(p.rsplit("/", 1)[1]) == 32 for p in fetched)
    searches = [a for p, a in fake.log if p == "/api/search"]
    assert all(a["spss"] == "2" and a["limit"] == "1000" for a in searches)
    assert all(a["start"].isdigit() and a["end"].isdigit() for a in searches)


def test_search_limit_hit_even_at_one_second_is_an_error(serve) -> None:
    t = ns(DAY1, 7200)
    spans = [{"trace_id": f"{i + 1:x}", "span_id": f"{i + 1:x}", "start_ns": t + i,
              "attributes": {"gen_ai.response.model": "gpt-4o",
                             "gen_ai.usage.input_tokens": 1}} for i in range(3)]
    _, url = serve(spans, version="2.7.0")
    with pytest.raises(SourceError, match="even for a 1-second tile: raise search_limit"):
        run(url, search_limit=2)


# --------------------------------------------------------------------------- conventions

def test_pushdown_applies_the_convention_to_group_sums(serve) -> None:
    t = ns(DAY1, 600)
    spans = [{"trace_id": "b", "span_id": f"{i + 1:x}", "start_ns": t + i * NS,
              "attributes": {"gen_ai.provider.name": "anthropic",
                             "gen_ai.response.model": "claude-sonnet-4-20250514",
                             "team.id": "t", "gen_ai.usage.input_tokens": 10,
                             "gen_ai.usage.cache_read.input_tokens": 500}} for i in range(2)]
    _, url = serve(spans)
    src = SpanSource("tempo", "tempo", {"url": url, "mode": "pushdown"})
    auto = tempo.pull(src, ATTRS, DAY1, date(2026, 10, 4))
    row = auto.frame.row(0, named=True)
    assert (row["input_tokens"], row["cache_read_tokens"], row["requests"]) == (20, 1000, 2)
    assert auto.stats["exclusive_detected"] == 1
    assert any("read as exclusive" in n for n in auto.notes)
    strict = SpanSource("tempo", "tempo", {"url": url, "mode": "pushdown"},
                        {"anthropic": "inclusive"})
    with pytest.raises(DataError, match='set input_convention.anthropic = "exclusive"'):
        tempo.pull(strict, ATTRS, DAY1, date(2026, 10, 4))


# --------------------------------------------------------------------------- progress, check

def test_progress_per_tile(serve) -> None:
    _, url = serve(version="2.10.1")
    seen: list[Any] = []
    run(url, progress=seen, mode="pushdown", end=date(2026, 10, 4))
    assert [done for _, done, _ in seen] == list(range(1, 9))
    assert {total for _, _, total in seen} == {8}
    assert seen[0][0] == "tempo 2026-10-03T00:00Z..03:00Z"
    assert seen[-1][0] == "tempo 2026-10-03T21:00Z..24:00Z"


def test_requests_do_not_depend_on_span_count(serve) -> None:
    fake, url = serve()
    few = run(url, mode="pushdown").stats["http_requests"]
    many_spans = [dict(s, span_id=f"{i:x}0", start_ns=s["start_ns"] + 1) for i, s in
                  enumerate(SPANS)] + SPANS
    _, url2 = serve(many_spans)
    assert run(url2, mode="pushdown").stats["http_requests"] == few


def test_check_reports_version_mode_reachable_auth(serve, monkeypatch: pytest.MonkeyPatch
                                                    ) -> None:
    _, url = serve(version="2.10.1", tenant="acme")
    good = dict(tempo.check(source(url, tenant="acme")))
    assert good["reachable"] == "yes" and good["version"] == "2.10.1"
    assert good["mode"].startswith("pushdown (TraceQL metrics, 3h tiles)")
    assert good["auth"] == "ok"
    bad = dict(tempo.check(source(url)))
    assert bad["auth"].startswith("failed:") and "tenant" in bad["auth"]
    down = dict(tempo.check(source("http://127.0.0.1:9")))
    assert down["reachable"].startswith("no:")
    old = dict(tempo.check(source(serve(version="2.7.1")[1])))
    assert old["mode"].startswith("search")
    _, cloud = serve(prefix="/tempo", basic=("123", "glc_right"))
    monkeypatch.setenv("TEMPO_USER", "123")
    monkeypatch.setenv("TEMPO_TOKEN", "glc_wrong")
    denied = dict(tempo.check(source(cloud, user_env="TEMPO_USER", password_env="TEMPO_TOKEN")))
    assert denied["reachable"] == "yes" and denied["auth"].startswith("failed:")
    assert "glc_wrong" not in str(denied)


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="did you mean 'spss'"):
        tempo.pull(source("http://x", spsss=3), ATTRS, DAY1, DAY3)
    with pytest.raises(ConfigError, match="spss must be between 1 and 100"):
        tempo.pull(source("http://x", spss=500), ATTRS, DAY1, DAY3)
    with pytest.raises(ConfigError, match="group_by takes up to 5"):
        tempo.pull(source("http://x", group_by=["team", "project", "feature", "model",
                                                "account", "service_tier"]), ATTRS, DAY1, DAY3)
    with pytest.raises(ConfigError, match="environment variable NOPE_NOT_SET"):
        tempo.pull(source("http://x", token_env="NOPE_NOT_SET"), ATTRS, DAY1, DAY3)
    with pytest.raises(ConfigError, match="scope.team must be 'any', 'span' or 'resource'"):
        tempo.pull(source("http://x", scope={"team": "event"}), ATTRS, DAY1, DAY3)


# --------------------------------------------------------------------------- decoding fixtures

CTX = Ctx("tempo", "fixture")


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.skipif(not FIXTURES.exists(), reason="shared fixtures not present")
def test_decoders_on_the_reference_fixtures() -> None:
    r = metrics_range(_fixture("metrics_query_range_sum_by.CONSTRUCTED.json"), CTX)
    assert [s.labels for s in r.series] == [{"span.foo": "bar"}, {"span.foo": "baz"}]
    assert r.series[1].samples == [(1000, 200.0), (3000, 1700.0)] and not r.partial
    p = metrics_range(_fixture("metrics_query_range_partial_maxseries.CONSTRUCTED.json"), CTX)
    assert p.partial and "maximum series limit of 3" in p.message
    assert p.series[0].samples[1] == (1700000010000, 0.0)  # value omitted = 0
    traces = search_traces(_fixture("search_traceql_compact.docs.json"), CTX)
    assert traces[0].trace_id == "5b8efff798038103d269b633813fc700"
    assert traces[0].spans[0].attributes == {"service.name": "my.service"}
    assert not traces[0].truncated
    err = search_traces(_fixture("search_traceql_status_error.docs.repaired.json"), CTX)
    assert err[0].spans[0].start_ns == 1684778327735077898
    spans, found = full_trace(_fixture("trace_by_id_v2.docs.json"), CTX)
    assert found and spans[0].span_id == "eee19b7ec3c1b100"
    assert b64_id("W47/95gDgQPSabYzgT/HAA==", 32, "x", CTX) == "5b8efff798038103d269b633813fc700"
    assert full_trace({"trace": {}}, CTX) == ([], False)


def test_decoding_accepts_both_integer_forms_and_refuses_nan() -> None:
    body = {"series": [{"labels": [{"key": "span.team.id", "value": {"intValue": "42"}}],
                        "samples": [{"timestampMs": 1000, "value": "12"},
                                    {"timestampMs": "2000"}]}]}
    r = metrics_range(body, CTX)
    assert r.series[0].labels == {"span.team.id": 42}
    assert r.series[0].samples == [(1000, 12.0), (2000, 0.0)]
    body["series"][0]["samples"][1]["value"] = "NaN"
    with pytest.raises(SourceError, match=r"series\[0\]\.samples\[1\]\.value: expected a "
                                          r"finite number, got \"NaN\""):
        metrics_range(body, CTX)


def test_tls_verification_is_on_by_default() -> None:
    from finops.sources.tempo.client import parse_options
    assert parse_options(source("https://t"), ATTRS).verify is True
    assert parse_options(source("https://t", verify_tls="/etc/ca.pem"), ATTRS).verify == \
        "/etc/ca.pem"


@pytest.mark.skipif(not FIXTURES.exists(), reason="shared fixtures not present")
def test_verbatim_doc_example_is_refused_clearly() -> None:
    text = (FIXTURES / "search_traceql_status_error.docs.verbatim.txt").read_text()
    resp = requests.Response()
    resp._content = text.encode()
    resp.status_code = 200
    with pytest.raises(SourceError, match=r"^tempo fixture: body: not valid JSON"):
        json_body(resp, CTX)
