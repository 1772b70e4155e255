"""Week-over-week anomalies per team and budget burn (``finops anomalies``)."""

from __future__ import annotations

from datetime import date

from finops.config import Config
from finops.reconcile.anomalies import AnomalyReport, detect_on, windows_for
from finops.warehouse import open_warehouse
from finops.warehouse.ledger import ledger

__all__ = ["anomalies"]


def anomalies(config: Config, *, as_of: date | None = None, week: str | None = None,
              fail_on_anomaly: bool = False) -> AnomalyReport:
    """Week-over-week anomalies per team and budget status.

    ``as_of`` (default yesterday UTC): the 7 days ending on it vs the 7 before; ``week``
    (``YYYY-Www``): that ISO week vs the one before. Rules: :mod:`finops.reconcile.anomalies`.
    With ``fail_on_anomaly`` the result's exit code is 1 when anything is flagged.
    """
    current, prior, mode = windows_for(config, as_of=as_of, week=week)
    with open_warehouse(config.warehouse, "anomalies", create=False, settings=config.warehouse_settings) as con, \
            ledger(con, "anomalies", current) as run:
        result = detect_on(con, config, current, prior, mode=mode)
        run.rows = len(result.flags)
    result.fail_on_anomaly = fail_on_anomaly
    return result
