"""Span model ids and bill names of cloud-hosted models reduce to one id per provider."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finops.cloud_models import canonical_model

# (provider, what a span says, what a bill says [, the bill's deployment], the id both become)
PAIRS = [
    ("aws_bedrock", "us.anthropic.claude-3-5-sonnet-20240620-v1:0", "Claude3.5Sonnet", None,
     "claude-3-5-sonnet"),
    ("aws_bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0",
     "Claude 3.5 Sonnet (Amazon Bedrock Edition)", None, "claude-3-5-sonnet"),
    ("aws_bedrock", "anthropic.claude-3-haiku-20240307-v1:0", "Claude3Haiku", None, "claude-3-haiku"),
    ("aws_bedrock", "eu.anthropic.claude-sonnet-4-20250514-v1:0", "Claude4Sonnet", "geo",
     "claude-sonnet-4"),
    ("aws_bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "Claude4.5Sonnet", "global",
     "claude-sonnet-4-5:global"),
    ("aws_bedrock", "us.anthropic.claude-haiku-4-5-20251001-v1:0",
     "Claude Haiku 4.5 (Amazon Bedrock Edition)", None, "claude-haiku-4-5"),
    ("aws_bedrock", "global.anthropic.claude-opus-5", "anthropic.claude-opus-5-mantle", "global",
     "claude-opus-5:global"),
    ("aws_bedrock", "arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0", "NovaPro",
     None, "nova-pro"),
    ("aws_bedrock", "amazon.nova-2-lite-v1:0", "Nova2.0Lite", None, "nova-2-lite"),
    ("aws_bedrock", "meta.llama3-1-70b-instruct-v1:0", "Llama3.1-70B-Instruct", None,
     "llama-3-1-70b-instruct"),
    ("azure_openai", "gpt-4o-2024-08-06", "gpt-4o-0806", None, "gpt-4o"),
    ("azure_openai", "gpt-4o-2024-11-20", "gpt 4o 1120", None, "gpt-4o"),
    ("azure_openai", "gpt-4o-2024-05-13", "gpt 4o 0513", None, "gpt-4o-2024-05-13"),
    ("azure_openai", "gpt-4o-mini-2024-07-18", "gpt 4o mini 0718", None, "gpt-4o-mini"),
    ("azure_openai", "gpt-4.1-2025-04-14", "gpt 4.1", None, "gpt-4.1"),
    ("azure_openai", "o3-mini-2025-01-31", "o3 mini 0131", None, "o3-mini"),
    ("azure_openai", "gpt-5-mini-2025-08-07", "5 mini", None, "gpt-5-mini"),
    ("azure_openai", "gpt-35-turbo", "gpt-35-turbo-16k", None, "gpt-3.5-turbo"),
    ("gcp_vertex_ai", "gemini-2.5-flash-001", "Gemini 2.5 Flash GA", None, "gemini-2.5-flash"),
    ("gcp_vertex_ai", "gemini-2.5-flash-lite-preview-06-17", "Gemini 2.5 Flash Lite", None,
     "gemini-2.5-flash-lite"),
    ("gcp_vertex_ai", "publishers/google/models/gemini-2.5-pro", "Gemini 2.5 Pro", None,
     "gemini-2.5-pro"),
    ("gcp_vertex_ai", "gemini-2.0-flash-001", "Gemini 2.0 Flash", None, "gemini-2.0-flash"),
    ("gcp_vertex_ai", "gemini-3-pro-preview", "Gemini 3.0 Pro", None, "gemini-3-pro"),
]


@pytest.mark.parametrize(("provider", "span", "bill", "deployment", "both"), PAIRS)
def test_span_and_bill_meet(provider, span, bill, deployment, both):
    assert canonical_model(provider, span) == both
    assert canonical_model(provider, bill, deployment) == both


def test_a_version_never_collapses_into_another():
    """Sonnet 3 is not 3.5, 4 is not 4.5, Flash is not Flash Lite: their prices differ."""
    b = "aws_bedrock"
    assert canonical_model(b, "anthropic.claude-3-sonnet-20240229-v1:0") != canonical_model(
        b, "Claude3.5Sonnet")
    assert canonical_model(b, "Claude4Sonnet") != canonical_model(b, "Claude4.5Sonnet")
    assert canonical_model(b, "anthropic.claude-opus-5") != canonical_model(b, "anthropic.claude-sonnet-5")
    assert canonical_model(b, "us.anthropic.claude-sonnet-4-5-20250929-v1:0") != canonical_model(
        b, "global.anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert canonical_model("gcp_vertex_ai", "Gemini 2.5 Flash Lite") != canonical_model(
        "gcp_vertex_ai", "Gemini 2.5 Flash")
    assert canonical_model("azure_openai", "gpt-4o-mini") != canonical_model("azure_openai", "gpt-4o")


def test_other_providers_and_empty_models_are_untouched():
    assert canonical_model("openai", "gpt-4o-2024-08-06") == "gpt-4o-2024-08-06"
    assert canonical_model("anthropic", "claude-sonnet-4-20250514") == "claude-sonnet-4-20250514"
    assert canonical_model("aws_bedrock", "") == ""


NAMES = st.sampled_from([p[1] for p in PAIRS] + [p[2] for p in PAIRS])


@given(provider=st.sampled_from(["aws_bedrock", "azure_openai", "gcp_vertex_ai"]), name=NAMES,
       deployment=st.sampled_from([None, "global", "geo", "data_zone"]))
def test_canonical_ids_are_fixed_points(provider, name, deployment):
    """Reducing an id again changes nothing: a loaded id re-read from the warehouse stays put."""
    once = canonical_model(provider, name, deployment)
    assert canonical_model(provider, once) == once
