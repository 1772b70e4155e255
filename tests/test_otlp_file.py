"""The otlp_files span source on files made by the real OpenTelemetry SDK."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import msgspec
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from otel_helpers import (
    collector_json,
    llm_span,
    sdk_spans,
    write_lines,
    write_spans_file,
)

from finops.config import AttributeMap, SpanSource
from finops.demo import otlp_encode
from finops.errors import DataError
from finops.schemas import USAGE_SCHEMA, UsageDaily, validate
from finops.sources import otlp_file

W0, W1 = date(2026, 10, 1), date(2026, 10, 8)


def pull(paths, window=(W0, W1), workers=1, convention=None, **kw):
    src = SpanSource("spans", "otlp_files",
                     {"paths": [str(p) for p in paths], "workers": workers},
                     convention or {})
    return otlp_file.pull(src, AttributeMap.default(), window[0], window[1], **kw)


def rows(frame: pl.DataFrame) -> list[dict]:
    return frame.to_dicts()


def test_rollup_sums_per_key_and_counts_requests(tmp_path: Path) -> None:
    res = {"team.id": "search", "project.id": "web"}
    spans = [
        llm_span("2026-10-01T10:00:00Z", input_tokens=100, output_tokens=10, resource=res),
        llm_span("2026-10-01T11:00:00Z", input_tokens=200, output_tokens=20, resource=res),
        llm_span("2026-10-01T12:00:00Z", input_tokens=50, output_tokens=5, resource=res,
                 **{"feature.id": "chat"}),
        llm_span("2026-10-02T12:00:00Z", model="gpt-4o-mini", input_tokens=7, output_tokens=1,
                 resource=res, **{"gen_ai.usage.cache_read.input_tokens": 3}),
    ]
    out = pull([write_spans_file(tmp_path / "a.jsonl", spans, spans_per_line=3)])
    got = rows(out.frame)
    assert got == [
        {"day": date(2026, 10, 1), "provider": "openai", "account": "", "model": "gpt-4o",
         "service_tier": "standard", "team": "search", "project": "web", "feature": "chat",
         "source": "spans", "requests": 1, "input_tokens": 50, "cache_read_tokens": 0,
         "cache_write_tokens": 0, "output_tokens": 5, "reasoning_tokens": 0,
         "seen_requests": 1},
        {"day": date(2026, 10, 1), "provider": "openai", "account": "", "model": "gpt-4o",
         "service_tier": "standard", "team": "search", "project": "web", "feature": "unknown",
         "source": "spans", "requests": 2, "input_tokens": 300, "cache_read_tokens": 0,
         "cache_write_tokens": 0, "output_tokens": 30, "reasoning_tokens": 0,
         "seen_requests": 2},
        {"day": date(2026, 10, 2), "provider": "openai", "account": "",
         "model": "gpt-4o-mini", "service_tier": "standard", "team": "search", "project": "web",
         "feature": "unknown", "source": "spans", "requests": 1, "input_tokens": 4,
         "cache_read_tokens": 3, "cache_write_tokens": 0, "output_tokens": 1,
         "reasoning_tokens": 0, "seen_requests": 1},
    ]
    assert out.frame.schema == pl.Schema(USAGE_SCHEMA)
    validate(out.frame, UsageDaily, "test")
    assert out.stats["files"] == 1 and out.stats["lines"] == 2
    assert out.stats["spans"] == out.stats["llm_spans"] == 4


def test_day_is_the_utc_date_and_window_is_half_open(tmp_path: Path) -> None:
    spans = [
        llm_span("2026-09-30T23:59:59.999999Z"),  # before the window
        llm_span("2026-10-01T00:00:00Z"),
        # 23:30 at UTC-05:00 is 04:30 UTC the next day
        llm_span("2026-10-01T23:30:00-05:00"),
        llm_span("2026-10-07T23:59:59Z"),
        llm_span("2026-10-08T00:00:00Z"),  # window_end is excluded
    ]
    out = pull([write_spans_file(tmp_path / "a.jsonl", spans)])
    assert out.frame.select("day", "requests").to_dicts() == [
        {"day": date(2026, 10, 1), "requests": 1},
        {"day": date(2026, 10, 2), "requests": 1},
        {"day": date(2026, 10, 7), "requests": 1},
    ]
    assert out.stats["outside_window"] == 2
    assert any("outside the window" in n for n in out.notes)


def test_non_llm_spans_are_skipped_and_counted(tmp_path: Path) -> None:
    spans = [llm_span("2026-10-01T10:00:00Z"),
             {"attributes": {"http.request.method": "GET"}, "start": "2026-10-01T10:00:00Z"},
             {"attributes": {}, "start": "2026-10-01T10:00:00Z"}]
    out = pull([write_spans_file(tmp_path / "a.jsonl", spans)])
    assert out.stats["spans"] == 3 and out.stats["llm_spans"] == 1
    assert out.frame["requests"].to_list() == [1]


def test_missing_dimensions_get_defaults_and_provider_is_inferred(tmp_path: Path) -> None:
    spans = [
        llm_span("2026-10-01T10:00:00Z", provider=None, model="claude-sonnet-4-20250514"),
        llm_span("2026-10-01T10:00:00Z", provider=None, model="o3-mini"),
        llm_span("2026-10-01T10:00:00Z", provider=None, model="mistral-large"),
        llm_span("2026-10-01T10:00:00Z", provider="Anthropic", model=None),
    ]
    out = pull([write_spans_file(tmp_path / "a.jsonl", spans)])
    got = {(r["provider"], r["model"]) for r in rows(out.frame)}
    assert got == {("anthropic", "claude-sonnet-4-20250514"), ("openai", "o3-mini"),
                   ("unknown", "mistral-large"), ("anthropic", "unknown")}
    for r in rows(out.frame):
        assert (r["team"], r["project"], r["feature"], r["account"], r["service_tier"]) == (
            "unattributed", "unknown", "unknown", "", "standard")  # no account: never a made-up one


def test_response_model_wins_and_tier_and_account_are_read(tmp_path: Path) -> None:
    span = llm_span("2026-10-01T10:00:00Z", model="gpt-4o-2024-08-06", **{
        "gen_ai.request.model": "gpt-4o", "gen_ai.openai.response.service_tier": "flex",
        "openai.project.id": "proj_1", "team.id": 42})
    out = pull([write_spans_file(tmp_path / "a.jsonl", [span])])
    r = rows(out.frame)[0]
    assert (r["model"], r["service_tier"], r["account"], r["team"]) == (
        "gpt-4o-2024-08-06", "flex", "proj_1", "42")


def test_span_attribute_wins_over_resource(tmp_path: Path) -> None:
    span = llm_span("2026-10-01T10:00:00Z", resource={"team.id": "res-team", "project.id": "p"},
                    **{"team": "span-team"})
    out = pull([write_spans_file(tmp_path / "a.jsonl", [span])])
    r = rows(out.frame)[0]
    # "team" is the second key for the field, but it is on the span: the span is tried first.
    assert (r["team"], r["project"]) == ("span-team", "p")


def test_gzip_detected_by_magic_bytes_not_suffix(tmp_path: Path) -> None:
    plain = write_spans_file(tmp_path / "a.jsonl", [llm_span("2026-10-01T10:00:00Z")])
    other = write_spans_file(tmp_path / "other.jsonl", [llm_span("2026-10-01T10:00:00Z")])
    disguised = tmp_path / "b.jsonl"  # gzip content, plain name
    disguised.write_bytes(gzip.compress(other.read_bytes()))
    named = write_spans_file(tmp_path / "c.jsonl.gz", [llm_span("2026-10-01T10:00:00Z")])
    assert named.read_bytes()[:2] == b"\x1f\x8b"
    out = pull([plain, disguised, named])
    assert out.frame["requests"].to_list() == [3]
    assert out.stats["files"] == 3


def test_globs_expand_sorted_and_deduplicated(tmp_path: Path) -> None:
    for i in range(3):
        write_spans_file(tmp_path / "spans" / f"day{i}.jsonl", [llm_span("2026-10-01T10:00:00Z")])
    out = pull([tmp_path / "spans" / "*.jsonl", tmp_path / "spans" / "day1.jsonl",
                tmp_path / "**" / "day2.jsonl"])
    assert out.stats["files"] == 3
    assert out.frame["requests"].to_list() == [3]


def test_a_glob_matching_nothing_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="matched no files"):
        pull([tmp_path / "*.jsonl"])
    with pytest.raises(DataError, match="no such file"):
        pull([tmp_path / "missing.jsonl"])


def _many_files(tmp_path: Path, n: int = 4) -> list[Path]:
    files = []
    for i in range(n):
        spans = [llm_span(f"2026-10-0{1 + (i + j) % 5}T{j % 24:02d}:00:00Z",
                          model=["gpt-4o", "claude-sonnet-4", "o3"][j % 3], provider=None,
                          input_tokens=100 + j, output_tokens=j,
                          resource={"team.id": f"t{(i * j) % 3}"})
                 for j in range(30)]
        files.append(write_spans_file(tmp_path / f"f{i}.jsonl", spans, spans_per_line=7))
    return files


def test_parallel_workers_give_the_same_frame_as_serial(tmp_path: Path) -> None:
    files = _many_files(tmp_path)
    seen: list[tuple[str, int, int | None]] = []
    serial = pull(files, workers=1)
    parallel = pull(files, workers=2, progress=lambda *a: seen.append(a))
    assert parallel.stats["workers"] == 2
    assert parallel.frame.equals(serial.frame)
    assert {k: v for k, v in parallel.stats.items() if k != "workers"} == {
        k: v for k, v in serial.stats.items() if k != "workers"}
    assert seen[0] == ("spans", 0, 4) and seen[-1] == ("spans", 4, 4)


def test_a_bad_file_in_a_worker_raises_data_error(tmp_path: Path) -> None:
    files = _many_files(tmp_path, 2)
    bad = write_lines(tmp_path / "bad.jsonl", ['{"resourceSpans": ['])
    with pytest.raises(DataError, match=r"bad.jsonl:1: not a valid OTLP JSON line"):
        pull([*files, bad], workers=2)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_splitting_spans_across_files_in_any_order_gives_the_same_frame(tmp_path_factory, data):
    spans = data.draw(st.lists(st.builds(
        lambda day, hour, model, team, inp, cache, out: llm_span(
            f"2026-10-0{day}T{hour:02d}:00:00Z", model=model, provider=None,
            input_tokens=inp, output_tokens=out, resource={"team.id": team} if team else {},
            **{"gen_ai.usage.cache_read.input_tokens": cache}),
        st.integers(1, 8), st.integers(0, 23), st.sampled_from(["gpt-4o", "claude-opus-4"]),
        st.sampled_from([None, "a", "b"]), st.integers(0, 10**6), st.integers(0, 2000),
        st.integers(0, 10**5)), min_size=1, max_size=30))
    # Encode once with the SDK, then scatter the span lines over files in any order.
    lines = [json.dumps(collector_json(sdk_spans([s]))).encode() for s in spans]
    n_files = data.draw(st.integers(1, 4))
    where = data.draw(st.lists(st.integers(0, n_files - 1), min_size=len(lines),
                               max_size=len(lines)))
    order = data.draw(st.permutations(range(len(lines))))
    d = tmp_path_factory.mktemp("split")
    one = pull([write_lines(d / "all.jsonl", lines)])
    parts: list[list[bytes]] = [[] for _ in range(n_files)]
    for i in order:
        parts[where[i]].append(lines[i])
    paths = [write_lines(d / (f"part{k}.jsonl" + (".gz" if k % 2 else "")), p)
             for k, p in enumerate(parts)]
    split = pull(paths)
    assert split.frame.equals(one.frame)
    assert split.stats["llm_spans"] == one.stats["llm_spans"] == len(spans)
    assert split.stats["outside_window"] == one.stats["outside_window"]


# --- bad input: a DataError naming file and line -------------------------------------------

def test_malformed_json_line_names_file_and_line(tmp_path: Path) -> None:
    good = json.dumps(collector_json(sdk_spans([llm_span("2026-10-01T10:00:00Z")])))
    p = write_lines(tmp_path / "day1.jsonl.gz", [good, "", good, "{not json"])
    with pytest.raises(DataError, match=r"day1\.jsonl\.gz:4: not a valid OTLP JSON line"):
        pull([p])


def test_wrong_structure_names_file_and_line(tmp_path: Path) -> None:
    p = write_lines(tmp_path / "a.jsonl", ['{"resourceSpans": {"oops": 1}}'])
    with pytest.raises(DataError, match=r"a\.jsonl:1: .*resourceSpans"):
        pull([p])


@pytest.mark.parametrize(("value", "shown"), [
    ("abc", '"abc"'), (-5, "-5"), (1.5, "1.5"), (True, "true"), ("-3", '"-3"'),
])
def test_bad_token_count_names_file_line_span_and_key(tmp_path: Path, value, shown) -> None:
    spans = [llm_span("2026-10-01T10:00:00Z"),
             llm_span("2026-10-01T10:00:00Z", **{"gen_ai.usage.output_tokens": value})]
    p = write_spans_file(tmp_path / "day1.jsonl", spans, spans_per_line=1)
    with pytest.raises(DataError) as e:
        pull([p])
    msg = str(e.value)
    assert msg.startswith(f"{p}:2: span ")
    assert msg.endswith(
        f": gen_ai.usage.output_tokens: expected a non-negative integer, got {shown}")


def test_int_value_as_json_number_string_digits_and_integral_double_are_accepted(
        tmp_path: Path) -> None:
    span = json.loads(write_spans_file(tmp_path / "a.jsonl",
                                       [llm_span("2026-10-01T10:00:00Z")]).read_text())
    attrs = span["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
    values = {"gen_ai.usage.input_tokens": {"intValue": 100},  # a JSON number
              "gen_ai.usage.output_tokens": {"stringValue": "10"},
              "gen_ai.usage.cache_read.input_tokens": {"doubleValue": 30.0},
              "gen_ai.usage.reasoning.output_tokens": {"intValue": "4"}}
    attrs[:] = [a for a in attrs if a["key"] not in values]
    attrs += [{"key": k, "value": v} for k, v in values.items()]
    # An unparseable int on an attribute we do not read is ignored.
    attrs.append({"key": "http.status_code", "value": {"intValue": "n/a"}})
    p = write_lines(tmp_path / "b.jsonl", [json.dumps(span)])
    r = rows(pull([p]).frame)[0]
    assert (r["input_tokens"], r["cache_read_tokens"], r["output_tokens"],
            r["reasoning_tokens"]) == (70, 30, 10, 4)


def test_bad_start_time_is_a_data_error(tmp_path: Path) -> None:
    span = json.loads(write_spans_file(tmp_path / "a.jsonl",
                                       [llm_span("2026-10-01T10:00:00Z")]).read_text())
    span["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["startTimeUnixNano"] = "yesterday"
    p = write_lines(tmp_path / "b.jsonl", [json.dumps(span)])
    with pytest.raises(DataError, match=r"b\.jsonl:1: span [0-9a-f]{16}: startTimeUnixNano"):
        pull([p])


def test_missing_team_becomes_unattributed(tmp_path: Path) -> None:
    out = pull([write_spans_file(tmp_path / "a.jsonl", [llm_span("2026-10-01T10:00:00Z")])])
    assert out.frame["team"].to_list() == ["unattributed"]


# --- the encoder writes what the collector writes ----------------------------------------

def test_encoder_matches_the_sdk_and_its_otlp_proto_encoder(tmp_path: Path) -> None:
    res = {"service.name": "chat-api", "team.id": "search", "replicas": 3}
    attrs = {"gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": 1234,
             "gen_ai.request.temperature": 0.2, "stream": False,
             "gen_ai.response.finish_reasons": ["stop", "length"], "big": 2**62}
    readable = sdk_spans([
        {"resource": res, "attributes": attrs, "start": 1_790_000_000_123_456_789,
         "end": 1_790_000_001_000_000_000, "name": "chat gpt-4o"},
        {"resource": res, "attributes": {}, "start": 1_790_000_002_000_000_000, "name": "db"},
    ])
    expected = collector_json(readable)
    scope = readable[0].instrumentation_scope
    specs = [otlp_encode.SpanSpec(
        name=s.name, trace_id=s.context.trace_id, span_id=s.context.span_id,
        parent_span_id=s.parent.span_id if s.parent else None,
        start_ns=s.start_time, end_ns=s.end_time, attributes=dict(s.attributes or {}),
        kind=s.kind.value + 1, status_code=s.status.status_code.value)
        for s in readable]
    line = otlp_encode.encode_request(dict(readable[0].resource.attributes), specs,
                                      scope_name=scope.name, scope_version=scope.version)
    assert b"\n" not in line
    assert msgspec.json.decode(line) == expected
    # and the reader takes it
    p = tmp_path / "enc.jsonl.gz"
    assert otlp_encode.write_jsonl(p, [line, line]) == 2
    src = SpanSource("s", "otlp_files", {"paths": [str(p)]})
    out = otlp_file.pull(src, AttributeMap.default(), date(2026, 9, 1), date(2026, 10, 1))
    assert out.frame["requests"].to_list() == [1]  # the same span twice is one span
    assert out.stats["duplicates"] == 1
    assert out.frame["team"].to_list() == ["search"]


# --- input that is not spans: said, with file and line ---------------------------------------

def test_empty_files_and_lines_that_are_not_trace_requests_are_named(tmp_path: Path) -> None:
    good = write_spans_file(tmp_path / "good.jsonl", [llm_span("2026-10-01T10:00:00Z")])
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    empty_gz = tmp_path / "empty.jsonl.gz"
    empty_gz.write_bytes(gzip.compress(b""))
    logs = write_lines(tmp_path / "mixed.jsonl", [
        json.dumps(collector_json(sdk_spans([llm_span("2026-10-02T10:00:00Z")]))),
        '{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "hi"}}]}]}]}',
        '{"foo": 1}'])
    out = pull([good, empty, empty_gz, logs])
    assert out.frame["requests"].to_list() == [1, 1]  # the real spans still count
    assert out.stats["empty_files"] == 2 and out.stats["not_trace_lines"] == 2
    [empties] = [n for n in out.notes if "empty file" in n]
    assert f"{empty}" in empties and f"{empty_gz}" in empties
    [bad] = [n for n in out.notes if "not OTLP trace requests" in n]
    assert f"{logs}:2" in bad and f"{logs}:3" in bad and f"{logs}:1" not in bad


# --- duplicates: the same span twice is counted once -----------------------------------------

def test_a_span_delivered_twice_is_counted_once_in_bounded_memory(tmp_path: Path) -> None:
    line_a = json.dumps(collector_json(sdk_spans([
        llm_span("2026-10-01T10:00:00Z", input_tokens=1000, resource={"team.id": "search"}),
        llm_span("2026-10-01T11:00:00Z", input_tokens=500, resource={"team.id": "search"})])))
    line_b = json.dumps(collector_json(sdk_spans([
        llm_span("2026-10-01T12:00:00Z", input_tokens=70, resource={"team.id": "ads"})])))
    # a collector retry writes line_a again in the same file and once more in another file;
    # line_b's span id reappears in another trace: a different span, both count
    other_trace = json.loads(line_b)
    other_trace["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"] = "ab" * 16
    files = [write_lines(tmp_path / "a.jsonl", [line_a, line_b, line_a]),
             write_lines(tmp_path / "b.jsonl.gz", [line_a, json.dumps(other_trace)]),
             *_many_files(tmp_path, 2)]
    serial = pull(files, workers=1)
    parallel = pull(files, workers=2)
    assert parallel.frame.equals(serial.frame)
    assert serial.stats["duplicates"] == parallel.stats["duplicates"] == 4
    by_team = {r["team"]: (r["requests"], r["input_tokens"]) for r in rows(serial.frame)
               if r["team"] in ("search", "ads")}
    assert by_team == {"search": (2, 1500), "ads": (2, 140)}
    [note] = [n for n in serial.notes if "duplicate" in n]
    assert note.startswith("4 duplicate span(s)") and f"{files[0]}:3" in note
    assert f"{files[1]}:1" in note


def test_span_ids_are_kept_compactly_while_scanning(tmp_path: Path) -> None:
    path = write_spans_file(tmp_path / "a.jsonl",
                            [llm_span(f"2026-10-01T{h:02d}:00:00Z") for h in range(20)])
    plan = otlp_file._Plan(dim_keys=(("gen_ai.provider.name",),) * 7,
                           token_keys=(("gen_ai.usage.input_tokens",),) * 5,
                           day_lo=W0.toordinal() - date(1970, 1, 1).toordinal(),
                           day_hi=W1.toordinal() - date(1970, 1, 1).toordinal(), conventions=())
    part = otlp_file._scan_file(str(path), plan)
    assert part.ids.typecode == "Q" and part.ids.itemsize == 8 and len(part.ids) == 20


# --- counts a usage row cannot hold ---------------------------------------------------------

def test_a_count_of_2_to_the_63_names_file_and_line(tmp_path: Path) -> None:
    span = json.loads(write_spans_file(tmp_path / "a.jsonl",
                                       [llm_span("2026-10-01T10:00:00Z")]).read_text())
    attrs = span["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
    for kv in attrs:
        if kv["key"] == "gen_ai.usage.output_tokens":
            kv["value"] = {"intValue": str(2**63)}
    p = write_lines(tmp_path / "big.jsonl", [json.dumps(span)])
    with pytest.raises(DataError) as e:
        pull([p])
    assert str(e.value).startswith(f"{p}:1: span ")
    assert "gen_ai.usage.output_tokens" in str(e.value) and "2^63" in str(e.value)


def test_a_day_summing_past_2_to_the_63_is_a_data_error(tmp_path: Path) -> None:
    big = 2**62 + 1
    p = write_spans_file(tmp_path / "a.jsonl", [
        llm_span("2026-10-01T10:00:00Z", output_tokens=big),
        llm_span("2026-10-01T11:00:00Z", output_tokens=big)])
    with pytest.raises(DataError, match=r"2026-10-01 .*output_tokens add up to \d+, above 2\^63"):
        pull([p])


# --- workers die with their parent ----------------------------------------------------------

def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_killing_a_parallel_pull_leaves_no_worker_behind(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    files = [str(write_spans_file(tmp_path / f"spans{i}.jsonl", [llm_span("2026-10-01T10:00:00Z")]))
             for i in range(2)]
    markers = tmp_path / "busy"
    markers.mkdir()
    script = (
        "from datetime import date\n"
        "from finops.config import AttributeMap, SpanSource\n"
        "from finops.sources import otlp_file\n"
        "if __name__ == '__main__':\n"
        f"    src = SpanSource('s', 'otlp_files', {{'paths': {files!r}, 'workers': 2}})\n"
        "    otlp_file.pull(src, AttributeMap.default(), date(2026, 10, 1), date(2026, 10, 2))\n")
    hook = Path(__file__).parent / "hooks" / "pause_scan"
    env = {**os.environ, "FINOPS_TEST_PAUSE_SCAN": str(markers),
           "PYTHONPATH": os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")])}
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, env=env)
    kids: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list(markers.iterdir())) < 2:
            assert parent.poll() is None, "the pull ended before its workers were busy"
            time.sleep(0.1)
        busy = {int(p.name) for p in markers.iterdir()}
        kids = _children(parent.pid)
        assert len(busy) == 2 and busy < set(kids), (busy, kids)  # + the resource tracker
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(k) for k in kids):
            time.sleep(0.1)
        assert not [k for k in kids if _alive(k)], "workers outlived their parent"
    finally:
        parent.kill()
        for k in kids:
            if _alive(k):
                os.kill(k, signal.SIGKILL)


# --- the scan's line reader: chunks split here, the digest taken on the way ----------------

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=40)
                     .map(str.encode), max_size=12),
       last_newline=st.booleans(), chunk=st.sampled_from([1, 2, 5, 17, 64, 4096]),
       gz=st.booleans())
def test_chunked_reader_gives_the_lines_and_digest_of_a_plain_reader(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[bytes], last_newline: bool,
        chunk: int, gz: bool) -> None:
    body = b"\n".join(lines) + (b"\n" if last_newline and lines else b"")
    path = tmp_path / ("a.jsonl.gz" if gz else "a.jsonl")
    path.write_bytes(gzip.compress(body) if gz else body)
    monkeypatch.setattr(otlp_file, "_CHUNK", chunk)
    digest = otlp_file.content_hash()
    # a line is a view into the reader's buffer: copied before the next one is read
    got = [(n, bytes(raw), done) for n, raw, done in otlp_file._read_lines(str(path), [], digest)]
    want = [(n, raw.rstrip(b"\n"), raw.endswith(b"\n")) for n, raw in otlp_file._lines(str(path))]
    assert got == want
    assert otlp_file.fingerprint_of(digest) == otlp_file.file_digest(str(path))


def test_a_pull_fingerprints_each_file_it_reads_in_the_same_pass(tmp_path: Path) -> None:
    from finops.frames import FileState

    plain = write_spans_file(tmp_path / "a.jsonl", [llm_span("2026-10-01T10:00:00Z")])
    packed = tmp_path / "b.jsonl.gz"
    packed.write_bytes(gzip.compress(write_spans_file(
        tmp_path / "b.src", [llm_span("2026-10-02T10:00:00Z")]).read_bytes()))
    got = pull([plain, packed], state=FileState([], {}))
    prints = {Path(e.path).name: e.fingerprint for e in got.files}
    assert prints == {"a.jsonl": otlp_file.file_digest(str(plain)),
                      "b.jsonl.gz": otlp_file.file_digest(str(packed))}


@pytest.mark.parametrize("level", ["span", "resource"])
def test_an_int_value_that_is_not_a_number_names_file_line_span_and_key(
        tmp_path: Path, level: str) -> None:
    # OTLP/JSON writes int64 as a string: "intValue": "abc" is decoded leniently, then refused
    line = json.loads(write_spans_file(tmp_path / "src.jsonl",
                                       [llm_span("2026-10-01T10:00:00Z")]).read_text())
    rs = line["resourceSpans"][0]
    bad = {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "abc"}}
    if level == "span":
        attrs = rs["scopeSpans"][0]["spans"][0]["attributes"]
        attrs[:] = [kv for kv in attrs if kv["key"] != "gen_ai.usage.output_tokens"] + [bad]
    else:
        span_attrs = rs["scopeSpans"][0]["spans"][0]["attributes"]
        span_attrs[:] = [kv for kv in span_attrs if kv["key"] != "gen_ai.usage.output_tokens"]
        rs["resource"]["attributes"].append(bad)
    p = write_lines(tmp_path / "a.jsonl", [json.dumps(line)])
    with pytest.raises(DataError, match=r'a\.jsonl:1: span [0-9a-f]+: gen_ai\.usage\.output_tokens: '
                                        r'expected a non-negative integer, got "abc"'):
        pull([p])
