"""Token semantics: turn a source's counts into the disjoint canonical fields.

Both span conventions (OpenInference ``llm.token_count.prompt`` and OTel GenAI
``gen_ai.usage.input_tokens``) count cache reads and cache writes *inside* the input
count. Some Anthropic instrumentations copy Anthropic's API, whose ``input_tokens`` is
*exclusive* of cache tokens. The canonical ``input_tokens`` is always exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass

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


# Provider names as instrumentations spell them -> canonical provider id.
_PROVIDER_ALIASES = {
    "openai": "openai", "azure.ai.openai": "azure_openai", "az.ai.openai": "azure_openai",
    "azure_openai": "azure_openai", "anthropic": "anthropic", "aws.bedrock": "aws_bedrock",
    "gcp.vertex_ai": "gcp_vertex_ai", "gcp.gemini": "gcp_gemini", "vertex_ai": "gcp_vertex_ai",
}


def canonical_provider(name: str) -> str:
    """Canonical provider id for a span's provider/system attribute (lower-cased)."""
    key = name.strip().lower()
    return _PROVIDER_ALIASES.get(key, key)


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
