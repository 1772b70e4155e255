"""The library API: every CLI command is one call here, usable from Python without typer or rich.

Functions take a :class:`~finops.config.Config` and return a result object whose
``exit_code`` says how the command ends; they raise :class:`~finops.errors.FinopsError`
subclasses (each with its own exit code) for what stops them. Nothing here prints.

=====================  ============================================  ====================
command                function                                      returns
=====================  ============================================  ====================
``init``               :func:`init`                                  the path written
``pull``               :func:`pull`                                  :class:`PullResult`
``reconcile``          :func:`reconcile_window`                      :class:`Report`
``report``             :func:`report` (table), :func:`export`        :class:`Report`, :class:`Export`
``gate``               :func:`gate`                                  :class:`GateResult`
``anomalies``          :func:`anomalies`                             :class:`AnomalyReport`
``pricing show/check`` :func:`pricing_table`, :func:`pricing_check`  frame, :class:`PricingCheck`
``sources check``      :func:`check_sources`                         :class:`SourcesCheck`
``email``              :func:`email`                                 :class:`MailOutcome`
``nightly``            :func:`nightly`                               :class:`NightlyResult`
``demo``               :func:`run_demo`                              :class:`DemoResult`
=====================  ============================================  ====================
"""

from __future__ import annotations

import importlib
import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from finops.api.anomalies import anomalies
    from finops.api.demo import DemoResult, run_demo
    from finops.api.mail import email
    from finops.api.month import EXPORT_FORMATS, Export, GateResult, export, gate, reconcile_window, report
    from finops.api.nightly import NightlyResult, nightly
    from finops.api.pricing import PricingCheck, pricing_check, pricing_table
    from finops.api.pull import PullResult, SourceResult, SourcesCheck, check_sources, load_config, pull
    from finops.config import Config
    from finops.mail.deliver import MailOutcome
    from finops.notify import NotifyOutcome
    from finops.reconcile.anomalies import AnomalyReport
    from finops.report.model import Report

# Imported on first use (PEP 562): a command loads only what it calls ('finops --help' loads no
# polars, DuckDB or pandera).
_LAZY = {
    "anomalies": "finops.api.anomalies",
    "DemoResult": "finops.api.demo", "run_demo": "finops.api.demo",
    "email": "finops.api.mail",
    **dict.fromkeys(["EXPORT_FORMATS", "Export", "GateResult", "export", "gate", "reconcile_window", "report"],
                    "finops.api.month"),
    "NightlyResult": "finops.api.nightly", "nightly": "finops.api.nightly",
    **dict.fromkeys(["PricingCheck", "pricing_check", "pricing_table"], "finops.api.pricing"),
    **dict.fromkeys(["PullResult", "SourceResult", "SourcesCheck", "check_sources", "load_config", "pull"],
                    "finops.api.pull"),
    "Config": "finops.config",
    "MailOutcome": "finops.mail.deliver",
    "NotifyOutcome": "finops.notify",
    "AnomalyReport": "finops.reconcile.anomalies",
    "Report": "finops.report.model",
}


class _Api(types.ModuleType):
    """The package as a module whose ``nightly``, ``pull`` and ``anomalies`` stay the functions.

    Importing the submodule of the same name would otherwise set the package attribute to the module.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _LAZY:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Api


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'finops.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

__all__ = [
    "EXPORT_FORMATS", "AnomalyReport", "Config", "DemoResult", "Export", "GateResult", "MailOutcome",
    "NightlyResult", "NotifyOutcome", "PricingCheck", "PullResult", "Report", "SourceResult", "SourcesCheck", "anomalies",
    "check_sources", "email", "export", "gate", "init", "load_config", "nightly", "pricing_check",
    "pricing_table", "pull", "reconcile_window", "report", "run_demo",
]


def init(path: Path, *, force: bool = False) -> Path:
    """Write a commented starter ``finops.toml`` at ``path`` (refuses to overwrite unless ``force``)."""
    from finops.starter import write_starter

    write_starter(path, force=force)
    return path
