"""Span source ``tempo``: Grafana Tempo, aggregated by TraceQL metrics or searched (see :mod:`.source`)."""

from finops.config import AttributeMap, SpanSource
from finops.errors import ConfigError
from finops.sources.tempo.client import parse_options
from finops.sources.tempo.source import check, pull

__all__ = ["check", "parse_options", "pull", "validate"]


def validate(source: SpanSource, attributes: AttributeMap) -> None:
    """Check the source's options at ``finops.toml`` load (secrets are named, not read)."""
    opts = parse_options(source, attributes)
    sampling = source.sampling
    if opts.mode == "pushdown" and sampling.declared and sampling.per_span:
        raise ConfigError(f"sources.{source.name}.sampling: pushdown sums spans in Tempo and cannot "
                          f"see their sampling ({sampling.describe()}): use mode = \"search\" "
                          "(or \"auto\"), or declare { ratio = p }")
