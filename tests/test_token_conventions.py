"""Token semantics end to end: every span convention x provider x input convention.

Spans are made by the real OpenTelemetry SDK and read back by the otlp_files source; the
canonical fields must be disjoint (``input_tokens`` excludes cache reads and writes).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from otel_helpers import write_spans_file

from finops.config import AttributeMap, SpanSource
from finops.errors import DataError
from finops.sources import otlp_file

DAY = date(2026, 10, 1)
START = "2026-10-01T12:00:00Z"

# raw counts on the span: input 1000 (of which 300 cache reads, 100 cache writes if inclusive)
RAW = {"input": 1000, "cache_read": 300, "cache_write": 100, "output": 200, "reasoning": 50}

CONVENTIONS = {
    "openinference": {
        "provider": "llm.provider", "model": "llm.model_name",
        "input": "llm.token_count.prompt", "output": "llm.token_count.completion",
        "cache_read": "llm.token_count.prompt_details.cache_read",
        "cache_write": "llm.token_count.prompt_details.cache_write",
        "reasoning": "llm.token_count.completion_details.reasoning",
    },
    "openinference_system": {
        "provider": "llm.system", "model": "llm.model_name",
        "input": "llm.token_count.prompt", "output": "llm.token_count.completion",
        "cache_read": "llm.token_count.prompt_details.cache_read",
        "cache_write": "llm.token_count.prompt_details.cache_write",
        "reasoning": "llm.token_count.completion_details.reasoning",
    },
    "gen_ai_new": {
        "provider": "gen_ai.provider.name", "model": "gen_ai.response.model",
        "input": "gen_ai.usage.input_tokens", "output": "gen_ai.usage.output_tokens",
        "cache_read": "gen_ai.usage.cache_read.input_tokens",
        "cache_write": "gen_ai.usage.cache_creation.input_tokens",
        "reasoning": "gen_ai.usage.reasoning.output_tokens",
    },
    "gen_ai_old": {
        "provider": "gen_ai.system", "model": "gen_ai.request.model",
        "input": "gen_ai.usage.prompt_tokens", "output": "gen_ai.usage.completion_tokens",
        "cache_read": "gen_ai.usage.cache_read_input_tokens",
        "cache_write": "gen_ai.usage.cache_creation_input_tokens",
        "reasoning": "gen_ai.usage.reasoning_tokens",
    },
    # the names in use in 2026 (shared/reference/genai-telemetry-2026.md)
    "gen_ai_2026": {
        "provider": "gen_ai.provider.name", "model": "gen_ai.response.model",
        "input": "gen_ai.usage.input_tokens", "output": "gen_ai.usage.output_tokens",
        "cache_read": "gen_ai.usage.cache_read.input_tokens",
        "cache_write": "gen_ai.usage.cache_write.input_tokens",
        "reasoning": "gen_ai.usage.reasoning.output_tokens",
    },
    "sentry": {
        "provider": "gen_ai.system", "model": "gen_ai.request.model",
        "input": "gen_ai.usage.input_tokens", "output": "gen_ai.usage.output_tokens",
        "cache_read": "gen_ai.usage.input_tokens.cached",
        "cache_write": "gen_ai.usage.input_tokens.cache_write",
        "reasoning": "gen_ai.usage.output_tokens.reasoning",
    },
    "strands_pydantic_ai": {
        "provider": "gen_ai.system", "model": "gen_ai.request.model",
        "input": "gen_ai.usage.input_tokens", "output": "gen_ai.usage.output_tokens",
        "cache_read": "gen_ai.usage.cache_read_input_tokens",
        "cache_write": "gen_ai.usage.cache_write_input_tokens",
        "reasoning": "gen_ai.usage.details.reasoning_tokens",
    },
}
MODELS = {"openai": "gpt-4o-2024-08-06", "anthropic": "claude-sonnet-4-20250514"}

# input convention -> expected canonical input (cache reads/writes and output never change)
EXPECTED_INPUT = {"inclusive": 600, "exclusive": 1000, "auto": 600}


def span_attrs(convention: str, provider: str, raw: dict[str, int] = RAW) -> dict:
    names = CONVENTIONS[convention]
    attrs = {names["provider"]: provider, names["model"]: MODELS[provider]}
    attrs.update({names[k]: v for k, v in raw.items()})
    return attrs


def pull(path: Path, conventions: dict[str, str]):
    src = SpanSource("spans", "otlp_files", {"paths": [str(path)]}, conventions)
    return otlp_file.pull(src, AttributeMap.default(), DAY, date(2026, 10, 2))


@pytest.mark.parametrize("input_convention", ["inclusive", "exclusive", "auto"])
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("convention", sorted(CONVENTIONS))
def test_every_convention_provider_and_input_convention(
        tmp_path: Path, convention: str, provider: str, input_convention: str) -> None:
    path = write_spans_file(tmp_path / "s.jsonl", [
        {"resource": {"team.id": "t"}, "attributes": span_attrs(convention, provider),
         "start": START}])
    out = pull(path, {provider: input_convention})
    assert out.frame.to_dicts() == [{
        "day": DAY, "provider": provider, "account": "", "model": MODELS[provider],
        "service_tier": "standard", "team": "t", "project": "unknown", "feature": "unknown",
        "source": "spans", "requests": 1, "input_tokens": EXPECTED_INPUT[input_convention],
        "cache_read_tokens": 300, "cache_write_tokens": 100, "output_tokens": 200,
        "reasoning_tokens": 50, "seen_requests": 1,
    }]
    assert out.stats["exclusive_detected"] == 0


@pytest.mark.parametrize("convention", sorted(CONVENTIONS))
def test_the_catch_all_and_per_provider_settings(tmp_path: Path, convention: str) -> None:
    path = write_spans_file(tmp_path / "s.jsonl", [
        {"attributes": span_attrs(convention, "openai"), "start": START},
        {"attributes": span_attrs(convention, "anthropic"), "start": START},
    ])
    out = pull(path, {"anthropic": "exclusive", "*": "inclusive"})
    got = {r["provider"]: r["input_tokens"] for r in out.frame.to_dicts()}
    assert got == {"openai": 600, "anthropic": 1000}
    # nothing configured: auto, which reads a consistent count as inclusive
    out = pull(path, {})
    assert {r["provider"]: r["input_tokens"] for r in out.frame.to_dicts()} == {
        "openai": 600, "anthropic": 600}


@pytest.mark.parametrize("convention", sorted(CONVENTIONS))
def test_attributes_on_the_resource_instead_of_the_span(tmp_path: Path, convention: str) -> None:
    names = CONVENTIONS[convention]
    attrs = span_attrs(convention, "anthropic")
    resource = {names[k]: attrs.pop(names[k]) for k in ("provider", "model", "cache_read")}
    resource.update({"team.id": "res-team", "project.id": "res-proj"})
    path = write_spans_file(tmp_path / "s.jsonl", [
        {"resource": resource, "attributes": attrs, "start": START}])
    r = pull(path, {"*": "inclusive"}).frame.to_dicts()[0]
    assert (r["provider"], r["model"], r["team"], r["project"]) == (
        "anthropic", MODELS["anthropic"], "res-team", "res-proj")
    assert (r["input_tokens"], r["cache_read_tokens"], r["cache_write_tokens"]) == (600, 300, 100)


@pytest.mark.parametrize("convention", sorted(CONVENTIONS))
def test_cache_above_input_is_detected_exclusive_under_auto(tmp_path: Path,
                                                            convention: str) -> None:
    raw = {"input": 12, "cache_read": 5000, "cache_write": 800, "output": 90, "reasoning": 0}
    path = write_spans_file(tmp_path / "s.jsonl", [
        {"attributes": span_attrs(convention, "anthropic", raw), "start": START},
        {"attributes": span_attrs(convention, "anthropic"), "start": START},
    ])
    out = pull(path, {"anthropic": "auto"})
    r = out.frame.to_dicts()[0]
    assert r["requests"] == 2
    # 12 (read as exclusive) + 600 (consistent, read as inclusive)
    assert (r["input_tokens"], r["cache_read_tokens"], r["cache_write_tokens"]) == (
        612, 5300, 900)
    assert out.stats["exclusive_detected"] == 1
    assert any("read as exclusive" in n for n in out.notes)


@pytest.mark.parametrize("convention", sorted(CONVENTIONS))
def test_cache_above_input_is_a_data_error_under_inclusive(tmp_path: Path, convention: str) -> None:
    raw = {"input": 12, "cache_read": 5000, "cache_write": 0, "output": 90, "reasoning": 0}
    path = write_spans_file(tmp_path / "day1.jsonl", [
        {"attributes": span_attrs(convention, "anthropic"), "start": START},
        {"attributes": span_attrs(convention, "anthropic", raw), "start": START},
    ], spans_per_line=1)
    with pytest.raises(DataError) as e:
        pull(path, {"*": "inclusive"})
    msg = str(e.value)
    assert msg.startswith(f"{path}:2: span ")
    assert "cache tokens (5000) exceed the inclusive input count (12)" in msg
    assert "input_convention for anthropic is inclusive" in msg
