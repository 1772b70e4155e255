"""HTTP requests and bytes for a month of Tempo pushdown, at 10k and 1M spans.

Pushdown asks Tempo for sums, so the number of requests depends on days × tiles ×
(providers, split values) and the bytes on the number of groups: neither grows with spans.
The fake Tempo (tests/fake_tempo.py) holds the spans in memory, generated column-wise.

    .venv/bin/python bench/tempo_requests.py [--spans 10000 1000000] [--version 3.0.3]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_tempo import FakeTempo, start_server, synthetic_frame  # noqa: E402

from finops.config import AttributeMap, SpanSource  # noqa: E402
from finops.sources import tempo  # noqa: E402

MONTH = (date(2026, 10, 1), date(2026, 11, 1))


def measure(spans: int, version: str) -> dict[str, float]:
    """Pull October in pushdown mode from a fake Tempo holding ``spans`` spans."""
    frame = synthetic_frame(spans, MONTH[0], (MONTH[1] - MONTH[0]).days)
    fake = FakeTempo(frame, version=version)
    server = start_server()
    try:
        url = fake.install(server)
        src = SpanSource("bench", "tempo", {"url": url, "mode": "pushdown"})
        t0 = time.perf_counter()
        pulled = tempo.pull(src, AttributeMap.default(), *MONTH)
        seconds = time.perf_counter() - t0
    finally:
        server.stop()
    total = int(pulled.frame["requests"].sum())
    assert total == spans, (total, spans)  # every span counted once
    return {"spans": spans, "requests": pulled.stats["http_requests"],
            "bytes": pulled.stats["http_bytes"], "rows": pulled.frame.height,
            "queries": pulled.stats["queries"], "seconds": seconds}


def main() -> None:
    """Print one line per span count, then whether requests stayed flat."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--version", nargs="+", default=["3.0.3", "2.10.1"])
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    print(f"{'tempo':>7} {'spans':>10} {'requests':>9} {'bytes':>11} {'rows':>6} {'pull s':>7}")
    for version in args.version:
        results = [measure(n, version) for n in args.spans]
        for r in results:
            print(f"{version:>7} {r['spans']:>10,} {r['requests']:>9,} {r['bytes']:>11,} "
                  f"{r['rows']:>6,} {r['seconds']:>7.1f}")
        flat = len({r["requests"] for r in results}) == 1
        print(f"{version:>7} requests independent of span count: {'yes' if flat else 'NO'}")


if __name__ == "__main__":
    main()
