"""Span source ``tempo``: Grafana Tempo, aggregated by TraceQL metrics or searched (see :mod:`.source`)."""

from finops.sources.tempo.client import check_config, parse_options
from finops.sources.tempo.source import check, pull

__all__ = ["check", "check_config", "parse_options", "pull"]
