"""The OpenObserve span source against a fake OpenObserve on a loopback socket.

The fake (tests/fake_openobserve.py) flattens OTLP spans with OpenObserve's column rules,
stores numbers as strings and executes the SQL finops sends in DuckDB, with the server's
paging, row cap, range clamp and error bodies.
"""

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
from fake_openobserve import FakeOpenObserve, flatten_request
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from otel_helpers import collector_json, collector_lines, llm_span, sdk_spans, write_spans_file
from pytest_httpserver import HTTPServer

from finops.config import AttributeMap, SpanSource
from finops.errors import ConfigError, DataError, SourceError
from finops.schemas import USAGE_SCHEMA
from finops.sources import openobserve, otlp_file
from finops.sources.openobserve import sql as q

logging.getLogger("werkzeug").setLevel(logging.ERROR)
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "openobserve"
ATTRS = AttributeMap.default()
USER, PASSWORD = "root@example.com", "Complexpass#123"
DAY1, DAY2, DAY3, DAY4 = (date(2026, 10, d) for d in (1, 2, 3, 4))
US = 1_000_000


@pytest.fixture(autouse=True)
def _creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("O2_USER", USER)
    monkeypatch.setenv("O2_PASSWORD", PASSWORD)


def at(day: date, hour: float = 12.0) -> str:
    base = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() + hour * 3600
    return datetime.fromtimestamp(base, UTC).isoformat()


def make_spans() -> list[dict[str, Any]]:
    """Synthetic spans over DAY1..DAY3, plus spans just outside, in both conventions."""
    rng = random.Random(5)
    spans: list[dict[str, Any]] = []
    teams = ["search", "ads", "o'brien \"quoted\"", None]
    for i in range(60):
        day = [DAY1, DAY2, DAY3][i % 3]
        hour = rng.uniform(0, 23.99)
        team = teams[i % 4]
        if i % 5 == 0:  # OpenInference, team on the resource
            a: dict[str, Any] = {
                "llm.provider": "openai", "llm.model_name": "gpt-4o-mini",
                "llm.token_count.prompt": rng.randint(100, 900),
                "llm.token_count.completion": rng.randint(1, 90),
                "llm.token_count.prompt_details.cache_read": rng.randint(0, 99),
                "project.id": "p1"}
            res = {"service.name": "rag", **({"team.id": team} if team else {})}
            spans.append({"resource": res, "attributes": a, "start": at(day, hour)})
        elif i % 5 == 1:  # Anthropic, exclusive counts on some spans (cache > input)
            a = {"gen_ai.system": "anthropic", "gen_ai.request.model": "claude-sonnet-4",
                 "gen_ai.usage.input_tokens": rng.randint(5, 50),
                 "gen_ai.usage.output_tokens": rng.randint(10, 99),
                 "gen_ai.usage.cache_read.input_tokens": rng.choice([0, 30, 800]),
                 "gen_ai.usage.cache_creation.input_tokens": rng.choice([0, 20]),
                 "feature.id": "summarise"}
            if team:
                a["team.id"] = team
            spans.append({"resource": {"service.name": "chat"}, "attributes": a,
                          "start": at(day, hour)})
        elif i % 5 == 2:  # OTel GenAI, batch tier, account, reasoning
            a = {"gen_ai.provider.name": "openai", "gen_ai.response.model": "o3-mini",
                 "gen_ai.usage.input_tokens": rng.randint(100, 999),
                 "gen_ai.usage.output_tokens": rng.randint(100, 999),
                 "gen_ai.usage.reasoning.output_tokens": rng.randint(0, 99),
                 "gen_ai.openai.response.service_tier": rng.choice(["default", "batch"]),
                 "openai.project.id": "proj_ops", "team": team or "ops"}
            spans.append({"resource": {}, "attributes": a, "start": at(day, hour)})
        elif i % 5 == 3:  # no provider: read from the model
            spans.append(llm_span(at(day, hour), provider=None, model="gpt-4o",
                                  input_tokens=rng.randint(1, 99), output_tokens=None,
                                  **({"team.id": team} if team else {})))
        else:  # a non-LLM span
            spans.append({"resource": {"service.name": "web"},
                          "attributes": {"http.route": "/x", "team.id": "web"},
                          "start": at(day, hour)})
    spans.append(llm_span(at(DAY4, 0.001)))  # just outside the window
    spans.append(llm_span(at(date(2026, 9, 30), 23.999)))
    return spans


SPANS = make_spans()
CONVENTION = {"*": "auto"}


@pytest.fixture
def serve(httpserver: HTTPServer):
    """``serve(spans, **fake_options)`` → (fake, base URL), spans ingested into "default"."""
    def start(spans: Any = SPANS, stream: str = "default", **kw: Any
              ) -> tuple[FakeOpenObserve, str]:
        fake = FakeOpenObserve(**kw)
        if spans:
            fake.ingest_lines(collector_lines(spans, spans_per_line=7), stream)
        return fake, fake.install(httpserver)
    return start


def source(url: str, convention: dict[str, str] | None = None, **options: Any) -> SpanSource:
    opts = {"url": url, "user_env": "O2_USER", "password_env": "O2_PASSWORD", **options}
    return SpanSource("o2", "openobserve", opts, convention or CONVENTION)


def run(url: str, start: date = DAY1, end: date = DAY4, *, sleeps: list[float] | None = None,
        progress: list[Any] | None = None, convention: dict[str, str] | None = None,
        **options: Any):
    return openobserve.pull(
        source(url, convention, **options), ATTRS, start, end,
        progress=(lambda *a: progress.append(a)) if progress is not None else None,
        sleep=(sleeps.append if sleeps is not None else lambda s: None))


def otlp_rows(tmp_path: Path, spans: list[dict[str, Any]], start: date = DAY1,
              end: date = DAY4, convention: dict[str, str] | None = None) -> pl.DataFrame:
    path = write_spans_file(tmp_path / "spans.jsonl", spans, spans_per_line=7)
    src = SpanSource("o2", "otlp_files", {"paths": [str(path)]}, convention or CONVENTION)
    return otlp_file.pull(src, ATTRS, start, end).frame


def key_sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort([c for c in frame.columns if frame[c].dtype == pl.String] + ["day"])


# --------------------------------------------------------------------------- column rules

@pytest.mark.parametrize(("key", "scope", "column"), [
    ("gen_ai.usage.input_tokens", "span", "gen_ai_usage_input_tokens"),
    ("llm.token_count.prompt", "span", "llm_token_count_prompt"),
    ("Feature-ID", "span", "feature_id"),
    ("team.id", "resource", "service_team_id"),
    ("service.name", "resource", "service_name"),
    ("service.version", "resource", "service_service_version"),
    ("duration", "span", "attr_duration"),
    ("Span.Kind", "span", "attr_span_kind"),
    ("tëam", "span", "t_am"),
])
def test_column_names_follow_openobserve_rules(key: str, scope: str, column: str) -> None:
    got = q.span_column(key) if scope == "span" else q.resource_column(key)
    assert got == column


def test_fake_flattens_like_openobserve() -> None:
    req = collector_json(sdk_spans([{
        "resource": {"service.name": "chat", "team.id": "search", "deployment.environment": "p"},
        "attributes": {"gen_ai.usage.input_tokens": 120, "Feature-ID": "x", "duration": 5,
                       "ratio": 0.5, "flag": True, "tags": ["a", "b"], "service.team.id": "s"},
        "start": "2026-10-01T00:00:00Z"}]))
    [row] = flatten_request(req, "default")
    assert row["gen_ai_usage_input_tokens"] == "120"  # numbers are strings
    assert row["service_team_id"] == "search" and row["service_name"] == "chat"
    assert row["service_deployment_environment"] == "p"
    assert row["feature_id"] == "x" and row["attr_duration"] == "5"
    assert row["attr_service_team_id"] == "s"  # collides with the resource column
    assert row["ratio"] == "0.5" and row["flag"] == "true" and row["tags"] == '["a", "b"]'
    assert row["_timestamp"] == 1790812800 * US and row["duration"] == 1_000_000
    assert row["span_kind"] == "3"  # CLIENT, as the proto enum number


def test_fake_seed_fixture_and_schema(serve: Any) -> None:
    fake, url = serve(spans=())
    fake.ingest(json.loads((FIXTURES / "repo_otlp_traces_seed.json").read_text()), "seed")
    resp = requests.get(f"{url}/api/default/streams/seed/schema", params={"type": "traces"},
                        auth=(USER, PASSWORD), timeout=5)
    cols = {f["name"]: f["type"] for f in resp.json()["schema"]}
    assert cols["http_status_code"] == "Utf8" and cols["_timestamp"] == "Int64"
    assert cols["service_service_version"] == "Utf8"
    assert requests.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}


# --------------------------------------------------------------------------- equivalence

def test_rows_equal_the_otlp_file_source(serve: Any, tmp_path: Path) -> None:
    fake, url = serve()
    got = run(url, page_size=4)
    want = otlp_rows(tmp_path, SPANS)
    assert got.frame.schema == pl.Schema(USAGE_SCHEMA)
    assert key_sorted(got.frame).equals(key_sorted(want))
    assert got.frame.height > 10 and got.stats["pages"] > 3
    # per-span auto detection, exact although the server only returns sums
    assert got.stats["exclusive_detected"] > 0
    assert "o'brien \"quoted\"" in got.frame["team"].to_list()


def test_rows_equal_with_exclusive_convention_and_typed_columns(serve: Any,
                                                                tmp_path: Path) -> None:
    conv = {"anthropic": "exclusive", "*": "inclusive"}
    spans = [s for s in SPANS if "llm.token_count.prompt" not in s["attributes"]]
    fake, url = serve(spans, typed_gen_ai=True)
    assert fake.schema("default")["gen_ai_usage_input_tokens"] == "Int64"
    got = run(url, convention=conv)
    assert key_sorted(got.frame).equals(key_sorted(otlp_rows(tmp_path, spans, convention=conv)))


span_st = st.fixed_dictionaries({
    "provider": st.sampled_from(["openai", "anthropic", None]),
    "model": st.sampled_from(["gpt-4o", "claude-haiku", None]),
    "input": st.one_of(st.none(), st.integers(0, 500)),
    "cache": st.one_of(st.none(), st.integers(0, 500)),
    "output": st.one_of(st.none(), st.integers(0, 50)),
    "team": st.sampled_from(["a", "b'", None]),
    "team_on_resource": st.booleans(),
    "hour": st.floats(0, 71.99),
})


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(span_st, min_size=1, max_size=12))
def test_rows_equal_the_otlp_file_source_property(httpserver: HTTPServer, tmp_path: Path,
                                                  specs: list[dict[str, Any]]) -> None:
    spans = []
    for s in specs:
        a: dict[str, Any] = {}
        for key, v in (("gen_ai.provider.name", s["provider"]),
                       ("gen_ai.response.model", s["model"]),
                       ("gen_ai.usage.input_tokens", s["input"]),
                       ("gen_ai.usage.cache_read.input_tokens", s["cache"]),
                       ("gen_ai.usage.output_tokens", s["output"])):
            if v is not None:
                a[key] = v
        res: dict[str, Any] = {}
        if s["team"] is not None:
            (res if s["team_on_resource"] else a)["team.id"] = s["team"]
        spans.append({"resource": res, "attributes": a, "start": at(DAY1, s["hour"])})
    httpserver.clear()
    fake = FakeOpenObserve()
    fake.ingest_lines(collector_lines(spans))
    url = fake.install(httpserver)
    want = otlp_rows(tmp_path, spans)
    if not any(k in sp["attributes"] for sp in spans for k in (
            "gen_ai.response.model", "gen_ai.usage.input_tokens",
            "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.output_tokens")):
        with pytest.raises(DataError, match="no LLM attributes"):
            run(url)
        return
    got = run(url, page_size=2)
    assert key_sorted(got.frame).equals(key_sorted(want))


# --------------------------------------------------------------------------- requests

def test_every_search_is_explicit_and_per_day(serve: Any) -> None:
    fake, url = serve()
    progress: list[Any] = []
    run(url, progress=progress, page_size=1000)
    searches = fake.searches()
    assert searches
    for s in searches:
        assert s.args["type"] == "traces"
        assert "search_type" not in s.body
        query = s.body["query"]
        assert isinstance(query["size"], int) and query["size"] > 0 and "from" in query
        assert query["end_time"] - query["start_time"] == 86_400 * US  # one UTC day, µs
        assert query["start_time"] % (86_400 * US) == 0
        assert 'FROM "default"' in query["sql"]
    starts = sorted({s.body["query"]["start_time"] for s in searches})
    assert len(starts) == 3
    assert progress == [("openobserve o2 default", n, 3) for n in range(4)]


def test_from_size_paging_reads_every_row(serve: Any) -> None:
    fake, url = serve()
    full = run(url, page_size=10_000).frame
    paged = run(url, page_size=3)
    assert paged.frame.equals(full)
    froms = [s.body["query"]["from"] for s in fake.searches()
             if "finops_requests" in s.body["query"]["sql"] and s.body["query"]["size"] == 3]
    assert max(froms) >= 6 and all(f % 3 == 0 for f in froms)


def test_default_cap_is_flagged_and_ui_hides_it(serve: Any) -> None:
    spans = [llm_span(at(DAY1, i / 100), model=f"m-{i}") for i in range(1005)]
    fake, url = serve(spans)
    sql = 'SELECT gen_ai_response_model AS m, count(*) AS n FROM "default" GROUP BY m'
    body: dict[str, Any] = {"query": {"sql": sql, "start_time": 1790812800 * US,
                                      "end_time": 1790899200 * US}}
    api = f"{url}/api/default/_search?type=traces"
    got = requests.post(api, json=body, auth=(USER, PASSWORD), timeout=10).json()
    assert len(got["hits"]) == 1000 and got["is_partial"] is True
    assert got["function_error"] == ["Warn: results are capped to meet default limit"]
    ui = requests.post(api, json={**body, "search_type": "ui"}, auth=(USER, PASSWORD),
                       timeout=10).json()
    assert len(ui["hits"]) == 1000 and ui["is_partial"] is False and "function_error" not in ui
    # finops sends an explicit size and pages: all 1005 groups
    pulled = run(url, DAY1, DAY2, page_size=400)
    assert pulled.frame.height == 1005 and pulled.frame["requests"].sum() == 1005


ERROR_CASES = json.loads((FIXTURES / "repo_search_error_paths_cases.json").read_text())["cases"]
# Cases about the request body or server-specific limits, which the fake does not model.
UNMODELLED = {"ERR_TIME_02", "ERR_TIME_03", "ERR_BODY_01", "ERR_BODY_02", "ERR_EDGE_01",
              "ERR_EDGE_03", "ERR_EDGE_04"}


@pytest.mark.parametrize("case", [c for c in ERROR_CASES if c["id"] not in UNMODELLED],
                         ids=lambda c: c["id"])
def test_fake_answers_the_repo_error_cases_with_4xx(serve: Any, case: dict[str, Any]) -> None:
    fake, url = serve(spans=SPANS[:3])
    query = {"sql": case["sql"].replace("{stream}", "default"), "start_time": 0,
             "end_time": 2 * 10**15, "size": 10, **case["payload_overrides"]}
    resp = requests.post(f"{url}/api/default/_search?type=traces", json={"query": query},
                         auth=(USER, PASSWORD), timeout=5)
    assert case["expect_status_min"] <= resp.status_code <= case["expect_status_max"]
    assert resp.json()["code"] in (20001, 20002, 20004, 20008, 20011)


def test_missing_type_searches_logs(serve: Any) -> None:
    fake, url = serve()
    body = {"query": {"sql": 'SELECT count(*) AS n FROM "default"', "start_time": 0,
                      "end_time": 2 * 10**15}}
    resp = requests.post(f"{url}/api/default/_search", json=body, auth=(USER, PASSWORD),
                         timeout=5)
    assert resp.status_code == 400 and resp.json()["code"] == 20002
    resp = requests.post(f"{url}/api/default/_search?type=traces", json={"query": {
        "sql": "SELECT 1 FROM \"default\""}}, auth=(USER, PASSWORD), timeout=5)
    assert resp.status_code == 422 and "start_time" in resp.text


# --------------------------------------------------------------------------- completeness

def test_a_silently_cut_result_is_never_taken_as_complete(serve: Any) -> None:
    # All groups in one second: splitting cannot help; the pull fails instead of undercounting.
    spans = [llm_span(at(DAY1, 1.0), model=f"m-{i}") for i in range(5)]
    fake, url = serve(spans, silent_cap=2)
    with pytest.raises(SourceError, match=r"2026-10-01.*rows add up to 2 spans but the window "
                                          r"has 5.*refusing to undercount"):
        run(url, DAY1, DAY2, page_size=10)


def test_a_cut_result_is_split_until_complete(serve: Any, tmp_path: Path) -> None:
    spans = [llm_span(at(DAY1, h), model=f"m-{h % 3}") for h in range(0, 24, 2)]
    fake, url = serve(spans, silent_cap=2)
    got = run(url, DAY1, DAY2, page_size=10)
    assert got.frame["requests"].sum() == 12
    assert key_sorted(got.frame).equals(key_sorted(otlp_rows(tmp_path, spans, DAY1, DAY2)))
    assert got.stats["splits"] > 0 and any("split" in n for n in got.notes)


def test_partial_answers_are_split_and_asked_again(serve: Any) -> None:
    fake, url = serve()
    full = run(url).frame

    def partial(answer: dict[str, Any]) -> dict[str, Any]:
        return {**answer, "is_partial": True, "function_error": [
            "Please be aware that the response is based on partial data"]}

    fake.mangle("_search", partial, times=3)
    got = run(url)
    assert got.frame.equals(full) and got.stats["splits"] >= 1


def test_always_partial_fails_clearly(serve: Any) -> None:
    fake, url = serve()
    fake.mangle("_search", lambda a: {**a, "function_error": ["Warn: something"]},
                times=10_000)
    with pytest.raises(SourceError, match=r"openobserve o2 2026-10-01T.*function_error: Warn: "
                                          r"something; still incomplete at a one-minute"):
        run(url)
    assert len(fake.searches()) < 40  # fails on the first leaf, not the whole tree


def test_range_clamp_is_split_and_asked_again(serve: Any, tmp_path: Path) -> None:
    fake, url = serve(max_query_range=5, advertise_range=False)
    got = run(url)
    assert key_sorted(got.frame).equals(key_sorted(otlp_rows(tmp_path, SPANS)))
    assert got.stats["splits"] > 0
    assert any("range clamped" in n and "restriction of 5 hours" in n for n in got.notes)
    clamped = [s for s in fake.searches()
               if s.body["query"]["end_time"] - s.body["query"]["start_time"] > 5 * 3600 * US]
    # after the first clamp the learnt range is used: one clamped day, not three
    assert 0 < len(clamped) <= 4


def test_advertised_max_query_range_avoids_clamps(serve: Any, tmp_path: Path) -> None:
    fake, url = serve(max_query_range=6)
    got = run(url)
    assert key_sorted(got.frame).equals(key_sorted(otlp_rows(tmp_path, SPANS)))
    spans = {s.body["query"]["end_time"] - s.body["query"]["start_time"]
             for s in fake.searches()}
    assert spans == {6 * 3600 * US} and got.stats["splits"] == 0
    assert any("max_query_range is 6h" in n for n in got.notes)


def test_a_failing_day_returns_nothing(serve: Any) -> None:
    fake, url = serve()
    fake.fail("_search", 400, {"code": 20008, "message": "boom"}, times=1)
    with pytest.raises(SourceError, match="SQL execution error .code 20008"):
        run(url)


# --------------------------------------------------------------------------- SQL safety

def test_quotes_in_values_and_only_filters_cannot_change_the_query(serve: Any) -> None:
    evil = "x' OR '1'='1"
    spans = [llm_span(at(DAY1), **{"team.id": "search"}),
             llm_span(at(DAY1), **{"team.id": evil}),
             llm_span(at(DAY1), **{"team.id": 'd"q\\'})]
    fake, url = serve(spans)
    got = run(url, DAY1, DAY2, only={"team": [evil]})
    assert got.frame["team"].to_list() == [evil]
    everything = run(url, DAY1, DAY2).frame
    assert sorted(everything["team"]) == sorted(["search", evil, 'd"q\\'])
    sql = fake.searches()[-1].body["query"]["sql"]
    assert "'x'' OR ''1''=''1'" in fake.searches()[0].body["query"]["sql"]
    assert evil not in sql


def test_quotes_in_the_stream_name_cannot_change_the_query(serve: Any) -> None:
    weird = 'we"ird'
    fake, url = serve(stream=weird)
    fake.ingest_lines(collector_lines([llm_span(at(DAY1), model="other")]), "we")
    got = run(url, stream=weird)
    assert got.frame["requests"].sum() == 48  # the spans of we"ird, not of "we"
    assert 'FROM "we""ird"' in fake.searches()[0].body["query"]["sql"]
    with pytest.raises(SourceError, match="stream 'default\" WHERE 1=0 --' not found"):
        run(url, stream='default" WHERE 1=0 --')


def test_sql_identifiers_are_schema_columns_only() -> None:
    keys = {f: (f"x.{f}", 'evil"col') for f in (*q.DIMS, *q.TOKENS)}
    schema = {"x_provider", "x_model", "x_input_tokens", "evil_col", "_timestamp"}
    cols = q.resolve_columns(keys, {}, schema)
    sql = q.rollup_sql("s", cols, {"provider": ["o'k"]})
    assert '"evil_col"' in sql and 'evil"col' not in sql and "x.provider" not in sql
    assert "IN ('o''k')" in sql
    assert q.quote_ident('a"b') == '"a""b"' and q.quote_literal("a'b") == "'a''b'"


# --------------------------------------------------------------------------- failures

def test_rate_limit_is_retried(serve: Any) -> None:
    fake, url = serve()
    full = run(url, DAY1, DAY2).frame
    fake.fail("_search", 429, {"code": 20012, "message": "Request limit reached"}, times=2,
              headers={"Retry-After": "3"})
    sleeps: list[float] = []
    assert run(url, DAY1, DAY2, sleeps=sleeps).frame.equals(full)
    assert sleeps == [3.0, 3.0]


def test_v014_style_500_codes_retry_or_not_by_code(serve: Any) -> None:
    fake, url = serve()
    fake.fail("_search", 500, {"code": 20012, "message": "rate limited"}, times=1)
    run(url, DAY1, DAY2)  # retried
    fake.fail("_search", 500, {"code": 20004, "message": "unknown field 'team_id'"}, times=1)
    n = len(fake.searches())
    with pytest.raises(SourceError, match=r"field not found \(code 20004, HTTP 500\)"):
        run(url, DAY1, DAY2)
    assert len(fake.searches()) == n + 1  # not retried


def test_5xx_and_server_timeouts_are_retried(serve: Any) -> None:
    fake, url = serve()
    full = run(url, DAY1, DAY2).frame
    fake.fail("_search", 503, {"code": 503, "message": "resources exhausted"}, times=1)
    fake.fail("_search", 502, "bad gateway", times=1)
    fake.fail("_search", 408, {"code": 20010, "message": "Search timeout"}, times=2)
    sleeps: list[float] = []
    assert run(url, DAY1, DAY2, sleeps=sleeps).frame.equals(full)
    assert len(sleeps) == 4


def test_timeouts_give_up_with_a_clear_line(serve: Any) -> None:
    fake, url = serve()
    fake.fail("_search", 408, {"code": 20010, "message": "Search timeout"}, times=100)
    with pytest.raises(SourceError, match=r"openobserve o2 2026-10-01: search timed out "
                                          r"\(code 20010, HTTP 408\).*lower window_hours"):
        run(url, DAY1, DAY2, attempts=3)


def test_401_plain_text_is_explained_without_the_secret(serve: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    fake, url = serve()
    monkeypatch.setenv("O2_PASSWORD", "wrong-password-123")
    with pytest.raises(SourceError) as e:
        run(url)
    text = str(e.value)
    assert "HTTP 401 Unauthorized Access" in text and "O2_USER/O2_PASSWORD" in text
    assert "service account" in text and "wrong-password-123" not in text


def test_403_plain_text_is_explained(serve: Any) -> None:
    fake, url = serve(forbidden=frozenset({"default"}))
    with pytest.raises(SourceError, match=r"HTTP 403 Unauthorized Access: the user in "
                                          r"O2_USER/O2_PASSWORD may not search stream"):
        run(url)


def test_20004_names_the_field_and_suggests_columns(serve: Any) -> None:
    fake, url = serve()
    fake.fail("_search", 400, {"code": 20004, "message": "unknown field 'team_id'",
                               "suggestions": ["service_team_id"]})
    with pytest.raises(SourceError) as e:
        run(url)
    text = str(e.value)
    assert "openobserve o2 2026-10-01: field not found (code 20004" in text
    assert "column 'team_id' is configured attribute team.id (span) for team" in text
    assert "similar columns: service_team_id" in text


def test_20004_docs_body_is_explained(serve: Any) -> None:
    fake, url = serve()
    body = json.loads((FIXTURES / "docs_search_error_20004_field_not_found.json").read_text())
    fake.fail("_search", 400, body)
    with pytest.raises(SourceError, match=r"field not found \(code 20004, HTTP 400\): unknown "
                                          r"field 'servce'; similar columns: service"):
        run(url)


def test_rate_limit_gives_up_naming_openobserve_and_the_window(serve: Any) -> None:
    fake, url = serve()
    fake.fail("_search", 429, {"code": 20012, "message": "Request limit reached"}, times=99)
    with pytest.raises(SourceError, match=r"openobserve o2 2026-10-01: HTTP 429 after 2 "
                                          r"attempts: .*20012"):
        run(url, attempts=2)


def test_20004_from_the_engine(serve: Any) -> None:
    # The fake answers 20004 itself for a column the schema lacks (a wrong schema check).
    fake, url = serve()
    body = {"query": {"sql": 'SELECT sum(TRY_CAST(gen_ai_usage_input_tokenz AS BIGINT)) '
                             'AS n FROM "default"', "start_time": 0, "end_time": 2 * 10**15,
                      "size": 10}}
    got = requests.post(f"{url}/api/default/_search?type=traces", json=body,
                        auth=(USER, PASSWORD), timeout=5).json()
    assert got["code"] == 20004 and "gen_ai_usage_input_tokens" in got["suggestions"]


def test_missing_attributes_are_named_with_similar_columns(serve: Any) -> None:
    spans = [llm_span(at(DAY1), **{"team_name": "x"})]
    fake, url = serve(spans)
    got = run(url, DAY1, DAY2)
    [note] = [n for n in got.notes if ": team:" in n]
    assert "no column for team.id, team (span/resource" in note
    assert "similar columns: team_name" in note
    assert got.frame["team"].to_list() == ["unattributed"]


def test_a_stream_without_llm_columns_fails(serve: Any) -> None:
    spans = [{"resource": {}, "attributes": {"http.route": "/"}, "start": at(DAY1)}]
    fake, url = serve(spans)
    with pytest.raises(DataError, match="no LLM attributes"):
        run(url)


def test_stream_not_found(serve: Any) -> None:
    fake, url = serve()
    with pytest.raises(SourceError, match="stream 'traces' not found in org 'default'"):
        run(url, stream="traces")


def test_bad_token_values_fail_like_the_otlp_source(serve: Any) -> None:
    spans = [llm_span(at(DAY1), **{"gen_ai.usage.output_tokens": "lots"})]
    fake, url = serve(spans)
    with pytest.raises(DataError, match="1 span.* output_tokens value .*not a non-negative"):
        run(url)


def test_inclusive_convention_rejects_exclusive_looking_spans(serve: Any) -> None:
    spans = [llm_span(at(DAY1), input_tokens=10, **{"gen_ai.usage.cache_read.input_tokens": 50})]
    fake, url = serve(spans)
    with pytest.raises(DataError, match="input_convention.openai = \"exclusive\""):
        run(url, convention={"openai": "inclusive"})
    got = run(url, convention={"openai": "exclusive"})
    assert got.frame["input_tokens"].to_list() == [10]


def test_scope_restricts_columns(serve: Any) -> None:
    spans = [llm_span(at(DAY1), resource={"team.id": "res"}, **{"team.id": "span"}),
             llm_span(at(DAY1), resource={"team.id": "res2"})]
    fake, url = serve(spans)
    assert sorted(run(url, DAY1, DAY2).frame["team"]) == ["res2", "span"]
    assert sorted(run(url, DAY1, DAY2, scope={"team": "resource"}).frame["team"]) == \
        ["res", "res2"]
    assert sorted(run(url, DAY1, DAY2, scope={"team": "span"}).frame["team"]) == \
        ["span", "unattributed"]


def test_check_reports_health_schema_and_columns(serve: Any) -> None:
    fake, url = serve(max_query_range=12)
    rows = dict(openobserve.check(source(url)))
    assert rows["healthz"] == "ok"
    assert rows["schema"].endswith("columns (type=traces)")
    assert rows["field team"].startswith("COALESCE of team.id (span) → team_id")
    assert rows["field input_tokens"] == (
        "COALESCE of gen_ai.usage.input_tokens (span) → gen_ai_usage_input_tokens, "
        "llm.token_count.prompt (span) → llm_token_count_prompt")
    assert "no column" in rows["field service_tier"] or "→" in rows["field service_tier"]
    assert "max_query_range is 12h" in rows["note"]


def test_check_reports_auth_failure(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fake, url = serve()
    monkeypatch.setenv("O2_PASSWORD", "nope")
    rows = dict(openobserve.check(source(url)))
    assert rows["healthz"] == "ok" and rows["schema"].startswith("failed:")
    assert "401" in rows["schema"]


@pytest.mark.parametrize(("options", "message"), [
    ({"pagesize": 10}, "did you mean 'page_size'"),
    ({"window_hours": 5}, "window_hours must divide 24"),
    ({"scope": {"team": "both"}}, "scope.team must be one of"),
    ({"only": {"teams": ["a"]}}, "did you mean 'team'"),
    ({"url": "openobserve:5080"}, "url must be an http"),
    ({"password_env": None, "user_env": "O2_USER"}, "needs both"),
])
def test_options_are_checked(options: dict[str, Any], message: str) -> None:
    opts = {"url": "http://127.0.0.1:1", "user_env": "O2_USER", "password_env": "O2_PASSWORD",
            **options}
    opts = {k: v for k, v in opts.items() if v is not None}
    with pytest.raises(ConfigError, match=message):
        openobserve.parse_options(SpanSource("o2", "openobserve", opts))


def test_api_pull_and_check_through_the_config(serve: Any, tmp_path: Path) -> None:
    import duckdb

    from finops import api
    from finops.config import parse_config
    from finops.windows import Window

    fake, url = serve()
    config = parse_config({
        "warehouse": {"path": str(tmp_path / "w.duckdb")},
        "sources": [{"name": "o2", "kind": "openobserve", "url": url, "user_env": "O2_USER",
                     "password_env": "O2_PASSWORD", "attempts": 1}],
    })
    rows, failed = api.check_sources(config)
    assert not failed and {"source": "o2", "kind": "openobserve", "check": "healthz",
                           "result": "ok"} in rows
    result = api.pull(config, Window(DAY1, DAY4))
    assert not result.failed and result.sources[0].rows > 10
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        [(n,)] = con.execute("SELECT sum(requests) FROM usage_daily WHERE source = 'o2'"
                             ).fetchall()
    assert n == sum(1 for s in SPANS[:-2] if "http.route" not in s["attributes"])
    fake.fail("_search", 401, "Unauthorized Access", times=1)
    again = api.pull(config, Window(DAY1, DAY4))
    assert again.failed and "HTTP 401" in (again.failed[0].error or "")
