"""What a span means in the canonical model: token semantics, provider, tier, missing values.

Every span source applies these rules, and only these: the OTLP files, Tempo and OpenObserve
give the same rows for the same spans because they share this module.

Token semantics. Both span conventions (OpenInference ``llm.token_count.prompt`` and OTel GenAI
``gen_ai.usage.input_tokens``) count cache reads and cache writes *inside* the input
count. Some Anthropic instrumentations copy Anthropic's API, whose ``input_tokens`` is
*exclusive* of cache tokens. The canonical ``input_tokens`` is always exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from finops.cloud_models import canonical_model
from finops.schemas import NO_ACCOUNT, UNATTRIBUTED, UNKNOWN

INCLUSIVE = "inclusive"
EXCLUSIVE = "exclusive"
AUTO = "auto"


@dataclass(frozen=True, slots=True)
class Canonical:
    """Disjoint token counts for one span (or one aggregate)."""

    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int
    detected_exclusive: bool = False  # "auto" decided this span's count was exclusive


def normalise(input_count: int, cache_read: int, cache_write: int, output: int,
              reasoning: int, convention: str = AUTO) -> Canonical:
    """Map raw counts to canonical fields under ``convention``.

    ``auto`` treats the input count as inclusive unless the cache tokens exceed it, which
    only an exclusive count can produce. Under ``inclusive`` such a span is inconsistent
    and raises ``ValueError`` (the caller names the file and line).
    """
    cache = cache_read + cache_write
    if convention == EXCLUSIVE:
        return Canonical(input_count, cache_read, cache_write, output, reasoning)
    if cache > input_count:
        if convention == AUTO:
            return Canonical(input_count, cache_read, cache_write, output, reasoning, True)
        raise ValueError(
            f"cache tokens ({cache}) exceed the inclusive input count ({input_count})")
    return Canonical(input_count - cache, cache_read, cache_write, output, reasoning)


def convention_for(conventions: dict[str, str] | None, provider: str, default: str = AUTO) -> str:
    """The input convention configured for ``provider`` (``*`` is the catch-all)."""
    if not conventions:
        return default
    return conventions.get(provider, conventions.get("*", default))


# Provider names as instrumentations spell them -> canonical provider id. The cloud ids are
# also what the FOCUS presets set (finops/billing/focus_presets), so spans and bills meet:
# OTel GenAI gen_ai.provider.name (aws.bedrock, azure.ai.openai, gcp.vertex_ai), the older
# gen_ai.system values (az.ai.openai, vertex_ai), OpenInference llm.provider (aws, azure) and
# llm.system (vertexai), and the canonical ids themselves.
_PROVIDER_ALIASES = {
    "openai": "openai", "azure.ai.openai": "azure_openai", "az.ai.openai": "azure_openai",
    "azure_openai": "azure_openai", "azure": "azure_openai", "anthropic": "anthropic",
    "aws.bedrock": "aws_bedrock", "aws_bedrock": "aws_bedrock", "bedrock": "aws_bedrock",
    "aws": "aws_bedrock", "gcp.vertex_ai": "gcp_vertex_ai", "gcp.gemini": "gcp_gemini",
    "vertex_ai": "gcp_vertex_ai", "vertexai": "gcp_vertex_ai", "gcp_vertex_ai": "gcp_vertex_ai",
}


def canonical_provider(name: str) -> str:
    """Canonical provider id for a span's provider/system attribute (lower-cased)."""
    key = name.strip().lower()
    return _PROVIDER_ALIASES.get(key, key)


def guess_provider(model: str) -> str:
    """The provider a model name implies, for spans with no provider attribute."""
    m = model.strip().lower()
    if m.startswith(("gpt-", "o1", "o3", "o4", "chatgpt")):
        return "openai"
    if "claude" in m:  # also Bedrock and Vertex ids such as anthropic.claude-3-5-sonnet
        return "anthropic"
    return UNKNOWN


def provider_for(raw: str | None, model: str | None) -> str:
    """The canonical provider of a span: its attribute, else what its model name implies."""
    return canonical_provider(raw) if raw else guess_provider(model or "")


# Service tiers: OpenAI says "default"/"auto"/"scale", Anthropic "standard"; both have batch.
_TIER_ALIASES = {
    "": "standard", "default": "standard", "auto": "standard", "standard": "standard",
    "scale": "standard", "on_demand": "standard", "batch": "batch", "priority": "priority",
    "priority_on_demand": "priority", "flex": "flex", "flex_discount": "flex",
}


def canonical_tier(name: str | None, batch: bool | None = None) -> str:
    """Canonical service tier; ``batch=True`` (OpenAI's usage grouping) wins."""
    if batch:
        return "batch"
    key = (name or "").strip().lower()
    return _TIER_ALIASES.get(key, key)


# Which spans count. A span is one model call when its operation (OTel GenAI
# ``gen_ai.operation.name``, OpenInference ``openinference.span.kind``; the ``operation`` field
# of the attribute mapping) is one of these, compared case-insensitively. Agent and workflow
# spans (``invoke_agent``, ``AGENT``, ``CHAIN``, ...) repeat the totals of the calls beneath
# them: a span any of whose operation attributes names another operation is an *aggregate*
# and adds nothing. A span with token counts and no operation attribute at all is counted:
# older instrumentations set none, and dropping their spend would be silent.
INFERENCE_OPERATIONS = ("chat", "text_completion", "generate_content", "embeddings", "llm",
                        "embedding")
_INFERENCE = frozenset(INFERENCE_OPERATIONS)


def is_aggregate(operation: str) -> bool:
    """True for an operation value that is not one model call (``invoke_agent``, ``CHAIN``)."""
    return operation.lower() not in _INFERENCE


# The largest token count (and sum) a usage row holds (BIGINT). A larger span count is bad
# input, never wrapped or widened silently.
MAX_TOKENS = 2**63 - 1

# Providers that bill a cache write at the model's ordinary input rate unless the price
# table gives the model a cache-write price of its own (OpenAI: "cache writes" cost input).
CACHE_WRITE_AT_INPUT_RATE = ("openai", "azure_openai")


def text(value: Any) -> str | None:
    """An attribute value used where a name belongs (``team.id`` = 42) as text; None if missing."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# The dimensions of a usage row, in key order (after day).
DIMS = ("provider", "account", "model", "service_tier", "team", "project", "feature")


def canonical_dims(provider: str | None, account: str | None, model: str | None,
                   service_tier: str | None, team: str | None, project: str | None,
                   feature: str | None) -> tuple[str, str, str, str, str, str, str]:
    """Raw attribute values of a span (or a group of spans) -> the usage row's dimensions.

    Spend never vanishes: a missing team is ``unattributed``; a missing project, feature or
    model ``unknown``; a missing tier ``standard``; a missing provider is read from the model
    name. A missing account stays missing (``NO_ACCOUNT``, the empty string): most spans carry
    none, and reconciliation must tell "no account" from an account named ``default``. A
    cloud-hosted model's id is reduced to the one its bill uses
    (:func:`finops.cloud_models.canonical_model`).
    """
    prov = provider_for(provider, model)
    return (prov, account or NO_ACCOUNT, canonical_model(prov, model) if model else UNKNOWN,
            canonical_tier(service_tier), team or UNATTRIBUTED, project or UNKNOWN, feature or UNKNOWN)
