"""Organisation-scale benchmark (``make bench-org``): reconcile, report, gate, anomalies and the
FOCUS export on warehouses of 20, 100, 500 and 2,000 teams, each checked to the cent.

A generator (below) writes a month of canonical usage and billing rows for N teams (each team
3 of 30 priced models, 5 features, 2 projects; 52 accounts: 48 serving teams, half of them
named on the spans and half pooled, 2 owned by account rules, 2 unattributed; batch tier, web
search charges, a credit per provider, OpenAI request counts, budgets for 10 teams). The rows go
into a DuckDB file through finops' own window loader (``replace_window``), then every command
runs as ``finops`` would (a fresh interpreter, the package byte-compiled as an install has it),
and the benchmark records wall time, CPU seconds (user + system, from ``wait4``) and peak RSS.

Correctness at every size: Σ teams = the billed total to the cent, per provider; each
provider's billed total and estimate equal a reference computed here from the generated frames
(polars and Decimal, not finops' SQL); the FOCUS file's BilledCost sums to the same total.

Targets (exit 1 on a miss): at 500 teams reconcile ≤ 2 s and report / gate from stored results
≤ 1 s; at 2,000 teams reconcile ≤ 5 s, the FOCUS export ≤ 10 s, peak memory ≤ 500 MB for every
command; CPU seconds per usage row at 2,000 teams at most 1.25× those at 500 (linear); a year's
warehouse at 500 teams ≤ 300 MB.

``--baseline-src DIR`` (``make bench-org BASELINE=main``) runs the same commands with another
checkout's code (``git archive`` of a ref) on warehouses it loads itself, in the same run, and
prints before / after. The machine is shared: each figure is the best of ``--repeat`` runs, and
CPU seconds are printed beside wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# polars (imported below) writes its allocator settings into this process's environment; the
# measured commands get the operator's, as a cron job would, not this benchmark's
ALLOCATOR = "_RJEM_MALLOC_CONF"
OPERATOR_ALLOCATOR = os.environ.get(ALLOCATOR)

MONTH = "2026-10"
TODAY = date(2026, 11, 23)
SIZES = (20, 100, 500, 2000)
YEAR_TEAMS = 500
YEAR_MONTHS = [f"{y}-{m:02d}" for y, m in [(2025, 11), (2025, 12)] + [(2026, m) for m in range(1, 11)]]

TARGETS = {  # (teams, what) -> seconds / MB
    (500, "reconcile"): 2.0,
    (500, "report"): 1.0,
    (500, "gate"): 1.0,
    (2000, "reconcile"): 5.0,
    (2000, "focus"): 10.0,
}
MAX_PEAK_MB = 500  # every command at 2,000 teams
MAX_YEAR_MB = 300
MAX_PER_ROW_GROWTH = 1.25  # CPU s per usage row, 2,000 teams vs 500

OPENAI_MODELS = ["gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14", "gpt-4.1-nano-2025-04-14",
                 "gpt-4o-2024-08-06", "gpt-4o-2024-11-20", "gpt-4o-mini-2024-07-18",
                 "o3-2025-04-16", "o4-mini-2025-04-16", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano",
                 "gpt-4o", "gpt-4o-mini", "o3", "o4-mini"]
ANTHROPIC_MODELS = ["claude-3-5-haiku-20241022", "claude-haiku-4-5-20251001", "claude-opus-4-1-20250805",
                    "claude-opus-4-20250514", "claude-opus-4-5-20251101", "claude-sonnet-4-20250514",
                    "claude-sonnet-4-5-20250929", "claude-3-5-haiku-latest", "claude-haiku-4-5",
                    "claude-opus-4-0", "claude-opus-4-1", "claude-opus-4-5", "claude-opus-4-6",
                    "claude-sonnet-4-0", "claude-sonnet-4-5"]
SERVING = 24  # accounts per provider that serve teams
FEATURES = ["chat", "search", "summarise", "classify", "extract", "agent", "translate", "rerank"]
TOKENS = {"input_tokens": "input", "cache_read_tokens": "cache_read",
          "cache_write_tokens": "cache_write", "output_tokens": "output"}
RULE_ACCOUNTS = [("openai", "proj_rules_a", 0), ("anthropic", "wrkspc_rules_b", 1)]
ORPHAN_ACCOUNTS = [("openai", "proj_orphan"), ("anthropic", "wrkspc_orphan")]
BUDGET_TEAMS = 10
MICRO = Decimal("0.000001")
CENT = Decimal("0.01")


def team_name(i: int) -> str:
    return f"team-{i:04d}"


def month_days(month: str) -> list[date]:
    y, m = map(int, month.split("-"))
    d = date(y, m, 1)
    out = []
    while d.month == m:
        out.append(d)
        d += timedelta(days=1)
    return out


# --- generation ----------------------------------------------------------------------------

def _price_table(months: list[str]):
    """Exact-match list prices per (provider, model, tier, token type) with their periods."""
    import polars as pl

    from finops.warehouse.prices import load_prices

    p = load_prices().filter(pl.col("match_kind") == "exact",
                             pl.col("model_match").is_in(OPENAI_MODELS + ANTHROPIC_MODELS))
    return p.select("provider", pl.col("model_match").alias("model"), "service_tier", "token_type",
                    "usd_per_mtok", "effective_from", "effective_to")


def _price_at(prices, day: date) -> dict[tuple[str, str, str, str], Decimal]:
    out = {}
    for r in prices.iter_rows(named=True):
        if r["effective_from"] <= day and (r["effective_to"] is None or day < r["effective_to"]):
            out[(r["provider"], r["model"], r["service_tier"], r["token_type"])] = r["usd_per_mtok"]
    return out


@dataclass
class Team:
    name: str
    models: list[tuple[str, str]]  # (provider, model)
    features: list[str]
    accounts: dict[str, str]  # provider -> billed account
    named: bool  # spans name the account
    batch: set[str] = field(default_factory=set)  # models used on the batch tier


def org(teams: int, prices) -> list[Team]:
    rng = random.Random(1000 + teams)
    batchable = {(r["provider"], r["model"]) for r in prices.iter_rows(named=True) if r["service_tier"] == "batch"}
    out = []
    for i in range(teams):
        k = i % SERVING
        primary = "openai" if i % 3 else "anthropic"
        pool_a = OPENAI_MODELS if primary == "openai" else ANTHROPIC_MODELS
        pool_b = ANTHROPIC_MODELS if primary == "openai" else OPENAI_MODELS
        models = [(primary, m) for m in rng.sample(pool_a, 2)]
        models.append(("anthropic" if primary == "openai" else "openai", rng.choice(pool_b)))
        t = Team(team_name(i), models, rng.sample(FEATURES, 5),
                 {"openai": f"proj_{k:02d}", "anthropic": f"wrkspc_{k:02d}"}, named=(k % 2 == 0))
        t.batch = {m for p, m in models if (p, m) in batchable and rng.random() < 0.25}
        out.append(t)
    return out


def generate_month(teams: list[Team], month: str, prices, seed: int):
    """(usage, billing) frames for ``month`` in finops' canonical schemas."""
    import polars as pl

    from finops.schemas import BILLING_SCHEMA, USAGE_SCHEMA

    rng = random.Random(seed)
    usage = []
    for day in month_days(month):
        for t in teams:
            for provider, model in t.models:
                for fi, feature in enumerate(t.features):
                    if rng.random() > 0.65:
                        continue
                    scale = rng.choice((1, 1, 3, 10))
                    req = rng.randint(5, 400) * scale
                    inp = req * rng.randint(200, 3000)
                    cr = inp // rng.randint(2, 8) if rng.random() < 0.6 else 0
                    cw = inp // rng.randint(10, 30) if provider == "anthropic" and rng.random() < 0.4 else 0
                    out = req * rng.randint(50, 900)
                    usage.append({
                        "day": day, "provider": provider, "account": t.accounts[provider] if t.named else "",
                        "model": model, "service_tier": "batch" if model in t.batch and fi == 0 else "standard",
                        "team": t.name, "project": f"{t.name}-p{fi % 2}", "feature": feature, "source": "spans",
                        "requests": req, "input_tokens": inp, "cache_read_tokens": cr, "cache_write_tokens": cw,
                        "output_tokens": out, "reasoning_tokens": out // 3 if model.startswith("o") else 0})
    u = pl.DataFrame(usage, schema=USAGE_SCHEMA)

    # The bill: what the spans saw, billed to each team's account, ±2 % tokens (sampling,
    # mapping), OpenAI's request counts; plus what spans never see.
    owner = {t.name: t.accounts for t in teams}
    acct = pl.DataFrame([{"team": n, "provider": p, "billed_account": a} for n, d in owner.items() for p, a in d.items()])
    cells = (u.join(acct, on=["team", "provider"])
             .group_by("day", "provider", "billed_account", "model", "service_tier")
             .agg(*[pl.col(c).sum() for c in (*TOKENS, "requests")])
             .sort("day", "provider", "billed_account", "model", "service_tier"))
    billing = []
    price_cache: dict[date, dict] = {}
    for r in cells.iter_rows(named=True):
        day = r["day"]
        table = price_cache.get(day) or price_cache.setdefault(day, _price_at(prices, day))
        first = True
        for col, tt in TOKENS.items():
            tokens = r[col]
            if not tokens:
                continue
            price = table.get((r["provider"], r["model"], r["service_tier"], tt))
            if price is None and tt == "cache_write":
                price = table.get((r["provider"], r["model"], r["service_tier"], "input"))
            if price is None:
                continue
            billed_tokens = int(tokens * (1 + rng.uniform(-0.02, 0.01)))
            amount = (Decimal(billed_tokens) * price / 1_000_000).quantize(MICRO, ROUND_HALF_UP)
            billing.append({
                "day": day, "provider": r["provider"], "account": r["billed_account"], "model": r["model"],
                "service_tier": r["service_tier"], "token_type": tt, "source": f"{r['provider']}-bill",
                "line_item": f"{r['model']}, {tt}", "amount": amount, "currency": "USD",
                "billed_tokens": billed_tokens,
                "billed_requests": int(r["requests"] * (1 + rng.uniform(-0.03, 0.0)))
                if r["provider"] == "openai" and first else None, "premium": None})
            first = False
    for day in month_days(month):
        for provider, account, _ in RULE_ACCOUNTS:
            model = OPENAI_MODELS[0] if provider == "openai" else ANTHROPIC_MODELS[5]
            billing.append({"day": day, "provider": provider, "account": account, "model": model,
                            "service_tier": "standard", "token_type": "output", "source": f"{provider}-bill",
                            "line_item": f"{model}, output", "amount": Decimal(rng.randint(500, 5000)) / 100,
                            "currency": "USD", "billed_tokens": None, "billed_requests": None, "premium": None})
        for provider, account in ORPHAN_ACCOUNTS:
            model = OPENAI_MODELS[3] if provider == "openai" else ANTHROPIC_MODELS[1]
            billing.append({"day": day, "provider": provider, "account": account, "model": model,
                            "service_tier": "standard", "token_type": "input", "source": f"{provider}-bill",
                            "line_item": f"{model}, input", "amount": Decimal(rng.randint(100, 900)) / 100,
                            "currency": "USD", "billed_tokens": None, "billed_requests": None, "premium": None})
        if day.weekday() < 5:
            for k in range(0, SERVING, 4):
                billing.append({"day": day, "provider": "openai", "account": f"proj_{k:02d}", "model": "",
                                "service_tier": "standard", "token_type": "other", "source": "openai-bill",
                                "line_item": "web search tool calls", "amount": Decimal(rng.randint(40, 400)) / 100,
                                "currency": "USD", "billed_tokens": None, "billed_requests": None, "premium": None})
    for provider in ("openai", "anthropic"):
        day = month_days(month)[13]
        billing.append({"day": day, "provider": provider, "account": "default", "model": "",
                        "service_tier": "standard", "token_type": "other", "source": f"{provider}-bill",
                        "line_item": f"Credit: service incident {day}", "amount": Decimal(-25 * len(teams)) / 10,
                        "currency": "USD", "billed_tokens": None, "billed_requests": None, "premium": None})
    b = pl.DataFrame(billing, schema=BILLING_SCHEMA)
    return u, b


def reference(usage, billing, prices) -> dict:
    """The month's totals computed here, independently of finops' SQL: billed per provider (Σ
    amounts, rounded half up to the cent as a provider rounds its invoice) and the estimate
    (Σ tokens × the list price in force that day), as decimal strings."""
    import polars as pl

    billed: dict[str, Decimal] = {}
    for p, a in billing.group_by("provider").agg(pl.col("amount").sum()).iter_rows():
        billed[p] = Decimal(a).quantize(CENT, ROUND_HALF_UP)
    long = usage.unpivot(index=["day", "provider", "model", "service_tier"], on=list(TOKENS),
                         variable_name="col", value_name="tokens").filter(pl.col("tokens") > 0)
    long = long.with_columns(pl.col("col").replace_strict(TOKENS).alias("token_type"))
    sums = long.group_by("day", "provider", "model", "service_tier", "token_type").agg(pl.col("tokens").sum())
    est: dict[str, Decimal] = {}
    tables: dict[date, dict] = {}
    for r in sums.iter_rows(named=True):
        table = tables.get(r["day"]) or tables.setdefault(r["day"], _price_at(prices, r["day"]))
        key = (r["provider"], r["model"], r["service_tier"], r["token_type"])
        price = table.get(key)
        if price is None and r["token_type"] == "cache_write" and r["provider"] == "openai":
            price = table.get((*key[:3], "input"))
        if price is None:  # unpriced (a model before its release, a tier without that type): no estimate
            continue
        est[r["provider"]] = est.get(r["provider"], Decimal(0)) + Decimal(r["tokens"]) * price / 1_000_000
    return {"billed": {p: str(v) for p, v in sorted(billed.items())},
            "estimated": {p: str(v.quantize(CENT, ROUND_HALF_UP)) for p, v in sorted(est.items())},
            "usage_rows": usage.height, "billing_rows": billing.height}


def write_config(folder: Path, teams: list[Team]) -> Path:
    lines = ['currency = "USD"', "", "[warehouse]", 'path = "finops.duckdb"', "",
             "[reconcile]", f"today = {TODAY.isoformat()}", ""]
    rules = {team_name(i): (p, a) for p, a, i in RULE_ACCOUNTS}
    for i, t in enumerate(teams[:max(BUDGET_TEAMS, 2)]):
        lines.append(f'[teams."{t.name}"]')
        if i < BUDGET_TEAMS:
            lines.append(f"budget_usd = {2000 + 500 * i}")
        if t.name in rules:
            p, a = rules[t.name]
            lines.append(f'accounts = [{{provider = "{p}", account = "{a}"}}]')
        lines.append("")
    path = folder / "finops.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def generate(out: Path, teams: int, months: list[str]) -> Path:
    """Write the frames (parquet), the reference totals and the config of ``teams``; reused when present."""
    folder = out / f"gen-{teams}-{len(months)}m"
    done = folder / "reference.json"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    prices = _price_table(months)
    people = org(teams, prices)
    refs = {}
    for i, month in enumerate(months):
        u, b = generate_month(people, month, prices, seed=teams * 100 + i)
        u.write_parquet(folder / f"usage-{month}.parquet")
        b.write_parquet(folder / f"billing-{month}.parquet")
        refs[month] = reference(u, b, prices)
    write_config(folder, people)
    done.write_text(json.dumps(refs, indent=1), encoding="utf-8")
    return folder


# --- running finops (either checkout) ------------------------------------------------------

LOADER = r"""
import sys, time
from datetime import date
from pathlib import Path
import polars as pl
from finops.warehouse import open_warehouse
from finops.warehouse.load import replace_window
gen, db = Path(sys.argv[1]), Path(sys.argv[2])
t0 = time.perf_counter()
with open_warehouse(db, "pull") as con:
    for month in sys.argv[3:]:
        y, m = map(int, month.split("-"))
        start, end = date(y, m, 1), date(y + m // 12, m % 12 + 1, 1)
        u = pl.read_parquet(gen / f"usage-{month}.parquet")
        b = pl.read_parquet(gen / f"billing-{month}.parquet")
        replace_window(con, "usage", "spans", start, end, u, providers=["openai", "anthropic"])
        for src in ("openai-bill", "anthropic-bill"):
            part = b.filter(pl.col("source") == src)
            replace_window(con, "billing", src, start, end, part, providers=[src.split("-")[0]])
print(f"{time.perf_counter() - t0:.2f}")
"""


@dataclass
class Measured:
    wall: float
    cpu: float
    peak_mb: float
    code: int
    out: str = ""
    err: str = ""


# A small launcher forks the measured interpreter and reports its rusage on a pipe. Linux keeps
# the largest RSS of an exec'ing process in ru_maxrss, so a child exec'd straight from this
# (large) benchmark process would report the benchmark's own memory as its peak; a fork of the
# small launcher starts from the launcher's few MB.
LAUNCHER = r"""
import os, sys, time
t0 = time.perf_counter()
fd = int(sys.argv[1])
pid = os.fork()
if pid == 0:
    os.close(fd)
    os.execv(sys.argv[2], sys.argv[2:])
_, status, ru = os.wait4(pid, 0)
wall, cpu, code = time.perf_counter() - t0, ru.ru_utime + ru.ru_stime, os.waitstatus_to_exitcode(status)
os.write(fd, f"{wall} {cpu} {ru.ru_maxrss} {code}".encode())
"""


def run(src: Path, args: list[str], cwd: Path, *, code: str | None = None) -> Measured:
    """Run ``finops args`` (or a Python snippet) from checkout ``src`` in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "200"}
    env.pop(ALLOCATOR, None)
    if OPERATOR_ALLOCATOR is not None:
        env[ALLOCATOR] = OPERATOR_ALLOCATOR
    prog = code if code is not None else "from finops.cli import main; main()"
    out_f, err_f = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    r, w = os.pipe()
    cmd = [sys.executable, "-c", LAUNCHER, str(w), sys.executable, "-c", prog, *args]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out_f, stderr=err_f, pass_fds=(w,))
    os.close(w)
    with os.fdopen(r) as fh:
        report = fh.read().split()
    proc.wait()
    if len(report) != 4:
        raise SystemExit(f"bench: the launcher of {' '.join(args)} failed ({proc.returncode})")
    wall, cpu, maxrss, code_ = float(report[0]), float(report[1]), int(report[2]), int(report[3])
    out_f.seek(0)
    err_f.seek(0)
    return Measured(wall, cpu, maxrss / 1024, code_,
                    out_f.read().decode("utf-8", "replace"), err_f.read().decode("utf-8", "replace"))


def best(src: Path, args: list[str], cwd: Path, repeat: int, ok: tuple[int, ...] = (0, 1)) -> Measured:
    runs = []
    for _ in range(repeat):
        m = run(src, args, cwd)
        if m.code not in ok:
            raise SystemExit(f"bench: finops {' '.join(args)} exited {m.code} in {cwd}:\n{m.err[-3000:]}")
        runs.append(m)
    top = min(runs, key=lambda m: m.wall)
    top.peak_mb = max(m.peak_mb for m in runs)
    return top


def build(src: Path, gen: Path, folder: Path, months: list[str]) -> float:
    """A warehouse in ``folder`` loaded by ``src``'s own loader; returns the load's seconds."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copy(gen / "finops.toml", folder / "finops.toml")
    m = run(src, [str(gen), str(folder / "finops.duckdb"), *months], folder, code=LOADER)
    if m.code != 0:
        raise SystemExit(f"bench: loading {gen} with {src} failed:\n{m.err[-3000:]}")
    return float(m.out.strip().splitlines()[-1])


def check_month(folder: Path, ref: dict, report_json: str, focus_csv: Path | None) -> list[str]:
    """Problems with the numbers (empty when right to the cent)."""
    import csv

    problems = []
    # from the first brace: an older checkout's DuckDB may print its progress bar on stdout first
    rep, _ = json.JSONDecoder().raw_decode(report_json[report_json.index("{"):])
    billed = {p["provider"]: p["billed"] for p in rep["providers"]}
    est = {p["provider"]: str(Decimal(p["estimated"]).quantize(CENT, ROUND_HALF_UP)) for p in rep["providers"]}
    if billed != ref["billed"]:
        problems.append(f"billed per provider {billed} != reference {ref['billed']}")
    if est != ref["estimated"]:
        problems.append(f"estimated per provider {est} != reference {ref['estimated']}")
    total = sum((Decimal(v) for v in ref["billed"].values()), Decimal(0))
    teams = sum((Decimal(t["billed"]) for t in rep["teams"]), Decimal(0))
    if Decimal(rep["billed_total"]) != total or teams != total:
        problems.append(f"billed_total {rep['billed_total']}, Σ teams {teams}, reference {total}")
    for prov, want in ref["billed"].items():
        got = sum((Decimal(b["billed"]) for t in rep["teams"] for b in t["by_provider"] if b["provider"] == prov),
                  Decimal(0))
        if got != Decimal(want):
            problems.append(f"Σ teams of {prov} {got} != billed {want}")
    if focus_csv is not None:
        with focus_csv.open(encoding="utf-8", newline="") as fh:
            focus = sum((Decimal(r["BilledCost"]) for r in csv.DictReader(fh)), Decimal(0))
        if focus != total:
            problems.append(f"FOCUS Σ BilledCost {focus} != billed {total}")
    return problems


# --- the run -------------------------------------------------------------------------------

COMMANDS = {
    "reconcile": ["reconcile", "--month", MONTH],
    "report": ["report", "--month", MONTH, "--format", "json"],
    "report table": ["report", "--month", MONTH],
    "gate": ["gate", "--month", MONTH],
    "anomalies": ["anomalies", "--as-of", "2026-10-31"],
}


def measure_size(src: Path, gen: Path, folder: Path, repeat: int) -> dict:
    ref = json.loads((gen / "reference.json").read_text())[MONTH]
    new = "--force" in run(src, ["reconcile", "--help"], folder.parent).out  # stores results?
    load_s = build(src, gen, folder, [MONTH])
    res: dict = {"rows": ref["usage_rows"], "billing_rows": ref["billing_rows"], "load": load_s}
    # The first reconcile after the load computes; --force makes the repeats compute too.
    first = run(src, COMMANDS["reconcile"], folder)
    if first.code != 0:
        raise SystemExit(f"bench: reconcile failed in {folder}:\n{first.err[-3000:]}")
    res["reconcile_first"] = first
    res["reconcile"] = best(src, COMMANDS["reconcile"] + (["--force"] if new else []), folder, repeat)
    for name in ("report", "report table", "gate", "anomalies"):
        res[name] = best(src, COMMANDS[name], folder, repeat)
    focus = folder / "focus.csv"
    res["focus"] = best(src, ["report", "--month", MONTH, "--format", "focus", "--out", str(focus)], folder,
                        max(1, repeat - 1))
    res["problems"] = check_month(folder, ref, res["report"].out, focus)
    res["size_mb"] = (folder / "finops.duckdb").stat().st_size / 2**20
    if new:
        res["stderr"] = {k: res[k].err.strip().splitlines()[:1] for k in ("reconcile_first", "report", "gate")}
    return res


def measure_year(src: Path, gen: Path, folder: Path) -> dict:
    t0 = time.perf_counter()
    build(src, gen, folder, YEAR_MONTHS)
    for month in YEAR_MONTHS:
        m = run(src, ["reconcile", "--month", month], folder)
        if m.code != 0:
            raise SystemExit(f"bench: reconcile {month} failed:\n{m.err[-3000:]}")
    con_code = ("import duckdb, sys; c = duckdb.connect(sys.argv[1]); c.execute('CHECKPOINT'); "
                "print(c.execute('SELECT count(*) FROM usage_daily').fetchone()[0])")
    run(src, [str(folder / "finops.duckdb")], folder, code=con_code)
    return {"size_mb": (folder / "finops.duckdb").stat().st_size / 2**20, "seconds": time.perf_counter() - t0}


def startup(src: Path, folder: Path, repeat: int) -> dict:
    return {"help": best(src, ["--help"], folder, repeat),
            "empty": best(src, ["report", "--month", "2026-12"], folder, repeat, ok=(3,))}


def baseline_checkout(ref: str, out: Path) -> Path:
    """``git archive`` of ``ref`` (a read-only export: no worktree is touched)."""
    dest = out / f"baseline-{ref.replace('/', '_')}"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def fmt(m: Measured | None) -> str:
    return "-" if m is None else f"{m.wall:6.2f} s {m.cpu:6.2f} cpu {m.peak_mb:5.0f} MB"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="team counts (default 20,100,500,2000)")
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "finops-bench-org")
    ap.add_argument("--repeat", type=int, default=3, help="runs per command; the best wall time counts")
    ap.add_argument("--baseline", help="a git ref (e.g. main) whose code runs the same commands for before/after")
    ap.add_argument("--no-year", action="store_true", help="skip the year's warehouse at 500 teams")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    args.out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))

    t0 = time.perf_counter()
    gens = {n: generate(args.out, n, [MONTH]) for n in sizes}
    year_gen = None if args.no_year else generate(args.out, YEAR_TEAMS, YEAR_MONTHS)
    print(f"generated in {time.perf_counter() - t0:.0f} s ({args.out}); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)

    base_src = baseline_checkout(args.baseline, args.out) if args.baseline else None
    for src in (ROOT, base_src):  # bytecode, as an installed package has it (the runs write none)
        if src is not None:
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(src / "finops")], check=True,
                           stdout=subprocess.DEVNULL)
    results: dict[str, dict] = {"after": {}, "before": {}}
    for n in sizes:
        print(f"{n} teams ...", flush=True)
        results["after"][n] = measure_size(ROOT, gens[n], args.out / f"after-{n}", args.repeat)
        if base_src:
            results["before"][n] = measure_size(base_src, gens[n], args.out / f"before-{n}", args.repeat)
    # start-up: --help, and a report of a month nothing was loaded for (exit 3), on the smallest warehouse
    results["after"]["startup"] = startup(ROOT, args.out / f"after-{sizes[0]}", args.repeat)
    if base_src:
        results["before"]["startup"] = startup(base_src, args.out / f"before-{sizes[0]}", args.repeat)
    if year_gen is not None:
        print(f"a year at {YEAR_TEAMS} teams ...", flush=True)
        results["after"]["year"] = measure_year(ROOT, year_gen, args.out / "after-year")
        if base_src:
            results["before"]["year"] = measure_year(base_src, year_gen, args.out / "before-year")
    return report(results, sizes, base_src is not None)


def report(results: dict, sizes: list[int], with_base: bool) -> int:
    after, before = results["after"], results["before"]
    ok = True
    lines = []

    def check(text: str, passed: bool) -> None:
        nonlocal ok
        lines.append(("PASS " if passed else "FAIL ") + text)
        ok &= passed

    print()
    print(f"{'':18}{'after (this checkout)':40}" + ("before (baseline)" if with_base else ""))
    for what in ("help", "empty"):
        label = {"help": "finops --help", "empty": "report, empty month"}[what]
        print(f"{label:18}{fmt(after['startup'][what]):40}" + (fmt(before['startup'][what]) if with_base else ""))
    for n in sizes:
        a, b = after[n], before.get(n)
        print(f"\n{n} teams: {a['rows']:,} usage rows, {a['billing_rows']:,} billing rows; "
              f"warehouse {a['size_mb']:.0f} MB" + (f" (before {b['size_mb']:.0f} MB)" if b else ""))
        for name in ("reconcile_first", "reconcile", "report", "report table", "gate", "anomalies", "focus"):
            label = {"reconcile_first": "reconcile (new)", "reconcile": "reconcile --force"}.get(name, name)
            print(f"  {label:16}{fmt(a[name]):40}" + (fmt(b[name]) if b else ""))
        for line in a.get("stderr", {}).values():
            if line:
                print(f"    {line[0]}")
        check(f"{n} teams: numbers right to the cent (Σ teams = billed = reference, FOCUS)", not a["problems"])
        for p in a["problems"]:
            lines.append(f"     {p}")
        if b and b["problems"]:
            lines.append(f"note: baseline at {n} teams: {'; '.join(b['problems'])}")
        for (teams, what), limit in TARGETS.items():
            if teams == n:
                check(f"{n} teams: {what} {a[what].wall:.2f} s ≤ {limit} s", a[what].wall <= limit)
        if n == 2000:
            peak = max(a[k].peak_mb for k in ("reconcile", "report", "report table", "gate", "anomalies", "focus"))
            check(f"{n} teams: peak memory {peak:.0f} MB ≤ {MAX_PEAK_MB} MB", peak <= MAX_PEAK_MB)
    if 500 in sizes and 2000 in sizes:
        for what in ("reconcile", "report", "focus"):
            per = [after[n][what].cpu / after[n]["rows"] for n in (500, 2000)]
            check(f"linear: {what} CPU s per usage row at 2,000 / 500 teams = {per[1] / per[0]:.2f} "
                  f"≤ {MAX_PER_ROW_GROWTH}", per[1] / per[0] <= MAX_PER_ROW_GROWTH)
    if "year" in after:
        y = after["year"]["size_mb"]
        extra = f" (before {before['year']['size_mb']:.0f} MB)" if "year" in before else ""
        check(f"a year at {YEAR_TEAMS} teams: warehouse {y:.0f} MB ≤ {MAX_YEAR_MB} MB{extra}", y <= MAX_YEAR_MB)
    print()
    print("\n".join(lines))
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1):
        print(f"note: load average {load:.1f} on {os.cpu_count()} cores: other processes share the CPU; "
              "compare CPU seconds, and the before/after columns of this one run")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
