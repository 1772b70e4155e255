"""Span source ``tempo``: Grafana Tempo, aggregated by TraceQL metrics or searched (see :mod:`.source`)."""

from finops.config import AttributeMap, SpanSource
from finops.sources.tempo.client import parse_options
from finops.sources.tempo.source import check, pull

__all__ = ["check", "parse_options", "pull", "validate"]


def validate(source: SpanSource, attributes: AttributeMap) -> None:
    """Check the source's options at ``finops.toml`` load (secrets are named, not read)."""
    parse_options(source, attributes)
