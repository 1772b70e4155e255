"""The demo month from metrics: load it into VictoriaMetrics and reconcile it with ``kind = "prometheus"``.

    make demo-metrics                 # = .venv/bin/python scripts/demo_metrics.py --out demo-out

What it does:

1. writes the demo month as ``finops demo`` does (``spans/``, ``billing/``, ``finops.toml``),
   and keeps every call, including the ~2 % whose spans sampling dropped;
2. records every call with the real OpenTelemetry SDK and its Prometheus exporter, one
   process per service and project, and scrapes each process every 15 minutes of the month
   (``gen_ai.client.token.usage``, ``gen_ai.client.operation.duration``; services on the
   current GenAI conventions also emit the newer ``gen_ai.client.inference.*`` counters, so
   their cache tokens are known; the others' are not);
3. starts VictoriaMetrics (Debian's ``victoria-metrics``: ``make metrics-servers``) on
   127.0.0.1:8428 with its data in ``<out>/victoria-metrics/`` and loads the samples through
   its import API, or uses ``--url`` (an empty VictoriaMetrics of yours);
4. writes ``<out>/finops-metrics.toml`` (the same teams and billing, the metrics as the span
   source, warehouse ``finops-metrics.duckdb``), pulls, reconciles and writes
   ``<out>/reports-metrics/``, and prints the spans' and the metrics' estimates next to the bill.

VictoriaMetrics is stopped at the end unless ``--keep``; to explore later, start it again on
the same data and use the config::

    victoria-metrics -storageDataPath=demo-out/victoria-metrics -httpListenAddr=127.0.0.1:8428 -retentionPeriod=100y &
    .venv/bin/finops -c demo-out/finops-metrics.toml report --month 2026-10
    .venv/bin/finops -c demo-out/finops-metrics.toml sources check

It needs the development dependencies (``.venv`` from ``make``): the OpenTelemetry SDK is
not a runtime dependency of finops.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the SDK-to-samples helpers the tests use

from metrics_servers import VICTORIA, Server, start_victoria  # noqa: E402
from otel_metrics import load_victoria_json, scrape  # noqa: E402

from finops import api  # noqa: E402
from finops.config import load_config  # noqa: E402
from finops.demo.generate import Service, _epoch, _resource, demo_config, generate  # noqa: E402
from finops.report.write import write_report  # noqa: E402
from finops.windows import Window, month_window  # noqa: E402

SCRAPE_INTERVAL = 900


def metric_call(svc: Service, day: date, tokens: tuple[int, int, int, int, int],
                placed: tuple[str, str, int] | None, rng: random.Random) -> dict[str, Any]:
    """A call as the metrics helpers take it: resource, attributes, start, process."""
    inp, cr, cw, out, reasoning = tokens
    if placed is None:  # a call whose span was sampled out: place it ourselves
        start = (_epoch(day) + rng.randrange(86_399)) * 10**9
        placed = (rng.choice(svc.projects), rng.choice(svc.features), start)
    project, feature, start_ns = placed
    old = svc.convention == "genai_old"
    attrs: dict[str, Any] = {
        "gen_ai.system" if old else "gen_ai.provider.name": svc.provider,
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": svc.model.split(":")[1] if svc.model.startswith("ft:") else svc.model,
        "gen_ai.response.model": svc.model, "feature.id": feature,
        "gen_ai.usage.input_tokens": inp + cr + cw, "gen_ai.usage.output_tokens": out}
    if cr:
        attrs["gen_ai.usage.cache_read.input_tokens"] = cr
    if cw:
        attrs["gen_ai.usage.cache_creation.input_tokens"] = cw
    if reasoning:
        attrs["gen_ai.usage.reasoning.output_tokens"] = reasoning
    if svc.tier != "standard" and svc.provider == "openai":
        attrs["gen_ai.openai.request.service_tier"] = svc.tier
    return {"resource": _resource(svc, project), "attributes": attrs, "start": start_ns,
            "process": f"{svc.name}/{project}", "counters": svc.convention == "genai"}


def _scrape_part(calls: list[dict[str, Any]], start: str, end: str) -> list[Any]:
    return scrape(calls, start=start, end=end, interval=SCRAPE_INTERVAL, buckets=False)


def scrape_parallel(calls: list[dict[str, Any]], start: str, end: str) -> list[Any]:
    """Scrape the processes in parallel (each process is independent), one share per core."""
    by_process: dict[str, list[dict[str, Any]]] = {}
    for c in calls:
        by_process.setdefault(c["process"], []).append(c)
    workers = max(1, min(os.cpu_count() or 1, 4, len(by_process)))
    shares: list[list[dict[str, Any]]] = [[] for _ in range(workers)]
    for group in sorted(by_process.values(), key=len, reverse=True):  # largest first, to the lightest share
        min(shares, key=len).extend(group)
    if workers == 1:
        return _scrape_part(calls, start, end)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        parts = pool.map(_scrape_part, shares, [start] * workers, [end] * workers)
        return [s for part in parts for s in part]


def metrics_config(spans_config: str, url: str) -> str:
    """The demo's config with the metrics as its span source and its own warehouse."""
    source = ('[[sources]]\nname = "metrics"\nkind = "prometheus"\n'
              f'url = "{url}"\ncheck_lookback = "3650d"   # the demo month is in the past\n')
    out = spans_config.replace('path = "finops.duckdb"', 'path = "finops-metrics.duckdb"')
    start = out.index("[[sources]]")
    end = out.index("[[billing]]")
    return "# The demo month with its usage read from metrics (scripts/demo_metrics.py).\n" + \
        out[:start] + source + "\n" + out[end:]


def port_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:``port``."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def main(argv: list[str] | None = None) -> int:
    """Generate, export, load, pull and report; the exit code follows finops' (2 usage, 3 data)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("demo-out"))
    p.add_argument("--month", default="2026-10")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--url", help="an empty VictoriaMetrics to load into (default: start one)")
    p.add_argument("--port", type=int, default=8428, help="port for the VictoriaMetrics started here")
    p.add_argument("--keep", action="store_true", help="leave the VictoriaMetrics started here running")
    p.add_argument("--days", type=int, help="only the month's first DAYS days (a quick run)")
    args = p.parse_args(argv)

    window = month_window(args.month)
    if args.days:
        window = Window(window.window_start, min(window.window_end, window.window_start + timedelta(days=args.days)))
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed + 1)
    calls: list[dict[str, Any]] = []
    t0 = time.monotonic()
    data = generate(out, window, seed=args.seed,
                    on_call=lambda svc, day, tok, placed: calls.append(metric_call(svc, day, tok, placed, rng)))
    today = window.window_end + timedelta(days=22)
    spans_cfg = demo_config(out, window, today)
    (out / "finops.toml").write_text(spans_cfg)
    print(f"demo {window}: {len(calls):,} calls, {len(calls) - data.spans_dropped:,} spans "
          f"({data.spans_dropped:,} sampled out) [{time.monotonic() - t0:.0f}s]")

    t0 = time.monotonic()
    start = f"{window.window_start.isoformat()}T00:00:00Z"
    end = f"{window.window_end.isoformat()}T01:00:00Z"
    samples = scrape_parallel(calls, start, end)
    print(f"SDK export scraped every {SCRAPE_INTERVAL // 60} min: {len(samples):,} samples "
          f"[{time.monotonic() - t0:.0f}s]")

    server: Server | None = None
    url = args.url
    if not url:
        if not VICTORIA:
            print("demo-metrics: victoria-metrics is not installed: run `make metrics-servers` "
                  "(Debian package), or pass --url of a VictoriaMetrics", file=sys.stderr)
            return 2
        if not port_free(args.port):
            print(f"demo-metrics: 127.0.0.1:{args.port} is in use: pass --port, or --url if it is a "
                  "VictoriaMetrics you want to load", file=sys.stderr)
            return 2
        data_dir = out / "victoria-metrics"
        shutil.rmtree(data_dir, ignore_errors=True)
        server = start_victoria(data_dir, port=args.port, die_with_parent=not args.keep)
        url = server.url
    try:
        t0 = time.monotonic()
        n = load_victoria_json(url, samples)
        print(f"loaded {n:,} series into VictoriaMetrics at {url} [{time.monotonic() - t0:.0f}s]")
        cfg_path = out / "finops-metrics.toml"
        cfg_path.write_text(metrics_config(spans_cfg, url))
        for stale in ("finops-metrics.duckdb", "finops-metrics.duckdb.wal"):
            (out / stale).unlink(missing_ok=True)
        estimates = {}
        for label, path in (("spans", out / "finops.toml"), ("metrics", cfg_path)):
            config = load_config(path)
            config.warehouse.unlink(missing_ok=True)
            config.warehouse.with_suffix(".duckdb.wal").unlink(missing_ok=True)
            pulled = api.pull(config, window)
            for s in pulled.sources:
                print(f"  {label}: {s.name}: {s.error or f'{s.rows:,} rows'}")
                if s.kind == "prometheus":
                    for note in s.notes:
                        print(f"    note: {note}")
            if pulled.failed:
                return 3
            estimates[label] = api.report(config, window)
        rep = estimates["metrics"]
        paths = write_report(rep, out / "reports-metrics", fmt="table")
        for label, r in estimates.items():
            print(f"{label:8} estimated {r.estimated_total:>12,.2f} {r.currency}, billed {r.billed_total:,.2f}, "
                  f"drift {r.drift_pct:+.2f} %, explained: "
                  + ", ".join(f"{k} {v:+,.2f}" for k, v in r.explanation.items() if v))
        print(f"report: {paths[0]}\nconfig: {cfg_path}")
    finally:
        if server and not args.keep:
            server.stop()
        elif server:
            print(f"VictoriaMetrics left running at {url} (pid {server.proc.pid})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
