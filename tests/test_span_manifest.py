"""The otlp_files manifest: a pull reads only new or changed files and re-loads only their days.

Every case is checked against the plain answer: a fresh warehouse pulling the same files
from scratch must hold the same usage rows.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest
from otel_helpers import collector_lines, llm_span, write_lines

from finops.api.pull import load_config, pull
from finops.errors import ExitCode
from finops.windows import month_window

OCT = month_window("2026-10")


def _config(root: Path, prices_dir: Path, warehouse: str = "w.duckdb") -> Path:
    (root / "spans").mkdir(exist_ok=True)
    cfg = root / f"finops-{warehouse}.toml"
    cfg.write_text(f"""
[warehouse]
path = "{warehouse}"
[pricing]
dir = "{prices_dir}"
[reconcile]
today = 2026-11-23
[[sources]]
name = "spans"
kind = "otlp_files"
paths = ["spans/*.jsonl*"]
allow_empty = true
""")
    return cfg


def lines(day: int, tokens: int, n: int = 1, team: str = "search") -> list[bytes]:
    return collector_lines([llm_span(f"2026-10-{day:02d}T12:00:00Z", input_tokens=tokens,
                                     resource={"team.id": team}) for _ in range(n)])


def usage(root: Path, warehouse: str = "w.duckdb") -> list[tuple]:
    con = duckdb.connect(str(root / warehouse), read_only=True)
    try:
        return con.execute("SELECT day, team, requests, input_tokens FROM usage_daily "
                           "ORDER BY ALL").fetchall()
    finally:
        con.close()


def manifest(root: Path) -> dict[str, tuple]:
    con = duckdb.connect(str(root / "w.duckdb"), read_only=True)
    try:
        return {Path(p).name: (status, day_lo, day_hi, note) for p, status, day_lo, day_hi, note in
                con.execute("SELECT path, status, day_lo, day_hi, note FROM span_files").fetchall()}
    finally:
        con.close()


class Pulls:
    """Pull the month with the manifest; check the rows against a fresh full pull."""

    def __init__(self, root: Path, prices_dir: Path) -> None:
        self.root, self.prices = root, prices_dir
        self.cfg = _config(root, prices_dir)
        self.fresh = 0

    def __call__(self, expect_code: int = ExitCode.OK):
        res = pull(load_config(self.cfg), OCT)
        src = res.sources[0]
        assert res.exit_code == expect_code, src.error
        if expect_code == ExitCode.OK:
            self.fresh += 1
            name = f"fresh{self.fresh}.duckdb"
            full = pull(load_config(_config(self.root, self.prices, name)), OCT)
            assert not full.failed, full.sources[0].error
            assert usage(self.root) == usage(self.root, name)
        return src


@pytest.fixture
def pulls(tmp_path, prices_dir) -> Pulls:
    return Pulls(tmp_path, prices_dir)


def test_a_re_run_reads_nothing_and_keeps_the_rows(pulls, tmp_path):
    write_lines(tmp_path / "spans" / "a.jsonl", lines(1, 100, 3))
    write_lines(tmp_path / "spans" / "b.jsonl.gz", lines(2, 50))
    first = pulls()
    assert first.stats["files"] == 2
    again = pulls()
    assert again.stats["files"] == 0 and again.stats["files_unchanged"] == 2
    assert any("nothing new" in n for n in again.notes)
    assert usage(tmp_path) == [(OCT.window_start, "search", 3, 300),
                               (OCT.window_start.replace(day=2), "search", 1, 50)]


def test_a_new_file_is_read_alone_and_its_days_added(pulls, tmp_path):
    write_lines(tmp_path / "spans" / "a.jsonl", lines(1, 100))
    pulls()
    write_lines(tmp_path / "spans" / "b.jsonl", lines(5, 7))
    got = pulls()
    assert got.stats["files"] == 1  # a.jsonl holds no day of b.jsonl: not read again
    assert [r[3] for r in usage(tmp_path)] == [100, 7]


def test_a_changed_file_is_re_read_with_every_file_sharing_its_days(pulls, tmp_path):
    a = write_lines(tmp_path / "spans" / "a.jsonl", lines(1, 100))
    write_lines(tmp_path / "spans" / "b.jsonl", lines(1, 10) + lines(3, 1))
    write_lines(tmp_path / "spans" / "c.jsonl", lines(9, 1000))
    pulls()
    with a.open("ab") as f:
        f.write(lines(1, 5)[0] + b"\n")
    got = pulls()
    assert got.stats["files"] == 2  # a changed; b shares its day; c does not
    assert usage(tmp_path)[0][2:] == (3, 115)


def test_a_duplicate_span_in_an_unchanged_file_stays_counted_once(pulls, tmp_path):
    same = lines(1, 100)
    write_lines(tmp_path / "spans" / "a.jsonl", same)
    pulls()
    write_lines(tmp_path / "spans" / "b.jsonl", same + lines(1, 1))  # a retry, and one more span
    got = pulls()
    assert got.stats["duplicates"] == 1
    assert usage(tmp_path) == [(OCT.window_start, "search", 2, 101)]


def test_a_deleted_file_takes_its_spans_with_it(pulls, tmp_path):
    write_lines(tmp_path / "spans" / "a.jsonl", lines(1, 100))
    b = write_lines(tmp_path / "spans" / "b.jsonl", lines(1, 10) + lines(2, 20))
    pulls()
    b.unlink()
    got = pulls()
    assert got.stats["files"] == 1  # a.jsonl, for the day the two shared
    assert usage(tmp_path) == [(OCT.window_start, "search", 1, 100)]


def test_a_renamed_file_is_not_read_again_nor_counted_twice(pulls, tmp_path):
    a = write_lines(tmp_path / "spans" / "a.jsonl", lines(1, 100))
    pulls()
    a.rename(tmp_path / "spans" / "a-rotated.jsonl")
    got = pulls()
    assert got.stats["files"] == 0
    assert usage(tmp_path) == [(OCT.window_start, "search", 1, 100)]
    assert manifest(tmp_path)["a-rotated.jsonl"][0] == "read"
    shutil.copy(tmp_path / "spans" / "a-rotated.jsonl", tmp_path / "spans" / "a-copy.jsonl")
    got = pulls()
    assert got.stats["files"] == 0
    assert usage(tmp_path) == [(OCT.window_start, "search", 1, 100)]
    statuses = {k: v[0] for k, v in manifest(tmp_path).items()}
    assert statuses == {"a-copy.jsonl": "read", "a-rotated.jsonl": "same_content"}  # name order


def test_a_corrupt_file_outside_the_window_is_a_warning_with_file_and_line(pulls, tmp_path):
    write_lines(tmp_path / "spans" / "a.jsonl", lines(1, 100))
    old = write_lines(tmp_path / "spans" / "sept.jsonl", collector_lines(
        [llm_span("2026-09-20T12:00:00Z")]) + [b'{"resourceSpans": [', b"{}"])
    os.utime(old, (0, os.stat(old).st_mtime))  # written lately (a copy): read, not skipped by age
    got = pulls()
    assert any(n.startswith(f"warning: {old}:2: not a valid OTLP JSON line") for n in got.notes), got.notes
    assert usage(tmp_path) == [(OCT.window_start, "search", 1, 100)]
    assert manifest(tmp_path)["sept.jsonl"][0] == "corrupt"


def test_a_corrupt_file_with_spans_in_the_window_fails_the_source(pulls, tmp_path):
    bad = write_lines(tmp_path / "spans" / "a.jsonl", lines(1, 100) + [b'{"resourceSpans": ['])
    write_lines(tmp_path / "spans" / "b.jsonl", lines(2, 1))
    os.utime(bad, (1_791_936_000, 1_791_936_000))  # b.jsonl is the newest
    got = pulls(ExitCode.DATA)
    assert f"{bad}:2: not a valid OTLP JSON line" in got.error


def test_a_file_modified_before_the_window_is_not_read(pulls, tmp_path):
    write_lines(tmp_path / "spans" / "a.jsonl", lines(1, 100))
    old = write_lines(tmp_path / "spans" / "aug.jsonl", [b"not json at all"])
    t = 1_756_684_800  # 2025-09-01
    os.utime(old, (t, t))
    got = pulls()
    assert got.stats["files"] == 1 and got.stats["files_old"] == 1
    assert manifest(tmp_path)["aug.jsonl"][0] == "old"


def test_the_newest_files_incomplete_last_line_waits_for_the_next_run(pulls, tmp_path):
    a = write_lines(tmp_path / "spans" / "a.jsonl", lines(1, 100))
    os.utime(a, (1_791_936_000, 1_791_936_000))
    done, half = lines(2, 10)[0], lines(2, 20)[0]
    live = tmp_path / "spans" / "live.jsonl"
    live.write_bytes(done + b"\n" + half[: len(half) // 2])
    got = pulls()
    assert any(n.startswith(f"{live}:2: incomplete last line") for n in got.notes), got.notes
    assert manifest(tmp_path)["live.jsonl"][0] == "partial"
    day2 = OCT.window_start.replace(day=2)
    assert (day2, "search", 1, 10) in usage(tmp_path)  # never half-counted
    live.write_bytes(done + b"\n" + half + b"\n")
    got = pulls()
    assert got.stats["files"] == 1
    assert (day2, "search", 2, 30) in usage(tmp_path)
    assert manifest(tmp_path)["live.jsonl"][0] == "read"


def test_a_truncated_gzip_being_written_is_partial_and_an_old_one_fails(pulls, tmp_path):
    import gzip
    data = gzip.compress(b"".join(x + b"\n" for x in lines(3, 10) + lines(3, 20)))
    live = tmp_path / "spans" / "live.jsonl.gz"
    live.write_bytes(data[:-12])  # the stream's end not yet written
    got = pulls()
    assert any(n.startswith(f"{live}") and ("unreadable end" in n or "incomplete" in n)
               for n in got.notes), got.notes
    assert manifest(tmp_path)["live.jsonl.gz"][0] == "partial"
    write_lines(tmp_path / "spans" / "newer.jsonl", lines(4, 1))  # now live.jsonl.gz is not the newest
    os.utime(live, (1_791_936_000, 1_791_936_000))
    got = pulls(ExitCode.DATA)
    assert got.error.startswith(f"{live}")
    assert "incomplete last line (no newline) and not the newest" in got.error or (
        "cannot read: Compressed file ended" in got.error)


def test_a_changed_attribute_mapping_re_reads_every_day(pulls, tmp_path):
    write_lines(tmp_path / "spans" / "a.jsonl", lines(1, 100, team="search"))
    assert pulls().stats["files"] == 1
    assert pulls().stats["files"] == 0
    text = pulls.cfg.read_text().replace("[[sources]]", '[attributes]\nteam = ["no.such.key"]\n[[sources]]')
    pulls.cfg.write_text(text)
    res = pull(load_config(pulls.cfg), OCT).sources[0]
    assert res.error is None and res.stats["files"] == 1
    assert usage(tmp_path) == [(OCT.window_start, "unattributed", 1, 100)]
