"""The demo's cloud-hosted provider: Amazon Bedrock spans and the AWS FOCUS export billing them.

    make demo      # runs this, then pulls and reports it with demo-out/cloud/finops.toml

Writes ``<out>/spans/``, ``<out>/bills/aws-focus-<month>.csv`` and ``<out>/finops.toml``
(``finops.demo.cloud`` says what the month holds: on-demand calls, a Provisioned Throughput
model shared by two teams, a tagged batch job with no spans, EC2 and S3 on the same bill).
A warehouse left by an earlier run is removed, so the month loads fresh.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from finops.demo.cloud import generate_cloud
from finops.windows import month_window


def main() -> None:
    """Write the cloud month and say what it bills."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("demo-out/cloud"))
    parser.add_argument("--month", default="2026-10")
    args = parser.parse_args()
    for stale in ("finops.duckdb", "finops.duckdb.wal"):
        (args.out / stale).unlink(missing_ok=True)
    demo = generate_cloud(args.out, month_window(args.month))
    print(f"cloud demo: {demo.config} ({len(demo.files)} files; Bedrock billed "
          f"{demo.billed_llm:,.2f} USD, of which provisioned capacity {demo.capacity:,.2f} USD)")


if __name__ == "__main__":
    main()
