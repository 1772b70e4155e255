"""Nightly benchmark: a year of retained collector files vs only the files that hold the window.

Writes one span file per day for ``--days`` days (``--spans-per-day`` spans each, the file's
mtime set to the end of its day, as a collector rotating daily leaves them), then measures, in
a fresh process each, ``finops.api.pull`` of a 3-day window:

  first    the first pull on a new warehouse (files modified before the window are not read)
  nightly  the next night: one new day's file appears and the window moves a day
  rerun    the same night again (nothing changed: nothing is read)

each over the whole year ("year") and over only the files that hold the window ("window").
Target (exit 1 if missed): year / window wall time <= 1.5 for first and nightly. Both sides
also load the same rows (checked).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LAST_DAY = date(2026, 10, 31)  # the night measured pulls [LAST_DAY - 2, LAST_DAY + 1)
WINDOW_DAYS = 3
MAX_YEAR_VS_WINDOW = 1.5
TEAMS = [f"team-{i:02d}" for i in range(40)]


def _day_file(path: Path, day: date, n: int, seed: int) -> None:
    from finops.demo.otlp_encode import SPAN_KIND_CLIENT, SpanSpec, encode_request, write_jsonl

    rng = random.Random(seed)
    day0 = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 10**9

    def lines():
        left = n
        while left > 0:
            k = min(left, 20)
            left -= k
            team = rng.choice(TEAMS)
            spans = []
            for _ in range(k):
                start = day0 + rng.randrange(86_400 * 10**9 - 60 * 10**9)
                spans.append(SpanSpec(
                    name="chat", trace_id=rng.getrandbits(128), span_id=rng.getrandbits(64),
                    start_ns=start, end_ns=start + 10**9, kind=SPAN_KIND_CLIENT, attributes={
                        "gen_ai.provider.name": "openai", "gen_ai.response.model": "gpt-4o",
                        "gen_ai.usage.input_tokens": rng.randint(10, 5000),
                        "gen_ai.usage.output_tokens": rng.randint(1, 500),
                        "feature.id": rng.choice(["chat", "search", "agent"])}))
            yield encode_request({"service.name": "api", "team.id": team}, spans)
    write_jsonl(path, lines())
    end = int(datetime(day.year, day.month, day.day, 23, 59, tzinfo=UTC).timestamp())
    os.utime(path, (end, end))


def generate(out: Path, days: int, per_day: int) -> tuple[Path, Path]:
    """``year/`` holds every day's file up to the measured night; ``window/`` only the files
    that hold the measured windows. The measured night's file is written by the runs."""
    year, window = out / "year", out / "window"
    want = {"days": days, "per_day": per_day, "last": str(LAST_DAY), "version": 1}
    stamp = out / "nightly.json"
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return year, window
    for d in (year, window):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    first = LAST_DAY - timedelta(days=days)
    for i in range(days + 1):
        day = first + timedelta(days=i)
        f = year / f"traces-{day}.jsonl"
        _day_file(f, day, per_day, i)
        if day >= LAST_DAY - timedelta(days=WINDOW_DAYS):
            shutil.copy2(f, window / f.name)
    stamp.write_text(json.dumps(want))
    return year, window


def _config(spans: Path, db: Path):
    from finops.config import parse_config
    return parse_config({
        "warehouse": {"path": str(db)},
        "reconcile": {"today": LAST_DAY + timedelta(days=1)},
        "sources": [{"name": "spans", "kind": "otlp_files", "paths": [str(spans / "*.jsonl")],
                     "allow_empty": True}],
    })


def _window(last: date):
    from finops.windows import Window
    return Window(last - timedelta(days=WINDOW_DAYS - 1), last + timedelta(days=1))


def run(kind: str, spans: Path, db: Path) -> dict:
    """One measured pull in this process: ``first`` (the night before), ``nightly``, ``rerun``."""
    from finops.api.pull import pull

    night = LAST_DAY if kind != "first" else LAST_DAY - timedelta(days=1)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    res = pull(_config(spans, db), _window(night))
    wall = time.perf_counter() - t0
    src = res.sources[0]
    if src.error:
        raise SystemExit(f"bench: {kind} pull failed: {src.error}")
    import duckdb
    con = duckdb.connect(str(db), read_only=True)
    total = con.execute("SELECT count(*), sum(requests), sum(input_tokens) FROM usage_daily "
                        "WHERE day >= ? AND day < ?", [_window(night).window_start,
                                                       _window(night).window_end]).fetchone()
    con.close()
    return {"wall": wall, "cpu_own": time.process_time() - cpu0, "files_read": src.stats["files"],
            "files_listed": src.stats.get("files_listed"), "rows": list(total)}


def _measure(kind: str, spans: Path, db: Path) -> dict:
    cmd = [sys.executable, __file__, "--measure", kind, "--spans-dir", str(spans), "--db", str(db)]
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if p.returncode:
        sys.stderr.write(p.stderr)
        raise SystemExit(f"bench: {kind} run failed (exit {p.returncode})")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--spans-per-day", type=int, default=3000)
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "finops-bench-nightly")
    ap.add_argument("--measure", choices=["first", "nightly", "rerun"], help=argparse.SUPPRESS)
    ap.add_argument("--spans-dir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure:
        r = run(args.measure, args.spans_dir, args.db)
        ru = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        r["cpu"] = ru.ru_utime + ru.ru_stime + kids.ru_utime + kids.ru_stime
        print(json.dumps(r))
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    year, window = generate(args.out, args.days, args.spans_per_day)
    n_files = len(list(year.glob("*.jsonl")))
    print(f"{n_files} daily files ({args.spans_per_day:,} spans each) in year/, "
          f"{len(list(window.glob('*.jsonl')))} in window/ (ready in {time.perf_counter() - t0:.1f} s); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    results: dict[str, dict[str, dict]] = {}
    newest = f"traces-{LAST_DAY}.jsonl"
    for side, spans in (("window", window), ("year", year)):
        db = args.out / f"{side}.duckdb"
        db.unlink(missing_ok=True)
        held = args.out / f"held-{side}"
        held.mkdir(exist_ok=True)
        shutil.move(str(spans / newest), held / newest)  # the night before: not yet written
        results[side] = {"first": _measure("first", spans, db)}
        shutil.move(str(held / newest), spans / newest)  # the night: the new day's file
        results[side]["nightly"] = _measure("nightly", spans, db)
        results[side]["rerun"] = _measure("rerun", spans, db)
    ok = True
    print(f"{'run':8} {'side':7} {'wall s':>8} {'cpu s':>7} {'files read':>11} {'listed':>7}  rows")
    for kind in ("first", "nightly", "rerun"):
        for side in ("window", "year"):
            r = results[side][kind]
            print(f"{kind:8} {side:7} {r['wall']:8.2f} {r['cpu']:7.2f} {r['files_read']:11} "
                  f"{r['files_listed']:7}  {r['rows']}")
    for kind in ("first", "nightly"):
        ratio = results["year"][kind]["wall"] / results["window"][kind]["wall"]
        same = results["year"][kind]["rows"] == results["window"][kind]["rows"]
        passed = ratio <= MAX_YEAR_VS_WINDOW and same
        ok &= passed
        print(f"{'PASS' if passed else 'FAIL'} {kind}: year / window = {ratio:.2f} "
              f"(target <= {MAX_YEAR_VS_WINDOW}); same rows: {same}")
    rerun_reads = results["year"]["rerun"]["files_read"]
    ok &= rerun_reads == 0
    print(f"{'PASS' if rerun_reads == 0 else 'FAIL'} rerun reads {rerun_reads} file(s) (target 0)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
