"""Span source ``openobserve``: the daily rollup pushed down to OpenObserve as SQL (see :mod:`.source`)."""

from finops.config import AttributeMap, SpanSource
from finops.sources.openobserve.options import parse_options
from finops.sources.openobserve.source import check, pull, sampling_plan

__all__ = ["check", "parse_options", "pull", "validate"]


def validate(source: SpanSource, attributes: AttributeMap | None = None) -> None:
    """Check the source's options at ``finops.toml`` load (secrets are named, not read)."""
    parse_options(source)
    sampling_plan(source)  # a sampling rule read per span cannot be applied here
