"""Loading sources into the warehouse (``finops pull``), and checking them (``finops sources check``).

The registries below are the only place that knows which module reads which ``kind``: span
sources and billing sources never see each other, and never the warehouse.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

from finops.config import Config
from finops.config import load_config as _load_file
from finops.errors import ConfigError, ExitCode, FinopsError, redact
from finops.options import checking_only
from finops.reconcile.run import provisional_from
from finops.warehouse import open_warehouse
from finops.warehouse.ledger import ledger
from finops.windows import Window

if TYPE_CHECKING:  # the loader (polars, pandera) is imported by pull() only: a report's load_config does without
    from finops.frames import BillingPull, ProgressFn, SpanPull

__all__ = ["BILLING_KINDS", "SPAN_KINDS", "PullResult", "SourceResult", "SourcesCheck", "check_sources",
           "load_config", "pull", "validate_sources"]

SPAN_KINDS = {
    "otlp_files": "finops.sources.otlp_file",
    "tempo": "finops.sources.tempo",
    "openobserve": "finops.sources.openobserve",
    "prometheus": "finops.sources.prometheus",
}
# Span kinds that keep a manifest of the files they read (their pull takes ``state``).
MANIFEST_KINDS = {"otlp_files"}
BILLING_KINDS = {
    "openai_files": "finops.billing.openai",
    "openai": "finops.billing.openai",
    "anthropic_files": "finops.billing.anthropic",
    "anthropic": "finops.billing.anthropic",
    "focus_files": "finops.billing.focus",
}


def source_module(kinds: dict[str, str], kind: str, where: str) -> ModuleType:
    """The module that reads ``kind``; an unknown kind is a config error naming ``where``."""
    if kind not in kinds:
        raise ConfigError(f"{where}: unknown kind {kind!r} (one of {', '.join(sorted(kinds))})")
    return importlib.import_module(kinds[kind])


def validate_sources(config: Config) -> None:
    """Every source's ``kind`` is known and its options check, without reading a secret.

    Raises :class:`~finops.errors.ConfigError` (exit 2) naming the file, the source and the key.
    """
    where = config.path or "config"
    with checking_only():
        for kinds, items, section in ((SPAN_KINDS, config.span_sources, "sources"),
                                      (BILLING_KINDS, config.billing_sources, "billing")):
            for s in items:
                try:
                    mod = source_module(kinds, s.kind, f"{section}.{s.name}")
                    check = getattr(mod, "validate", None)
                    if check is not None:
                        check(s, config.attributes) if kinds is SPAN_KINDS else check(s)
                except ConfigError as e:
                    raise ConfigError(f"{where}: {e}") from None


def load_config(path: str | Path | None = None, *, warehouse: str | None = None) -> Config:
    """:func:`finops.config.load_config`, then every source checked (:func:`validate_sources`)."""
    config = _load_file(path, warehouse=warehouse)
    validate_sources(config)
    return config


@dataclass
class SourceResult:
    """What one source did in a pull."""

    name: str
    kind: str
    rows: int = 0
    error: str | None = None
    stats: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class PullResult:
    """Every source's outcome for a window; ``failed`` names the sources that did not load."""

    window: Window
    sources: list[SourceResult]

    @property
    def failed(self) -> list[SourceResult]:
        """Sources that raised an error (their previous windows are untouched)."""
        return [s for s in self.sources if s.error]

    @property
    def exit_code(self) -> ExitCode:
        """3 when a source failed (the others were loaded), else 0."""
        return ExitCode.DATA if self.failed else ExitCode.OK


def _sampling_record(got: SpanPull) -> str | None:
    """What a usage load records about sampling (``load_windows.sampling``).

    The rules that weighted some of its spans, or why the source could not see the sampling.
    """
    if got.sampling_unseen:
        return f"not seen: {got.sampling_unseen}"
    if got.stats.get("sampled_spans") and got.sampling:
        return f"weighted: {got.sampling}"
    return None


def pull(config: Config, window: Window, *, only: list[str] | None = None,
         progress: ProgressFn | None = None, allow_empty: bool = False) -> PullResult:
    """Load every configured source (or ``only`` those named) for ``window``.

    Each source's window is replaced atomically. A failing source does not stop the others;
    :attr:`PullResult.failed` names them. A span source that gives no usage for a day it had
    usage for fails (its day is kept) unless ``allow_empty`` or the source's ``allow_empty``.
    """
    names = {s.name for s in config.span_sources} | {b.name for b in config.billing_sources}
    for n in only or []:
        if n not in names:
            raise ConfigError(f"--source {n!r}: no such source in {config.path or 'config'}")
    if not names:
        raise ConfigError(f"{config.path or 'config'}: no [[sources]] or [[billing]] configured")
    validate_billing(config, only)
    from finops.warehouse.load import replace_window
    from finops.warehouse.manifest import file_state, save_state, window_frame

    results: list[SourceResult] = []
    settled = provisional_from(config, config.run_date())
    with open_warehouse(config.warehouse, "pull", settings=config.warehouse_settings) as con:
        with ledger(con, "pull", window, sorted(only or names)) as run:
            jobs = [("usage", s) for s in config.span_sources] + [("billing", b) for b in config.billing_sources]
            for kind, source in jobs:
                if only and source.name not in only:
                    continue
                res = SourceResult(source.name, source.kind)
                try:
                    got: SpanPull | BillingPull
                    start, end = window.window_start, window.window_end
                    if kind == "usage":
                        mod = source_module(SPAN_KINDS, source.kind, f"sources.{source.name}")
                        extra = {"state": file_state(con, source.name)} if source.kind in MANIFEST_KINDS else {}
                        got = mod.pull(source, config.attributes, start, end, progress=progress, **extra)
                        res.stats, res.notes = got.stats, got.notes  # kept when the load is refused
                        frame = got.frame
                        if got.days is not None:  # only the days re-read: the others kept as loaded
                            frame = window_frame(con, source.name, start, end, frame, got.days)
                        res.rows = replace_window(con, kind, source.name, start, end, frame, run_id=run.run_id,
                                                  allow_empty=allow_empty or source.allow_empty,
                                                  sampling=_sampling_record(got))
                        if got.files is not None:
                            save_state(con, source.name, got.files, got.days or [], got.plan, run.run_id)
                    else:
                        got = source_module(BILLING_KINDS, source.kind, f"billing.{source.name}").pull(
                            source, start, end, progress=progress)
                        res.stats, res.notes = got.stats, got.notes
                        res.rows = replace_window(con, kind, source.name, start, end, got.frame,
                                                  providers=got.providers, run_id=run.run_id, settled_before=settled,
                                                  excluded=got.excluded, key_tokens=got.key_tokens,
                                                  api_keys=got.api_keys, charges=got.charges)
                except FinopsError as e:
                    res.error = redact(str(e))
                results.append(res)
            run.rows = sum(r.rows for r in results)
            run.errors = [f"{r.name}: {r.error}" for r in results if r.error]
    return PullResult(window, results)


def validate_billing(config: Config, only: list[str] | None = None) -> None:
    """Check billing sources' options before anything runs.

    A mistake is a config error (exit 2), not a failed source. Kinds without a
    ``validate(source)`` are not checked here. No secret is read: a missing key fails its own
    source (exit 3, the others load), not the whole run.
    """
    with checking_only():
        for b in config.billing_sources:
            if only and b.name not in only:
                continue
            check = getattr(source_module(BILLING_KINDS, b.kind, f"billing.{b.name}"), "validate", None)
            if check is not None:
                check(b)


class SourcesCheck(NamedTuple):
    """``finops sources check``: one row per source and finding, and the sources that failed."""

    rows: list[dict[str, str]]
    failed: list[str]

    @property
    def exit_code(self) -> ExitCode:
        """3 when a source could not be checked."""
        return ExitCode.DATA if self.failed else ExitCode.OK


_FAILED = ("failed", "no:", "error:")  # how a span source's check row says a finding failed


def check_sources(config: Config) -> SourcesCheck:
    """Ask every source what it sees; a source fails when its check raises or a finding failed."""
    validate_billing(config)
    rows: list[dict[str, str]] = []
    failed: list[str] = []
    for kinds, items in ((SPAN_KINDS, config.span_sources), (BILLING_KINDS, config.billing_sources)):
        for s in items:
            try:
                mod = source_module(kinds, s.kind, s.name)
                check = getattr(mod, "check", None)
                if check is None:  # every kind in main has one; a new kind may not yet
                    rows.append({"source": s.name, "kind": s.kind, "check": "-",
                                 "result": f"no check for kind {s.kind} yet (read at pull time)"})
                    continue
                found = check(s, config.attributes) if kinds is SPAN_KINDS else check(s)
                for key, value in found:
                    rows.append({"source": s.name, "kind": s.kind, "check": key, "result": value})
                    if str(value).startswith(_FAILED) and s.name not in failed:
                        failed.append(s.name)
            except FinopsError as e:
                failed.append(s.name)
                rows.append({"source": s.name, "kind": s.kind, "check": "error",
                             "result": redact(str(e))})
    return SourcesCheck(rows, failed)
