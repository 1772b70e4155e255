"""Span source ``openobserve``: the daily rollup pushed down to OpenObserve as SQL (see :mod:`.source`)."""

from finops.sources.openobserve.options import parse_options
from finops.sources.openobserve.source import check, check_config, pull

__all__ = ["check", "check_config", "parse_options", "pull"]
