"""What a span means in the canonical model: token semantics, provider, tier, missing values.

Every span source applies these rules, and only these: the OTLP files, Tempo and OpenObserve
give the same rows for the same spans because they share this module.

Token semantics. Both span conventions (OpenInference ``llm.token_count.prompt`` and OTel GenAI
``gen_ai.usage.input_tokens``) count cache reads and cache writes *inside* the input
count. Some Anthropic instrumentations copy Anthropic's API, whose ``input_tokens`` is
*exclusive* of cache tokens. The canonical ``input_tokens`` is always exclusive.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from finops.cloud_models import canonical_model
from finops.errors import ConfigError, unknown_key
from finops.names import NO_ACCOUNT, UNATTRIBUTED, UNKNOWN  # the attribution defaults

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


# The value a missing (or empty) attribute takes in a usage row, for the fields that have a
# plain default (provider, model and tier have rules: canonical_dims).
MISSING = {"account": NO_ACCOUNT, "team": UNATTRIBUTED, "project": UNKNOWN, "feature": UNKNOWN}


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
    return (prov, account or MISSING["account"], canonical_model(prov, model) if model else UNKNOWN,
            canonical_tier(service_tier), team or MISSING["team"], project or MISSING["project"],
            feature or MISSING["feature"])


class DimsCanon:
    """:func:`canonical_dims` for many rows.

    The provider, model and tier rules run once per distinct ``(provider, model, tier)``
    (a rollup's rows repeat them), the defaults per row.
    """

    def __init__(self) -> None:
        self._pmt: dict[tuple[str | None, str | None, str | None], tuple[str, str, str]] = {}

    def __call__(self, provider: str | None, account: str | None, model: str | None,
                 service_tier: str | None, team: str | None, project: str | None,
                 feature: str | None) -> tuple[str, str, str, str, str, str, str]:
        """The row's dimensions, as :func:`canonical_dims` gives them."""
        pmt = self._pmt.get((provider, model, service_tier))
        if pmt is None:
            p, _, m, t, *_ = canonical_dims(provider, None, model, service_tier, None, None, None)
            pmt = self._pmt[(provider, model, service_tier)] = (p, m, t)
        return (pmt[0], account or NO_ACCOUNT, pmt[1], pmt[2], team or UNATTRIBUTED,
                project or UNKNOWN, feature or UNKNOWN)


# --- Sampling: how many calls one span stands for ------------------------------------------
#
# A span kept by a probability sampler stands for 1 / p calls (its *adjusted count*); weighing
# each span by it makes the summed requests and tokens unbiased estimates of the true totals
# (Horvitz-Thompson). Where p comes from is the source's ``sampling`` rule:
#
# * ``tracestate``: OpenTelemetry consistent probability sampling writes the rejection
#   threshold T into the span's W3C tracestate, ``ot=th:<1-14 lowercase hex digits>``
#   (trailing zeros dropped); p = (2^56 - T) / 2^56 (OTel spec, trace/tracestate-handling.md
#   and tracestate-probability-sampling.md). A span without a valid ``th`` has no adjusted
#   count (it was not probability-sampled, or the threshold was erased): it counts once.
# * ``attribute:<key>``: a span (then resource) attribute records the sampling: a value >= 1
#   is "one in N" (Honeycomb's ``SampleRate``), a value in (0, 1) the probability itself.
# * ``{ ratio = p }``: the sampler records nothing (the SDK's ``TraceIdRatioBased``): every
#   span of the source (or of a service) stands for 1 / p.
# * ``off``: every span counts once, whatever it carries.

MAX_ADJUSTED_COUNT = 1 << 56  # 2^56: thresholds and randomness are 56-bit
TRACESTATE, ATTRIBUTE, RATIO, OFF = "tracestate", "attribute", "ratio", "off"
SERVICE_KEY = "service.name"  # the resource attribute per-service rules are chosen by
_HEX = frozenset("0123456789abcdef")


def tracestate_threshold(trace_state: str | None) -> int | None:
    """The rejection threshold in a W3C tracestate's ``ot`` entry, ``th`` sub-key.

    ``ot=th:e666`` gives ``0xe6660000000000`` (the value is extended with trailing zeros to
    14 hex digits). None when there is no ``ot`` entry, no ``th``, or an invalid one (not 1
    to 14 lowercase hex digits): the spec treats such a span as having no threshold.
    """
    if not trace_state or "ot=" not in trace_state:
        return None
    for member in trace_state.split(","):
        key, eq, value = member.strip().partition("=")
        if key != "ot" or not eq:
            continue
        for sub in value.split(";"):
            name, colon, th = sub.partition(":")
            if name == "th" and colon:
                if not 1 <= len(th) <= 14 or not _HEX.issuperset(th):
                    return None
                return int(th, 16) << (4 * (14 - len(th)))
        return None  # the first ot entry is the one (keys are unique in a tracestate)
    return None


def threshold_adjusted_count(threshold: int) -> float:
    """1 / p for a rejection threshold: 2^56 / (2^56 - T)."""
    if not 0 <= threshold < MAX_ADJUSTED_COUNT:
        raise ValueError(f"threshold {threshold} is not below 2^56")
    return MAX_ADJUSTED_COUNT / (MAX_ADJUSTED_COUNT - threshold)


def tracestate_weight(trace_state: str | None) -> float | None:
    """The adjusted count a tracestate gives a span; None when it carries no valid threshold."""
    th = tracestate_threshold(trace_state)
    return None if th is None else threshold_adjusted_count(th)


def rate_weight(value: Any) -> float:
    """The adjusted count an attribute value records: ``N`` (>= 1, "one in N") or ``1 / p``.

    Numbers and strings of numbers are read; anything else (0, a negative, NaN, a boolean,
    text) raises ``ValueError`` naming what came (the caller names the file and the span).
    """
    v: float | None = None
    if isinstance(value, bool):
        v = None
    elif isinstance(value, int | float):
        v = float(value)
    elif isinstance(value, str):
        try:
            v = float(value.strip())
        except ValueError:
            v = None
    if v is None or not math.isfinite(v) or v <= 0:
        raise ValueError(f"expected a sample rate (a number >= 1, one in N) or a probability "
                         f"in (0, 1), got {value!r}")
    return v if v >= 1 else 1 / v


@dataclass(frozen=True)
class SamplingRule:
    """How the spans of a source (or of one service) were sampled; see the comment above."""

    kind: str = TRACESTATE
    key: str = ""  # ATTRIBUTE: the attribute recording the rate
    ratio: float = 1.0  # RATIO: the declared sampling probability

    @property
    def weight(self) -> float:
        """The weight of every span under a declared ratio (1 for the other kinds)."""
        return 1 / self.ratio if self.kind == RATIO else 1

    def describe(self) -> str:
        """``tracestate``, ``attribute SampleRate``, ``ratio 0.1 (each span counts 10)``, ``off``."""
        if self.kind == ATTRIBUTE:
            return f"attribute {self.key}"
        if self.kind == RATIO:
            return f"ratio {self.ratio:g} (each span counts {self.weight:g})"
        return self.kind

    @property
    def per_span(self) -> bool:
        """The weight is read from each span (not known before the spans are seen)."""
        return self.kind in (TRACESTATE, ATTRIBUTE)


@dataclass(frozen=True)
class Sampling:
    """A span source's sampling rules: one default, optionally one per service.

    ``declared`` is False when ``finops.toml`` says nothing: the default then trusts the
    tracestate wherever a source can read it, and a source that cannot says so.
    """

    default: SamplingRule = SamplingRule()
    services: tuple[tuple[str, SamplingRule], ...] = ()
    declared: bool = False

    def rule_for(self, service: str | None) -> SamplingRule:
        """The rule for spans of ``service`` (the resource's ``service.name``)."""
        for name, rule in self.services:
            if name == service:
                return rule
        return self.default

    @property
    def rules(self) -> tuple[SamplingRule, ...]:
        """Every rule in use, the default first."""
        return (self.default, *(r for _, r in self.services))

    def uses(self, kind: str) -> bool:
        """Whether any rule is of ``kind``."""
        return any(r.kind == kind for r in self.rules)

    @property
    def per_span(self) -> bool:
        """Whether a weight is read from each span or depends on its service.

        True for a tracestate or attribute rule, or rules per service: an aggregate over many
        spans (a pushdown query) cannot apply them.
        """
        return bool(self.services) or any(r.per_span for r in self.rules)

    def describe(self) -> str:
        """One line for notes and ``sources check``."""
        text = self.default.describe()
        if self.services:
            text += "; " + ", ".join(f"service {n}: {r.describe()}" for n, r in self.services)
        return text


DEFAULT_SAMPLING = Sampling()  # nothing declared: trust the tracestate where it can be read


def sampling_rule(value: Any, where: str) -> SamplingRule:
    """One rule from ``finops.toml``: ``"tracestate"``, ``"attribute:<key>"``, ``{ ratio = p }``, ``"off"``."""
    example = ('"tracestate", "attribute:SampleRate", { ratio = 0.1 } or "off"')
    if isinstance(value, str):
        if value in (TRACESTATE, OFF):
            return SamplingRule(value)
        if value.startswith(ATTRIBUTE + ":"):
            key = value[len(ATTRIBUTE) + 1:].strip()
            if not key or "\x00" in key:
                raise ConfigError(f"{where}: attribute: needs the attribute's name, e.g. "
                                  "\"attribute:SampleRate\"")
            return SamplingRule(ATTRIBUTE, key=key)
        raise ConfigError(f"{where} must be {example}, not {value!r}")
    if isinstance(value, Mapping) and "ratio" in value:
        for k in value:
            if k != "ratio":
                raise unknown_key(k, ("ratio",), "key", where)
        ratio = value["ratio"]
        if (isinstance(ratio, bool) or not isinstance(ratio, int | float)
                or not 0 < ratio <= 1 or not math.isfinite(ratio)):
            raise ConfigError(f"{where}.ratio must be a sampling probability in (0, 1], such as "
                              f"0.1 for 10 %, not {ratio!r}")
        return SamplingRule(RATIO, ratio=float(ratio))
    raise ConfigError(f"{where} must be {example}, not {value!r}")


def sampling_rules(value: Any, where: str) -> Sampling:
    """A source's ``sampling`` option: a rule, or ``{ default = rule, services = { name = rule } }``."""
    if isinstance(value, Mapping) and "ratio" not in value:
        for k in value:
            if k not in ("default", "services"):
                raise unknown_key(k, ("default", "services", "ratio"), "key", where)
        default = sampling_rule(value.get("default", TRACESTATE), f"{where}.default")
        services = value.get("services", {})
        if not isinstance(services, Mapping):
            raise ConfigError(f"{where}.services must be a table of service.name = rule, e.g. "
                              "{ checkout = { ratio = 0.05 } }")
        return Sampling(default, tuple((str(name), sampling_rule(rule, f"{where}.services.{name}"))
                                       for name, rule in services.items()), True)
    return Sampling(sampling_rule(value, where), (), True)


# What span_weight found, for the sources' counts (finops.sources.rollup.sampling_notes).
SAMPLED, NO_RATE, INVALID, IGNORED, UNWEIGHTED = (
    "sampled_spans", "sampling_unknown", "invalid_thresholds", "thresholds_ignored", "")


def span_weight(rule: SamplingRule, trace_state: str | None, span: Mapping[str, Any],
                resource: Mapping[str, Any]) -> tuple[float, str]:
    """The calls one span stands for under ``rule``, and what was found (for the notes).

    ``span`` and ``resource`` are the span's and its resource's attributes (plain values);
    the attribute rule reads the span first, then the resource. A rate that is no rate
    raises ``ValueError`` (the caller names the span). Returns ``(1, UNWEIGHTED)`` where the
    rule has nothing to weigh by.
    """
    th = tracestate_threshold(trace_state)
    if rule.kind == TRACESTATE:
        if th is not None:
            return threshold_adjusted_count(th), SAMPLED
        return 1, INVALID if trace_state and "th:" in trace_state else UNWEIGHTED
    if rule.kind == RATIO:
        return rule.weight, SAMPLED
    if rule.kind == ATTRIBUTE:
        value = span.get(rule.key)
        if value is None:
            value = resource.get(rule.key)
        if value is None:
            return 1, NO_RATE
        return rate_weight(value), SAMPLED
    return 1, IGNORED if th is not None else UNWEIGHTED
