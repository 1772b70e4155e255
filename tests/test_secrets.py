"""Keys never appear anywhere: every command runs with real-looking keys in the environment,
including failing pulls whose servers echo the key back, and no key text may reach stdout,
stderr, the warehouse or any file finops writes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest
from fake_billing_servers import FakeOpenAI, loopback, openai_cost
from otel_helpers import write_spans_file

KEYS = {
    "OPENAI_ADMIN_KEY": "sk-admin-Zz9LEAKCANARYopenai0123456789abcdefABCDEF",
    "ANTHROPIC_ADMIN_KEY": "sk-ant-admin01-LEAKCANARYanthropic_0123456789abcdef",
    "TEMPO_TOKEN": "glc_LEAKCANARYtempo0123456789abcdef==",
    "O2_PASSWORD": "LEAKCANARY-openobserve-pass-0123456789",
    "FINOPS_SMTP_PASSWORD": "LEAKCANARY-smtp-pass-0123456789",
}


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for k, v in KEYS.items():
        monkeypatch.setenv(k, v)
    with loopback() as server:
        fake = FakeOpenAI(server, KEYS["OPENAI_ADMIN_KEY"], costs={
            date(2026, 10, d): [openai_cost(2.5, "gpt-4o-2024-08-06, input", None)] for d in range(1, 8)})
        # a second "OpenAI" that rejects our key and echoes it in its error body
        with loopback() as bad_server:
            bad = FakeOpenAI(bad_server, "sk-admin-some-other-key")
            write_spans_file(tmp_path / "spans" / "a.jsonl", [
                {"resource": {"team.id": "search"},
                 "attributes": {"gen_ai.provider.name": "openai",
                                "gen_ai.response.model": "gpt-4o-2024-08-06",
                                "gen_ai.usage.input_tokens": 1_000_000},
                 "start": f"2026-10-0{d}T10:00:00Z"} for d in range(1, 8)])
            cfg = tmp_path / "finops.toml"
            cfg.write_text(f"""
[warehouse]
path = "w.duckdb"
[reconcile]
today = 2026-10-09
[[sources]]
name = "spans"
kind = "otlp_files"
paths = ["spans/*.jsonl"]
[[sources]]
name = "tempo"
kind = "tempo"
url = "http://127.0.0.1:9"
token_env = "TEMPO_TOKEN"
attempts = 1
[[sources]]
name = "o2"
kind = "openobserve"
url = "http://127.0.0.1:9"
org = "default"
stream = "default"
user_env = "TEMPO_TOKEN"
password_env = "O2_PASSWORD"
attempts = 1
[[billing]]
name = "openai"
kind = "openai"
base_url = "{fake.base_url}"
[[billing]]
name = "openai-rejected"
kind = "openai"
base_url = "{bad.base_url}"
attempts = 1
[[billing]]
name = "anthropic"
kind = "anthropic"
base_url = "http://127.0.0.1:9"
attempts = 1
[smtp]
host = "127.0.0.1"
port = 9
security = "none"
username = "finops"
password_env = "FINOPS_SMTP_PASSWORD"
[email]
from = "finops@example.com"
finance = ["finance@example.com"]
[nightly]
out_dir = "nightly"
[teams.search]
leads = ["lead@example.com"]
budget_usd = 100
""")
            yield tmp_path, cfg


def test_no_key_text_anywhere(site, cli):
    root, cfg = site
    c = str(cfg)
    runs = [
        cli("-c", c, "pull", "--start", "2026-10-01", "--end", "2026-10-08"),
        cli("-c", c, "sources", "check"),
        cli("-c", c, "reconcile", "--month", "2026-10"),
        cli("-c", c, "report", "--month", "2026-10"),
        cli("-c", c, "report", "--month", "2026-10", "--format", "json"),
        cli("-c", c, "report", "--month", "2026-10", "--format", "html", "--out", str(root / "out")),
        cli("-c", c, "report", "--month", "2026-10", "--format", "csv", "--out", str(root / "out")),
        cli("-c", c, "report", "--month", "2026-10", "--format", "focus", "--out", str(root / "out" / "f.csv")),
        cli("-c", c, "gate", "--month", "2026-10", "--format", "json"),
        cli("-c", c, "anomalies", "--as-of", "2026-10-07", "--format", "json"),
        cli("-c", c, "pricing", "check"),
        cli("-c", c, "email", "--month", "2026-10", "--dry-run", "--out", str(root / "outbox")),
        cli("-c", c, "email", "--month", "2026-10"),  # the SMTP server is unreachable
        cli("-c", c, "nightly", "--date", "2026-10-09", "--dry-run"),
    ]
    assert runs[0].code == 3  # tempo, o2, the rejected key and anthropic fail; spans and openai load
    assert "openai-rejected" in runs[0].err and "anthropic" in runs[0].err
    texts = [r.out + r.err for r in runs]
    con = duckdb.connect(str(root / "w.duckdb"), read_only=True)
    try:
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            texts.append(str(con.execute(f'SELECT * FROM "{table}"').fetchall()))
    finally:
        con.close()
    files = [p for p in root.rglob("*") if p.is_file() and p.suffix != ".duckdb"
             and "spans" not in p.parts]
    assert any(p.suffix == ".html" for p in files)
    # October is not loaded whole (a week, and tempo/o2 fail): the chargeback emails are refused,
    # with the refusal itself among the texts checked above (no .eml is written).
    assert runs[-3].code == 3 and "chargeback 2026-10 not sent" in runs[-3].err
    assert not any(p.suffix == ".eml" and p.name.startswith("chargeback") for p in files)
    texts += [p.read_bytes().decode("utf-8", "replace") for p in files]
    for name, key in KEYS.items():
        for i, text in enumerate(texts):
            assert key not in text, f"{name} leaked in output #{i}"
            assert "LEAKCANARY" not in text, f"part of {name} leaked in output #{i}"
    # the warehouse file itself, raw bytes (strings may sit uncompressed in blocks)
    raw = (root / "w.duckdb").read_bytes()
    assert b"LEAKCANARY" not in raw
