"""Sampling-aware span weights: each span counts 1 / its sampling probability.

Spans come from the real OpenTelemetry SDK with a 10 % sampler: the consistent-probability
``composite_sampler`` (threshold in the tracestate, ``ot=th:e6666666666666``) and the classic
``TraceIdRatioBased`` (records nothing: the ratio is declared in ``finops.toml``).

The statistical bound checked: with n spans, each kept independently with probability p (each
span is its own trace, so the trace-id decisions are independent), the weighted sum of a count x
over the kept spans, Σ x_i / p, has mean Σ x_i (unbiased) and standard deviation
σ = sqrt((1 − p) / p · Σ x_i²). Every seed's estimate of requests and of each token field must
lie within 5 σ of the unsampled truth (plus 1 per usage row for the rounding to integers); over
all seeds the mean of the standardised errors z = (estimate − truth) / σ must lie within
5 / sqrt(seeds) of 0 (it has standard deviation 1 / sqrt(seeds) if the estimate is unbiased).
"""

from __future__ import annotations

import json
import logging
import math
import random
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from fake_openobserve import FakeOpenObserve
from fake_tempo import FakeTempo, spans_from_collector
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace._sampling_experimental import (
    composable_traceid_ratio_based,
    composite_sampler,
)
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from otel_helpers import (
    collector_json,
    collector_lines,
    llm_span,
    sampled_sdk_spans,
    write_lines,
    write_spans_file,
)
from pytest_httpserver import HTTPServer

from finops.canonical import (
    DEFAULT_SAMPLING,
    Sampling,
    SamplingRule,
    rate_weight,
    sampling_rules,
    threshold_adjusted_count,
    tracestate_threshold,
    tracestate_weight,
)
from finops.config import AttributeMap, SpanSource, parse_config
from finops.errors import ConfigError, DataError
from finops.sources import openobserve, otlp_file, tempo
from finops.sources.rollup import round_cells

logging.getLogger("werkzeug").setLevel(logging.ERROR)
W0, W1 = date(2026, 10, 1), date(2026, 10, 8)
P = 0.1
SEEDS = 40
N = 1500
FIELDS = ("requests", "input_tokens", "output_tokens")


# --- the rule in finops.canonical ------------------------------------------------------------


@pytest.mark.parametrize(("ts", "th"), [
    ("ot=th:0", 0),
    ("ot=th:8", 0x80000000000000),
    ("ot=th:c", 0xC0000000000000),
    ("ot=th:e6666666666666", 0xE6666666666666),
    ("ot=rv:0123456789abcd;th:fd70a4", 0xFD70A400000000),
    ("vendor=x:1, ot=th:8 ,other=y", 0x80000000000000),
    ("vendor=x", None),
    ("ot=rv:0123456789abcd", None),
    ("ot=th:", None),
    ("ot=th:E", None),  # uppercase is not the spec's encoding
    ("ot=th:123456789abcdef", None),  # 15 digits
    ("ot=th:8x", None),
    ("", None),
    (None, None),
])
def test_tracestate_threshold_per_the_spec(ts: str | None, th: int | None) -> None:
    assert tracestate_threshold(ts) == th


def test_adjusted_count_is_two_to_the_56_over_what_is_kept() -> None:
    assert threshold_adjusted_count(0) == 1
    assert tracestate_weight("ot=th:8") == 2
    assert tracestate_weight("ot=th:c") == 4
    # the SDK's 10 %: p = 0x1999999999999a / 2^56, a hair above 0.1
    assert tracestate_weight("ot=th:e6666666666666") == pytest.approx(10, rel=1e-15)
    assert tracestate_weight("ot=th:f") == 16
    with pytest.raises(ValueError):
        threshold_adjusted_count(1 << 56)


@pytest.mark.parametrize(("value", "weight"), [(10, 10), ("4", 4), (0.25, 4), (1, 1), (2.5, 2.5)])
def test_rate_attribute_is_one_in_n_or_a_probability(value: object, weight: float) -> None:
    assert rate_weight(value) == weight


@pytest.mark.parametrize("value", [0, -1, "x", True, float("nan"), None])
def test_rate_attribute_refuses_what_is_no_rate(value: object) -> None:
    with pytest.raises(ValueError, match="sample rate"):
        rate_weight(value)


def test_sampling_option_forms() -> None:
    assert sampling_rules("tracestate", "s").default == SamplingRule("tracestate")
    assert sampling_rules("off", "s").default.kind == "off"
    assert sampling_rules("attribute:SampleRate", "s").default == SamplingRule("attribute", "SampleRate")
    r = sampling_rules({"ratio": 0.1}, "s").default
    assert r.kind == "ratio" and r.weight == 10
    s = sampling_rules({"default": "tracestate", "services": {"checkout": {"ratio": 0.05}}}, "s")
    assert s.rule_for("checkout").weight == 20 and s.rule_for("chat").kind == "tracestate"
    assert s.per_span and s.declared
    assert not sampling_rules({"ratio": 0.5}, "s").per_span
    assert Sampling().default.kind == "tracestate" and not Sampling().declared


@pytest.mark.parametrize(("value", "match"), [
    ("sometimes", "must be"),
    ("attribute:", "attribute's name"),
    ({"ratio": 0}, "probability in"),
    ({"ratio": 1.5}, "probability in"),
    ({"ratio": "0.1"}, "probability in"),
    ({"ratio": 0.1, "rate": 2}, "rate"),
    ({"defualt": "off"}, "default"),
    ({"services": ["a"]}, "services must be a table"),
])
def test_sampling_option_errors_name_the_key(value: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        sampling_rules(value, "sources.spans.sampling")


# --- OTLP files: real SDK spans through a 10 % sampler ----------------------------------------


def population(seed: int, n: int = N, days: int = 7) -> list[dict]:
    """n LLM calls over ``days`` days, two models, skewed token counts (the unsampled truth)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        day = rng.randrange(days)
        out.append(llm_span(f"2026-10-0{day + 1}T{rng.randrange(24):02d}:00:00Z",
                            model=rng.choice(["gpt-4o", "gpt-4o-mini"]),
                            input_tokens=int(rng.paretovariate(1.5) * 300),
                            output_tokens=rng.randrange(1, 800),
                            resource={"team.id": "search"}))
    return out


def truth(spans: list[dict]) -> dict[str, tuple[int, int]]:
    """Per field: the unsampled total and Σ x² (for σ)."""
    out = {"requests": (len(spans), len(spans))}
    for f, key in (("input_tokens", "gen_ai.usage.input_tokens"),
                   ("output_tokens", "gen_ai.usage.output_tokens")):
        xs = [s["attributes"][key] for s in spans]
        out[f] = (sum(xs), sum(x * x for x in xs))
    return out


def sampled_file(path: Path, spans: list[dict], sampler: object, seed: int,
                 resource: dict | None = None) -> Path:
    kept = sampled_sdk_spans(spans, sampler, seed, resource)
    return write_lines(path, [json.dumps(collector_json(kept)).encode()] if kept else [])


def pull(paths: list[Path], sampling: Sampling = DEFAULT_SAMPLING):
    src = SpanSource("spans", "otlp_files", {"paths": [str(p) for p in paths], "workers": 1},
                     {}, False, sampling)
    return otlp_file.pull(src, AttributeMap.default(), W0, W1)


def consistent() -> object:
    return composite_sampler(composable_traceid_ratio_based(P))


@pytest.mark.parametrize(("sampler", "sampling"), [
    (consistent, Sampling()),  # nothing declared: the tracestate is trusted
    (lambda: TraceIdRatioBased(P), sampling_rules({"ratio": P}, "s")),
], ids=["tracestate", "declared-ratio"])
def test_weighted_estimates_land_within_sampling_error(tmp_path: Path, sampler, sampling) -> None:
    zs: dict[str, list[float]] = {f: [] for f in FIELDS}
    for seed in range(SEEDS):
        spans = population(seed)
        true = truth(spans)
        out = pull([sampled_file(tmp_path / f"{seed}.jsonl", spans, sampler(), seed)], sampling)
        f = out.frame
        seen = int(f["seen_requests"].sum())
        assert 0 < seen < N // 5  # the sampler really dropped ~90 %
        for field in FIELDS:
            total, squares = true[field]
            sigma = math.sqrt((1 - P) / P * squares)
            est = int(f[field].sum())
            assert abs(est - total) <= 5 * sigma + f.height, (seed, field, est, total, sigma)
            zs[field].append((est - total) / sigma)
        # unweighted, the same spans fall ~90 % short: the weights are what closes the gap
        assert seen < 0.2 * N and int(f["requests"].sum()) > 0.6 * N
    for field, z in zs.items():
        assert abs(sum(z) / len(z)) <= 5 / math.sqrt(len(z)), (field, sum(z) / len(z))


# --- Tempo: search reads each span's tracestate from the whole trace; pushdown cannot ---------

TEMPO_SEEDS = 6
TEMPO_N = 600  # on one day (fewer Tempo tiles)


@pytest.fixture
def serve(httpserver: HTTPServer):
    """A fake Tempo on the loopback server: ``serve(spans, **fake_options)``."""
    def start(spans: list[dict], **kw: object) -> tuple[FakeTempo, str]:
        fake = FakeTempo(spans, **kw)
        return fake, fake.install(httpserver)
    return start


def tempo_population(seed: int) -> list[dict]:
    return population(seed, TEMPO_N, days=1)


def tempo_spans(spans: list[dict], sampler: object, seed: int) -> list[dict]:
    """The kept spans as the fake Tempo stores them (tracestate included)."""
    kept = sampled_sdk_spans(spans, sampler, seed, {"service.name": "chat"})
    return spans_from_collector([collector_json(kept)]) if kept else []


def tempo_pull(url: str, sampling: Sampling, **options: object):
    src = SpanSource("tempo", "tempo", {"url": url, "search_limit": 5000, "search_step": "6h",
                                        **options}, {}, False, sampling)
    return tempo.pull(src, AttributeMap.default(), W0, date(2026, 10, 2), sleep=lambda s: None)


def check_estimates(frame, spans: list[dict], seed: int, zs: dict[str, list[float]]) -> None:
    true = truth(spans)
    for field in FIELDS:
        total, squares = true[field]
        sigma = math.sqrt((1 - P) / P * squares)
        est = int(frame[field].sum())
        assert abs(est - total) <= 5 * sigma + frame.height, (seed, field, est, total, sigma)
        zs[field].append((est - total) / sigma)


@pytest.mark.parametrize(("sampler", "sampling", "options", "whole"), [
    (consistent, "tracestate", {"mode": "search"}, True),
    (consistent, "tracestate", {}, True),  # auto on a pushdown Tempo: search, said in a note
    (lambda: TraceIdRatioBased(P), {"ratio": P}, {"mode": "pushdown"}, False),
    (lambda: TraceIdRatioBased(P), {"ratio": P}, {"mode": "search"}, False),
], ids=["search-tracestate", "auto-tracestate", "pushdown-ratio", "search-ratio"])
def test_tempo_estimates_land_within_sampling_error(serve, sampler, sampling, options, whole):
    zs: dict[str, list[float]] = {f: [] for f in FIELDS}
    rules = sampling_rules(sampling, "sources.tempo.sampling")
    for seed in range(TEMPO_SEEDS):
        spans = tempo_population(seed)
        fake, url = serve(tempo_spans(spans, sampler(), seed))
        out = tempo_pull(url, rules, **options)
        check_estimates(out.frame, spans, seed, zs)
        assert int(out.frame["seen_requests"].sum()) < 0.2 * TEMPO_N
        if whole:  # the tracestate is only in the whole trace
            assert any(p.startswith("/api/v2/traces/") for p, _ in fake.log)
        assert any("estimates of the unsampled totals" in n for n in out.notes), out.notes
        if not options:
            assert any("search mode (pushdown sums spans" in n for n in out.notes), out.notes
    for field, z in zs.items():
        assert abs(sum(z) / len(z)) <= 5 / math.sqrt(len(z)), (field, z)


def test_tempo_says_what_it_cannot_see(serve) -> None:
    spans = tempo_population(1)
    fake, url = serve(tempo_spans(spans, consistent(), 1))
    # nothing declared: pushdown counts each span once and says the tracestate went unread
    out = tempo_pull(url, DEFAULT_SAMPLING)
    assert out.stats["pushdown"] == 1
    assert out.frame["requests"].sum() == out.frame["seen_requests"].sum()
    assert out.sampling_unseen and "does not read the tracestate" in out.sampling_unseen
    assert any("each span counts once" in n for n in out.notes)
    # a per-span rule cannot be forced through pushdown: a config error naming the key
    with pytest.raises(ConfigError, match=r"sources\.tempo\.sampling: pushdown sums spans"):
        tempo_pull(url, sampling_rules("tracestate", "s"), mode="pushdown")
    src = SpanSource("tempo", "tempo", {"url": url}, {}, False, DEFAULT_SAMPLING)
    lines = dict(tempo.check(src))
    assert lines["sampling"].startswith("not seen: pushdown mode does not read the tracestate")
    src = SpanSource("tempo", "tempo", {"url": url}, {}, False, sampling_rules("tracestate", "s"))
    assert "pulls use search mode with whole traces" in dict(tempo.check(src))["sampling"]


# --- OpenObserve: sums in its own SQL and stores no tracestate: a declared ratio only --------

O2_SEEDS = 6


@pytest.fixture
def o2(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch):
    """A fake OpenObserve holding ``kept`` (SDK spans) in stream "default"; its base URL."""
    monkeypatch.setenv("O2_USER", "root@example.com")
    monkeypatch.setenv("O2_PASSWORD", "Complexpass#123")  # what the fake accepts

    def start(kept: list) -> str:
        fake = FakeOpenObserve()
        if kept:
            fake.ingest(collector_json(kept))
        return fake.install(httpserver)
    return start


def o2_source(url: str, sampling: Sampling) -> SpanSource:
    return SpanSource("o2", "openobserve", {"url": url, "user_env": "O2_USER",
                                            "password_env": "O2_PASSWORD"}, {}, False, sampling)


def test_openobserve_declared_ratio_lands_within_sampling_error(o2) -> None:
    zs: dict[str, list[float]] = {f: [] for f in FIELDS}
    rules = sampling_rules({"ratio": P}, "sources.o2.sampling")
    for seed in range(O2_SEEDS):
        spans = population(seed, TEMPO_N, days=1)
        url = o2(sampled_sdk_spans(spans, TraceIdRatioBased(P), seed))
        out = openobserve.pull(o2_source(url, rules), AttributeMap.default(), W0,
                               date(2026, 10, 2), sleep=lambda s: None)
        check_estimates(out.frame, spans, seed, zs)
        assert int(out.frame["seen_requests"].sum()) < 0.2 * TEMPO_N
        assert out.sampling == "ratio 0.1 (each span counts 10)" and out.sampling_unseen is None
    for field, z in zs.items():
        assert abs(sum(z) / len(z)) <= 5 / math.sqrt(len(z)), (field, z)


def test_openobserve_says_it_cannot_see_the_tracestate(o2) -> None:
    spans = population(2, 300, days=1)
    url = o2(sampled_sdk_spans(spans, consistent(), 2))
    out = openobserve.pull(o2_source(url, DEFAULT_SAMPLING), AttributeMap.default(), W0,
                           date(2026, 10, 2), sleep=lambda s: None)
    assert out.frame["requests"].sum() == out.frame["seen_requests"].sum()  # counted once
    assert out.sampling_unseen and "stores no tracestate" in out.sampling_unseen
    assert any("each span counts once" in n for n in out.notes)
    lines = dict(openobserve.check(o2_source(url, DEFAULT_SAMPLING)))
    assert lines["sampling"].startswith("not seen: OpenObserve stores no tracestate")
    for rule in ("tracestate", "attribute:SampleRate", {"default": "off",
                                                         "services": {"chat": {"ratio": 0.5}}}):
        with pytest.raises(ConfigError, match=r"sources\.o2\.sampling: OpenObserve stores no"):
            openobserve.pull(o2_source(url, sampling_rules(rule, "s")), AttributeMap.default(),
                             W0, date(2026, 10, 2), sleep=lambda s: None)


# --- the drift explanation reads weighted requests as estimates --------------------------------


def test_coverage_compares_estimated_requests_and_says_so(config) -> None:
    from builders import billing, usage
    from test_reconcile import load, report_of

    # 15 spans sampled at 10 % stand for 150 requests; the bill counts 160: the coverage part
    # is the estimate's shortfall (not the 90 % the raw spans would suggest), in words
    con = load(config,
               usage([{"team": "a", "requests": 150, "seen_requests": 15,
                       "input_tokens": 1_500_000}]),
               billing([{"token_type": "input", "amount": "4.00", "billed_tokens": 1_600_000,
                         "billed_requests": 160}]))
    assert con.execute("SELECT span_requests, span_seen, billed_requests FROM recon_lines"
                       ).fetchall() == [(150, 15, 160)]
    rep = report_of(con, config)
    # coverage = T_b × p × (R_s − R_b) / R_b = 1.6M × 2.5e-6 × (150 − 160) / 160 = −0.25
    assert rep.explanation["coverage"] == Decimal("-0.25")
    [part] = [p for p in rep.drift_parts if p.part == "coverage"]
    assert part.text == ("6.3 % fewer estimated requests than billed (openai: 150 of 160, "
                         "weighted for sampling from 15 spans)")
    con.close()


# --- finops.toml, and the other rules through the OTLP scan loop -------------------------------


def test_sampling_in_finops_toml(tmp_path: Path) -> None:
    base = {"warehouse": {"path": str(tmp_path / "w.duckdb")}}
    cfg = parse_config({**base, "sources": [{"name": "spans", "kind": "otlp_files", "paths": ["a"],
                                              "sampling": {"ratio": 0.25}}]})
    assert cfg.span_sources[0].sampling.default.weight == 4 and cfg.span_sources[0].sampling.declared
    assert "sampling" not in cfg.span_sources[0].options
    cfg = parse_config({**base, "sources": [{"name": "spans", "kind": "otlp_files", "paths": ["a"]}]})
    assert not cfg.span_sources[0].sampling.declared
    with pytest.raises(ConfigError, match=r"sources\[0\]|spans.*sampling.*ratio"):
        parse_config({**base, "sources": [{"name": "spans", "kind": "otlp_files", "paths": ["a"],
                                            "sampling": {"ratio": 10}}]})


def test_attribute_service_and_off_rules(tmp_path: Path) -> None:
    # 3 spans of chat carrying SampleRate 4, 0.5 (a probability: counts 2) and none (counts once);
    # 2 spans of batch, whose service rule is a declared ratio of 0.25; one span with a
    # tracestate threshold of 1/2 that the attribute rule does not use
    chat = {"service.name": "chat", "team.id": "a"}
    spans = [llm_span("2026-10-01T10:00:00Z", input_tokens=100, resource=chat, SampleRate=4),
             llm_span("2026-10-01T11:00:00Z", input_tokens=100, resource=chat, SampleRate=0.5),
             llm_span("2026-10-01T12:00:00Z", input_tokens=100, resource=chat),
             llm_span("2026-10-01T13:00:00Z", input_tokens=10,
                      resource={"service.name": "batch", "team.id": "b"}),
             llm_span("2026-10-01T14:00:00Z", input_tokens=10,
                      resource={"service.name": "batch", "team.id": "b"})]
    lines = [json.loads(line) for line in collector_lines(spans)]
    for rs in lines[0]["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for sp in ss["spans"]:
                sp["traceState"] = "ot=th:8"
    path = write_lines(tmp_path / "s.jsonl", [json.dumps(x) for x in lines])
    rules = sampling_rules({"default": "attribute:SampleRate",
                            "services": {"batch": {"ratio": 0.25}}}, "s")
    out = pull([path], rules)
    got = {r["team"]: (r["requests"], r["input_tokens"], r["seen_requests"])
           for r in out.frame.to_dicts()}
    assert got == {"a": (7, 700, 3), "b": (8, 80, 2)}
    assert any("1 span(s) carry no SampleRate attribute" in n for n in out.notes), out.notes
    # off: every span once; the thresholds it ignores are said
    out = pull([path], sampling_rules("off", "s"))
    assert int(out.frame["requests"].sum()) == 5
    assert any("5 span(s) carry an OpenTelemetry sampling threshold" in n and "off" in n
               for n in out.notes), out.notes
    # tracestate (the default): th:8 is p = 1/2, each span counts 2
    out = pull([path])
    assert int(out.frame["requests"].sum()) == 10 and int(out.frame["input_tokens"].sum()) == 640
    # sources check says what the spans will count
    src = SpanSource("spans", "otlp_files", {"paths": [str(path)]}, {}, False, rules)
    assert dict(otlp_file.check(src))["sampling"] == (
        "attribute SampleRate; service batch: ratio 0.25 (each span counts 4): each span counts "
        "1 / its sampling probability")
    src = SpanSource("spans", "otlp_files", {"paths": [str(path)]}, {}, False,
                     sampling_rules("off", "s"))
    assert dict(otlp_file.check(src))["sampling"] == "off: every span counts once"
    # a rate that is no rate names the file, the line, the span and the attribute
    bad = write_spans_file(tmp_path / "bad.jsonl", [llm_span("2026-10-01T10:00:00Z",
                                                              SampleRate="often")])
    with pytest.raises(DataError, match=r"bad\.jsonl:1: span [0-9a-f]+: SampleRate: expected a sample rate"):
        pull([bad], sampling_rules("attribute:SampleRate", "s"))


def test_the_months_report_names_estimates_and_unseen_sampling(tmp_path: Path, prices_dir, o2) -> None:
    from test_reconcile import report_of

    from finops import api
    from finops.warehouse import connect
    from finops.windows import month_window

    spans = population(5, 400)
    path = sampled_file(tmp_path / "s.jsonl", spans, consistent(), 5)
    url = o2(sampled_sdk_spans(spans, consistent(), 5))
    config = parse_config({
        "warehouse": {"path": str(tmp_path / "w.duckdb")}, "pricing": {"dir": str(prices_dir)},
        "reconcile": {"today": date(2026, 11, 23)},
        "sources": [{"name": "files", "kind": "otlp_files", "paths": [str(path)]},
                    {"name": "o2", "kind": "openobserve", "url": url, "user_env": "O2_USER",
                     "password_env": "O2_PASSWORD"}]})
    month = month_window("2026-10")
    result = api.pull(config, month)
    assert not result.failed, [r.error for r in result.results]
    con = connect(config.warehouse)
    rows = dict(con.execute("SELECT DISTINCT source, sampling FROM load_windows").fetchall())
    assert rows == {"files": "weighted: tracestate",
                    "o2": "not seen: " + dict(openobserve.check(o2_source(url, DEFAULT_SAMPLING)))[
                        "sampling"].removeprefix("not seen: ")}
    notes = report_of(con, config).notes
    assert ("files: spans weighted for sampling (tracestate): requests and tokens are estimates "
            "of the unsampled totals") in notes
    assert any(n.startswith("o2: sampling not seen, spans counted once (1 loaded window(s)): "
                            "OpenObserve stores no tracestate") for n in notes), notes
    con.close()


# --- weighted sums become integers once per cell ------------------------------------------------

_KEYS = [(date(2026, 10, d), (p, "", m, "standard", t, "unknown", "unknown"))
         for d in (1, 2) for p in ("openai", "anthropic") for m in ("a", "b") for t in ("x", "y")]


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(_KEYS), st.lists(
    st.one_of(st.integers(0, 10**12), st.floats(0, 1e9, allow_nan=False)), min_size=6,
    max_size=6), min_size=1))
def test_rounding_once_per_cell_keeps_cell_sums_and_rows_within_one(rows) -> None:
    out = round_cells(rows)
    cells: dict[tuple, list] = {}
    for k in rows:
        cells.setdefault((k[0], *k[1][:4]), []).append(k)
    for members in cells.values():
        for i in range(6):
            values = [rows[k][i] for k in members]
            got = [out[k][i] for k in members]
            assert all(type(n) is int for n in got)
            assert all(abs(g - v) < 1 for g, v in zip(got, values, strict=True))
            if all(type(v) is int for v in values):
                assert got == values  # unweighted rows stay exact
            else:
                assert sum(got) == round(math.fsum(values))


def test_a_rule_a_source_cannot_apply_is_refused_at_load(tmp_path: Path) -> None:
    from finops import api

    cfg = tmp_path / "finops.toml"
    for source, match in (
        ('kind = "openobserve"\nurl = "http://127.0.0.1:1"\nsampling = "tracestate"',
         r"finops\.toml: sources\.x\.sampling: OpenObserve stores no tracestate"),
        ('kind = "tempo"\nurl = "http://127.0.0.1:1"\nmode = "pushdown"\nsampling = "attribute:SampleRate"',
         r"finops\.toml: sources\.x\.sampling: pushdown sums spans in Tempo"),
    ):
        cfg.write_text(f'[warehouse]\npath = "w.duckdb"\n[[sources]]\nname = "x"\n{source}\n')
        with pytest.raises(ConfigError, match=match):
            api.load_config(cfg)
    # what they can apply loads
    cfg.write_text('[warehouse]\npath = "w.duckdb"\n[[sources]]\nname = "x"\nkind = "tempo"\n'
                   'url = "http://127.0.0.1:1"\nmode = "pushdown"\nsampling = { ratio = 0.1 }\n')
    assert api.load_config(cfg).span_sources[0].sampling.default.weight == 10
