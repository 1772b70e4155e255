"""The package's shape: the README's code map matches the folders; the library never loads the terminal."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "finops"


def _code_map() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("### Code map", 1)[1].split("\n#", 1)[0]


def test_code_map_names_every_package_and_module_and_nothing_else():
    named = set(re.findall(r"^\| `finops/([^`]+)` \|", _code_map(), re.M))
    present = {p.name + "/" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    present |= {p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    assert named == present, f"missing from the code map: {present - named}; gone: {named - present}"


def test_files_the_code_map_names_inside_packages_exist():
    for row in re.findall(r"^\| `finops/([^`]+/)` \| (.*) \|$", _code_map(), re.M):
        folder, text = row
        for name in re.findall(r"`([a-z_]+(?:\.py|/))`", text):
            assert (PACKAGE / folder / name.rstrip("/")).exists(), f"finops/{folder}{name} is named but absent"


def test_the_library_loads_neither_typer_nor_rich():
    code = ("import sys, finops.api; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'rich', 'click'}))")
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert got.stdout.strip() == "[]"


def test_loading_and_reading_a_window_does_not_import_pyarrow(tmp_path: Path) -> None:
    # pyarrow is 57 MB of resident memory; frames reach DuckDB through the Arrow C stream
    # interface instead, and a pull's load must stay within its memory budget
    code = f"""
import sys, datetime as dt, decimal
import polars as pl
from finops.schemas import BILLING_SCHEMA, USAGE_SCHEMA
from finops.warehouse import connect, replace_window
d0, d1 = dt.date(2026, 10, 1), dt.date(2026, 10, 2)
usage = pl.DataFrame([{{"day": d0, "provider": "openai", "account": "a", "model": "m",
    "service_tier": "standard", "team": "Équipe ☃", "project": "p", "feature": "f", "source": "s",
    "requests": 3, "input_tokens": 2**62, "cache_read_tokens": 0, "cache_write_tokens": 0,
    "output_tokens": 5, "reasoning_tokens": 0, "seen_requests": 3}}], schema=USAGE_SCHEMA)
billing = pl.DataFrame([{{"day": d0, "provider": "openai", "account": "a", "model": "m",
    "service_tier": "standard", "token_type": "input", "source": "b", "line_item": "",
    "amount": decimal.Decimal("12.345678"), "currency": "USD", "billed_tokens": 7,
    "billed_requests": None, "premium": ""}}], schema=BILLING_SCHEMA)
con = connect({str(tmp_path / "w.duckdb")!r})
replace_window(con, "usage", "s", d0, d1, usage)
replace_window(con, "billing", "b", d0, d1, billing)
from finops.warehouse.db import fetch_frame
back = fetch_frame(con, "SELECT team, input_tokens FROM usage_daily WHERE day >= $d", {{"d": d0}})
print("pyarrow" in sys.modules)
print(back.rows())
print(con.sql("SELECT amount::VARCHAR FROM billing_daily").fetchall())
"""
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert got.stdout.splitlines() == [
        "False", f"[('Équipe ☃', {2**62})]", "[('12.345678',)]"], got.stderr
