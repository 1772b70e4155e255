"""Line item text, strict JSON reads, and the billing row accumulator."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from finops.billing.admin_api import SecretHeaders
from finops.billing.lineitems import LineItem, parse_line_item, quantity_tokens
from finops.billing.reader import Reader, read_pages
from finops.billing.rows import Rows
from finops.errors import DataError
from finops.schemas import OTHER, SERVICE_TIERS, TOKEN_TYPES


@pytest.mark.parametrize("text, expected", [
    ("gpt-4o-2024-08-06, input", ("gpt-4o-2024-08-06", "input", "standard")),
    ("gpt-4o-mini-2024-07-18, cached input", ("gpt-4o-mini-2024-07-18", "cache_read", "standard")),
    ("gpt-4.1-2025-04-14, output", ("gpt-4.1-2025-04-14", "output", "standard")),
    ("ft-gpt-4o-2024-08-06, input", ("ft-gpt-4o-2024-08-06", "input", "standard")),
    ("priority | gpt-4.1, input", ("gpt-4.1", "input", "priority")),
    ("flex | o3-2025-04-16, output", ("o3-2025-04-16", "output", "flex")),
    ("gpt-4.1-2025-04-14, input, long context", ("gpt-4.1-2025-04-14", "input", "standard")),
    ("gpt-5, cache writes", ("gpt-5", "cache_write", "standard")),
    ("gpt-4o, batch input", ("gpt-4o", "input", "batch")),
    ("gpt-4o, output, batch", ("gpt-4o", "output", "batch")),
    ("GPT-4o, Cached Input Tokens", ("GPT-4o", "cache_read", "standard")),
    ("gpt-audio-mini-2025-12-15 audio, input", ("gpt-audio-mini-2025-12-15", "input", "standard")),
])
def test_model_line_items(text, expected):
    item = parse_line_item(text)
    assert item.matched and (item.model, item.token_type, item.service_tier) == expected
    assert item.long_context == text.endswith("long context")


@pytest.mark.parametrize("text", [
    "web search tool calls", "Vector storage", "Image models", "input_tokens", "whisper-1, audio",
    "weird | gpt-4o, input", "gpt-4o, input, mystery suffix", "", "   ", None, ", input",
    "gpt 4o, input",
])
def test_unmatched_line_items(text):
    assert parse_line_item(text) == LineItem("", OTHER, "standard", matched=False)


@given(st.text(max_size=60))
def test_parse_never_raises_and_stays_canonical(text):
    item = parse_line_item(text)
    assert item.token_type in (*TOKEN_TYPES, OTHER)
    assert item.service_tier in SERVICE_TIERS
    assert item.matched == (item.token_type != OTHER)


@pytest.mark.parametrize("qty, unit, tokens", [
    (Decimal(10000), "tokens", 10000),
    (Decimal("12.5"), "1000_tokens", 12500),
    (Decimal("0.0005"), "1000_tokens", 0),  # half-even: 0.5 → 0
    (Decimal("0.0015"), "1000_tokens", 2),
    (Decimal(3), "images", None),
    (Decimal(3), None, None),
    (None, "tokens", None),
])
def test_quantity_tokens(qty, unit, tokens):
    assert quantity_tokens(qty, unit) == tokens


def test_reader_errors_name_place_and_path():
    r = Reader("openai costs 2026-10-01..2026-10-08")
    obj = {"n": 3, "s": "x", "f": 1.5, "b": True, "neg": -1, "nan": float("nan")}
    assert r.get(obj, "n", "data[0]", "count") == 3
    assert r.get(obj, "missing", "data[0]", "count", required=False) is None
    cases = [
        ("missing", "count", "data[0].missing missing"),
        ("s", "number", "data[0].s expected a number, got string \"x\""),
        ("b", "integer", "data[0].b expected an integer, got boolean true"),
        ("f", "count", "data[0].f expected a count, got number 1.5"),
        ("neg", "count", "data[0].neg is negative (-1)"),
        ("nan", "number", "data[0].nan is not a finite number"),
        ("n", "object", "data[0].n expected an object, got integer"),
    ]
    for key, kind, message in cases:
        with pytest.raises(DataError) as e:
            r.get(obj, key, "data[0]", kind)
        assert str(e.value).startswith(f"openai costs 2026-10-01..2026-10-08: {message}"), \
            str(e.value)
    with pytest.raises(DataError, match="unknown currency 'EURO'"):
        r.currency("EURO", "x")
    assert r.currency("usd", "x") == "USD"
    with pytest.raises(DataError, match="does not fit DECIMAL"):
        r.money(Decimal("1e12"), "x")
    assert r.money(Decimal("1.2378912"), "x") == Decimal("1.237891")
    assert r.rfc3339_day("2025-08-01T23:59:59.123-02:00", "x") == date(2025, 8, 2)
    assert r.unix_day(1736616660, "x") == date(2025, 1, 11)  # cookbook's unaligned start


def test_read_pages(tmp_path: Path):
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"data": []}))
    many = tmp_path / "many.json"
    many.write_text(json.dumps([{"data": []}, {"data": []}]))
    assert read_pages(one, "w") == [("", {"data": []})]
    assert [p for p, _ in read_pages(many, "w")] == ["[0]", "[1]"]
    bad = tmp_path / "bad.json"
    bad.write_text("<html>")
    with pytest.raises(DataError, match=r"^w: not valid JSON: Expecting value at line 1"):
        read_pages(bad, "w")


def test_rows_sum_duplicates_and_keep_currency():
    rows = Rows("openai", "src")
    d = date(2026, 10, 1)
    rows.add(d, "p", "m", "standard", "input", "m, input", Decimal("1.10"), "USD", 5)
    rows.add(d, "p", "m", "standard", "input", "m, input", Decimal("0.20"), "USD", None)
    rows.add(d, "p", "m", "standard", "output", "m, output", Decimal("0.30"), "USD", None)
    frame = rows.frame("w")
    assert frame.height == 2
    assert frame["amount"].to_list() == [Decimal("1.3"), Decimal("0.3")]
    assert frame["billed_tokens"].to_list() == [5, None]
    with pytest.raises(DataError, match="billed in both USD and EUR"):
        rows.add(d, "p", "m", "standard", "input", "m, input", Decimal("1"), "EUR", None)
    assert Rows("openai", "src").frame("w").height == 0


def test_secret_headers_hide_values():
    h = SecretHeaders({"Authorization": "Bearer sk-admin-abc", "x-api-key": "k"})
    assert "sk-admin" not in repr(h) and "sk-admin" not in str(h)
    assert h["Authorization"] == "Bearer sk-admin-abc"
