"""Ingest benchmark: OTLP JSON-lines files -> usage_daily rollup -> DuckDB, on several shapes.

For each data shape (:data:`SHAPES`: many or few spans per request line, 40+ teams, team on
the resource or on the span, gzip or plain, non-LLM spans mixed in) generates ``--spans``
spans (several files, mixed providers, models, OpenInference and OTel GenAI conventions,
some exclusive Anthropic counts) as the collector's file exporter writes them, then
measures, each in its own subprocess so each gets its own peak RSS and CPU time:

  ingest    finops ``otlp_file.pull()`` + ``replace_window`` into a new DuckDB file (two workers)
  orjson    baseline: orjson parse of every line (gunzipped), nothing else (one process)
  jsonloop  baseline: stdlib ``json`` loop doing the same rollup (one process; first shape)

Targets (exit 1 if any is missed on any shape): ingest wall <= 1.0x orjson parse-only,
ingest >= 2.5x faster than the json loop, peak memory of the process tree (the parent and its
workers' resident memory summed, sampled every 50 ms) <= 300 MB; the sum of each process's own
peak (an upper bound: the peaks need not coincide) is printed beside it. The load average is printed with the results:
the machine is shared, so wall-clock ratios move with it; CPU seconds are printed too.
Generated files are reused when ``--out`` already holds them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WINDOW_START = date(2026, 10, 1)
WINDOW_END = date(2026, 10, 8)
MAX_INGEST_VS_ORJSON = 1.0
MIN_SPEEDUP_VS_JSONLOOP = 2.5
MAX_PEAK_MB = 300

TEAMS = [f"team-{i:02d}" for i in range(48)]
# name: (spans per line lo..hi, teams, team attribute on "resource" or "span", share of LLM
# spans, gzip)
SHAPES: dict[str, tuple[tuple[int, int], int, str, float, bool]] = {
    "mixed": ((1, 15), 48, "resource", 1.0, False),
    "wide-lines": ((400, 600), 40, "resource", 0.3, False),
    "narrow-gzip": ((1, 2), 40, "span", 1.0, True),
    "traces-gzip": ((10, 30), 44, "span", 0.1, True),
}
FEATURES = ["chat", "summarise", "classify", "extract", "rerank", "agent", "translate"]
OPENAI_MODELS = ["gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "o3-2025-04-16",
                 "gpt-4.1-2025-04-14"]
ANTHROPIC_MODELS = ["claude-sonnet-4-20250514", "claude-3-5-haiku-20241022",
                    "claude-opus-4-1-20250805"]


# --- generation ---------------------------------------------------------------------------

def _gen_file(path: str, n_spans: int, seed: int, shape: str = "mixed") -> int:
    from finops.demo.otlp_encode import (
        SPAN_KIND_CLIENT,
        SPAN_KIND_INTERNAL,
        SpanSpec,
        encode_request,
        write_jsonl,
    )

    (per_lo, per_hi), n_teams, team_level, llm_share, _ = SHAPES[shape]
    teams = TEAMS[:n_teams]

    rng = random.Random(seed)
    day0 = (WINDOW_START.toordinal() - date(1970, 1, 1).toordinal()) * 86_400 * 10**9
    days = (WINDOW_END - WINDOW_START).days

    def lines():
        left = n_spans
        while left > 0:
            k = min(left, rng.randint(per_lo, per_hi))
            left -= k
            team = rng.choice(teams)
            project = f"{team}-{rng.randint(1, 3)}"
            openinference = rng.random() < 0.35
            res = {
                "service.name": f"{project}-api", "service.version": "1.4.2",
                "deployment.environment.name": "prod", "telemetry.sdk.language": "python",
                "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": "1.38.0",
            }
            if team_level == "resource":
                res.update({"team.id": team, "project.id": project})
            spans = []
            for _ in range(k):
                if llm_share < 1.0 and rng.random() >= llm_share:  # an HTTP or database span
                    start = day0 + rng.randrange(days * 86_400 * 10**9)
                    db = rng.random() < 0.5
                    spans.append(SpanSpec(
                        name="SELECT orders" if db else "GET /api/orders",
                        trace_id=rng.getrandbits(128), span_id=rng.getrandbits(64),
                        parent_span_id=rng.getrandbits(64), start_ns=start,
                        end_ns=start + rng.randint(1, 500) * 10**6, kind=SPAN_KIND_INTERNAL,
                        attributes={"db.system.name": "postgresql", "db.namespace": "shop",
                                    "db.query.text": "SELECT * FROM orders WHERE id = $1",
                                    "server.port": 5432} if db else {
                                    "http.request.method": "GET", "url.path": "/api/orders",
                                    "http.response.status_code": 200, "user_agent.original":
                                    "Mozilla/5.0 (X11; Linux x86_64)", "server.port": 8080}))
                    continue
                anthropic = rng.random() < 0.4
                model = rng.choice(ANTHROPIC_MODELS if anthropic else OPENAI_MODELS)
                prompt = rng.randint(50, 20_000)
                cache_read = rng.randint(0, prompt // 2) if rng.random() < 0.5 else 0
                cache_write = rng.randint(0, prompt // 4) if anthropic and rng.random() < 0.2 else 0
                out = rng.randint(5, 2_000)
                reasoning = rng.randint(0, out) if model.startswith("o3") else 0
                if anthropic and rng.random() < 0.1:  # Anthropic's exclusive count
                    prompt = rng.randint(1, 40)
                    cache_read = rng.randint(500, 8000)
                start = day0 + rng.randrange(days * 86_400 * 10**9)
                provider = "anthropic" if anthropic else "openai"
                if openinference:
                    attrs = {
                        "openinference.span.kind": "LLM", "llm.system": provider,
                        "llm.provider": provider, "llm.model_name": model,
                        "llm.invocation_parameters": '{"temperature": 0.2, "max_tokens": 4096}',
                        "llm.token_count.prompt": prompt,
                        "llm.token_count.completion": out,
                        "llm.token_count.total": prompt + out,
                        "llm.token_count.prompt_details.cache_read": cache_read,
                        "llm.token_count.prompt_details.cache_write": cache_write,
                        "llm.token_count.completion_details.reasoning": reasoning,
                        "feature.id": rng.choice(FEATURES),
                        "session.id": f"{rng.getrandbits(64):016x}",
                    }
                else:
                    attrs = {
                        "gen_ai.operation.name": "chat",
                        ("gen_ai.provider.name" if rng.random() < 0.5
                         else "gen_ai.system"): provider,
                        "gen_ai.request.model": model.rsplit("-", 1)[0],
                        "gen_ai.response.model": model,
                        "gen_ai.request.max_tokens": 4096, "gen_ai.request.temperature": 0.2,
                        "gen_ai.response.id": f"resp_{rng.getrandbits(96):024x}",
                        "gen_ai.response.finish_reasons": ["stop"],
                        "gen_ai.usage.input_tokens": prompt,
                        "gen_ai.usage.output_tokens": out,
                        "gen_ai.usage.cache_read.input_tokens": cache_read,
                        "gen_ai.usage.cache_creation.input_tokens": cache_write,
                        "server.address": "api.anthropic.com" if anthropic else "api.openai.com",
                        "feature.id": rng.choice(FEATURES),
                    }
                    if reasoning:
                        attrs["gen_ai.usage.reasoning.output_tokens"] = reasoning
                    if not anthropic and rng.random() < 0.1:
                        attrs["gen_ai.openai.response.service_tier"] = "flex"
                if team_level == "span":
                    attrs["team.id"] = team
                    attrs["project.id"] = project
                spans.append(SpanSpec(
                    name=f"chat {model}", trace_id=rng.getrandbits(128),
                    span_id=rng.getrandbits(64),
                    parent_span_id=rng.getrandbits(64), start_ns=start,
                    end_ns=start + rng.randint(200, 30_000) * 10**6, attributes=attrs,
                    kind=SPAN_KIND_CLIENT))
            yield encode_request(res, spans, scope_name="openinference.instrumentation.openai"
                                 if openinference else "opentelemetry.instrumentation.openai",
                                 scope_version="0.1.18")
    return write_jsonl(path, lines())


def generate(out: Path, n_spans: int, n_files: int, shape: str = "mixed") -> list[str]:
    """Write the span files of ``shape`` (reused if a stamp says they match)."""
    spans_dir = out / shape / "spans"
    manifest = out / shape / "manifest.json"
    # through JSON, as the stamp is read back (tuples become lists)
    want = json.loads(json.dumps({"spans": n_spans, "files": n_files, "version": 3,
                                  "shape": SHAPES[shape]}))
    suffix = ".jsonl.gz" if SHAPES[shape][4] else ".jsonl"
    files = [str(spans_dir / f"traces-{i:02d}{suffix}") for i in range(n_files)]
    if manifest.exists() and json.loads(manifest.read_text()) == want and all(
            os.path.exists(f) for f in files):
        return files
    spans_dir.mkdir(parents=True, exist_ok=True)
    for old in spans_dir.glob("*"):
        old.unlink()
    base, extra = divmod(n_spans, n_files)
    counts = [base + (1 if i < extra else 0) for i in range(n_files)]
    with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        list(pool.map(_gen_file, files, counts, range(n_files), [shape] * n_files))
    manifest.write_text(json.dumps(want))
    return files


# --- the three measured runs ----------------------------------------------------------------

def run_ingest(files: list[str], out: Path) -> dict:
    from finops.config import AttributeMap, SpanSource
    from finops.sources import otlp_file
    from finops.warehouse import connect, replace_window

    db = out / "bench.duckdb"
    for stale in (db, db.with_name(db.name + ".wal")):  # a fresh warehouse: this run's rows only
        stale.unlink(missing_ok=True)
    source = SpanSource("bench", "otlp_files", {"paths": [str(Path(files[0]).parent / "*.jsonl*")]})
    t0 = time.perf_counter()
    pulled = otlp_file.pull(source, AttributeMap.default(), WINDOW_START, WINDOW_END)
    con = connect(db)
    rows = replace_window(con, "usage", "bench", WINDOW_START, WINDOW_END, pulled.frame)
    con.close()
    wall = time.perf_counter() - t0
    f = pulled.frame
    cols = ("requests", "input_tokens", "cache_read_tokens", "cache_write_tokens",
            "output_tokens", "reasoning_tokens")
    totals = [int(f[c].sum()) for c in cols]
    return {"wall": wall, "rows": rows, "totals": totals, "stats": pulled.stats}


def run_jsonloop(files: list[str], out: Path) -> dict:
    from finops.canonical import canonical_provider, canonical_tier, normalise
    from finops.config import DEFAULT_ATTRIBUTES

    fields = DEFAULT_ATTRIBUTES
    dims = ["provider", "model", "account", "service_tier", "team", "project", "feature"]
    toks = ["input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens",
            "reasoning_tokens"]
    lo = WINDOW_START.toordinal() - date(1970, 1, 1).toordinal()
    hi = WINDOW_END.toordinal() - date(1970, 1, 1).toordinal()

    def scalar(v):
        for k in ("stringValue", "intValue", "doubleValue", "boolValue"):
            if k in v:
                return v[k]
        return None

    def lookup(attrs, rattrs, keys):
        for a in (attrs, rattrs):
            for k in keys:
                if k in a:
                    return scalar(a[k])
        return None

    t0 = time.perf_counter()
    rollup: dict = {}
    for path in files:
        with _open(path) as fh:
            for line in fh:
                req = json.loads(line)
                for rs in req.get("resourceSpans", []):
                    rattrs = {kv["key"]: kv["value"]
                              for kv in rs.get("resource", {}).get("attributes", [])}
                    for ss in rs.get("scopeSpans", []):
                        for sp in ss.get("spans", []):
                            attrs = {kv["key"]: kv["value"] for kv in sp.get("attributes", [])}
                            d = {f: lookup(attrs, rattrs, fields[f]) for f in dims}
                            t = [lookup(attrs, rattrs, fields[f]) for f in toks]
                            if d["model"] is None and all(x is None for x in t):
                                continue
                            day = int(sp["startTimeUnixNano"]) // (86_400 * 10**9)
                            if not lo <= day < hi:
                                continue
                            t = [int(x) if x is not None else 0 for x in t]
                            model = d["model"] or "unknown"
                            prov = (canonical_provider(d["provider"]) if d["provider"] else
                                    "anthropic" if "claude" in model else "openai")
                            c = normalise(*t)
                            key = (day, prov, d["account"] or "default", model,
                                   canonical_tier(d["service_tier"]), d["team"] or "unattributed",
                                   d["project"] or "unknown", d["feature"] or "unknown")
                            acc = rollup.setdefault(key, [0] * 6)
                            acc[0] += 1
                            acc[1] += c.input_tokens
                            acc[2] += c.cache_read_tokens
                            acc[3] += c.cache_write_tokens
                            acc[4] += c.output_tokens
                            acc[5] += c.reasoning_tokens
    wall = time.perf_counter() - t0
    totals = [sum(a[i] for a in rollup.values()) for i in range(6)]
    return {"wall": wall, "rows": len(rollup), "totals": totals}


def run_orjson(files: list[str], out: Path) -> dict:
    import orjson

    loads = orjson.loads
    t0 = time.perf_counter()
    n = 0
    for path in files:
        with _open(path) as fh:
            for line in fh:
                loads(line)
                n += 1
    return {"wall": time.perf_counter() - t0, "lines": n}


def _open(path: str):
    import gzip
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


RUNS = {"ingest": run_ingest, "jsonloop": run_jsonloop, "orjson": run_orjson}


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_mb() -> float:
    # ru_maxrss is KiB on Linux. Workers are separate processes: add their peaks (an upper
    # bound of the simultaneous total, since each peak may happen at a different time).
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + kids) / 1024


def _tree_rss_mb(root: int) -> float:
    """Resident memory of ``root`` and all its descendants now (Linux /proc), in MB."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            parent[int(entry)] = int(stat.rsplit(b")", 1)[1].split()[1])
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, ppid in parent.items():
            if ppid == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    pages = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                pages += int(f.read().split()[1])
        except OSError:
            continue
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(name: str, files: list[str], out: Path) -> dict:
    """Run one measurement in a fresh interpreter; returns its result with peak RSS.

    ``tree_mb`` is the peak of the process tree's summed resident memory, sampled every
    50 ms while it runs (workers included); ``peak_mb`` the sum of each process's own peak,
    an upper bound (the peaks need not coincide).
    """
    cmd = [sys.executable, __file__, "--measure", name, "--out", str(out), "--files", *files]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tree = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            tree[0] = max(tree[0], _tree_rss_mb(proc.pid))

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    stdout, stderr = proc.communicate()
    done.set()
    watcher.join()
    if proc.returncode != 0:
        sys.stderr.write(stderr)
        raise SystemExit(f"bench: {name} run failed (exit {proc.returncode})")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["tree_mb"] = tree[0]
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spans", type=int, default=1_000_000, help="spans per shape")
    ap.add_argument("--files", nargs="*", help=argparse.SUPPRESS)
    ap.add_argument("--n-files", type=int, default=8)
    ap.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated, of: " + ", ".join(SHAPES))
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "finops-bench",
                    help="where the span files and the DuckDB file go (kept for re-runs)")
    ap.add_argument("--measure", choices=sorted(RUNS), help=argparse.SUPPRESS)
    ap.add_argument("--skip-jsonloop", action="store_true",
                    help="skip the json-loop baseline (its target is then not checked)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    if args.measure:  # child: run one measurement and print its result as JSON
        result = RUNS[args.measure](args.files, args.out)
        result["peak_mb"] = _peak_mb()
        result["cpu"] = _cpu_seconds()  # includes interpreter start-up and imports
        print(json.dumps(result))
        return 0

    from rich.console import Console
    from rich.table import Table

    # bytecode, as an installed package has it (with PYTHONDONTWRITEBYTECODE each worker would
    # compile the modules it imports again)
    subprocess.run([sys.executable, "-m", "compileall", "-q",
                    str(Path(__file__).resolve().parents[1] / "finops")], check=True,
                   stdout=subprocess.DEVNULL)

    console = Console(stderr=False, width=160)
    shapes = [x for x in args.shapes.split(",") if x]
    for x in shapes:
        if x not in SHAPES:
            raise SystemExit(f"bench: unknown shape {x!r} (one of {', '.join(SHAPES)})")
    loads = [os.getloadavg()[0]]
    table = Table(title=f"ingest benchmark: {args.spans:,} spans per shape, {args.n_files} files "
                        f"(load average at start {loads[0]:.1f} on {os.cpu_count()} cores)")
    for col in ("shape", "MB", "run", "wall s", "cpu s", "tree peak MB", "sum of peaks MB", "spans/s",
                "ingest/orjson"):
        table.add_column(col, justify="left" if col in ("shape", "run") else "right")
    checks: list[tuple[str, bool]] = []
    for i, shape in enumerate(shapes):
        t0 = time.perf_counter()
        files = generate(args.out, args.spans, args.n_files, shape)
        size_mb = sum(os.path.getsize(f) for f in files) / 2**20
        console.print(f"{shape}: {args.spans:,} spans in {len(files)} files, {size_mb:,.0f} MB "
                      f"(ready in {time.perf_counter() - t0:.1f} s); measuring ...")
        results = {name: measure(name, files, args.out) for name in ("orjson", "ingest")}
        if i == 0 and not args.skip_jsonloop:
            results["jsonloop"] = measure("jsonloop", files, args.out)
        loads.append(os.getloadavg()[0])
        ing, orj = results["ingest"], results["orjson"]
        ratio = ing["wall"] / orj["wall"]
        for name in ("ingest", "orjson", "jsonloop"):
            if name in results:
                r = results[name]
                label = {"ingest": f"finops ingest ({ing['stats']['workers']} workers)",
                         "orjson": "orjson parse only", "jsonloop": "json stdlib loop + rollup"}[name]
                table.add_row(shape, f"{size_mb:,.0f}", label, f"{r['wall']:.2f}", f"{r['cpu']:.1f}",
                              f"{r['tree_mb']:.0f}", f"{r['peak_mb']:.0f}", f"{args.spans / r['wall']:,.0f}",
                              f"{ratio:.2f}" if name == "ingest" else "")
        checks.append((f"{shape}: ingest / orjson parse = {ratio:.2f} (target <= "
                       f"{MAX_INGEST_VS_ORJSON}); CPU {ing['cpu']:.1f} s vs {orj['cpu']:.1f} s",
                       ratio <= MAX_INGEST_VS_ORJSON))
        checks.append((f"{shape}: ingest peak (process tree, sampled) = {ing['tree_mb']:.0f} MB for "
                       f"{ing['rows']:,} rows (target <= {MAX_PEAK_MB}; sum of the processes' own "
                       f"peaks {ing['peak_mb']:.0f} MB)", ing["tree_mb"] <= MAX_PEAK_MB))
        jl = results.get("jsonloop")
        if jl:
            speedup = jl["wall"] / ing["wall"]
            checks.append((f"{shape}: json loop / ingest = {speedup:.2f}x (target >= "
                           f"{MIN_SPEEDUP_VS_JSONLOOP})", speedup >= MIN_SPEEDUP_VS_JSONLOOP))
            checks.append((f"{shape}: json loop and ingest totals agree", jl["totals"] == ing["totals"]))
        console.print(f"  stats: {ing['stats']}")
    console.print(table)
    ok = True
    for text, passed in checks:
        console.print(("[green]PASS[/] " if passed else "[red]FAIL[/] ") + text)
        ok &= passed
    console.print(f"load average (1 min) during the runs: {', '.join(f'{x:.1f}' for x in loads)} on "
                  f"{os.cpu_count()} cores" + (" - other processes competed for the CPU: compare "
                                               "the CPU seconds too" if max(loads) > (os.cpu_count() or 1)
                                               else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
