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
