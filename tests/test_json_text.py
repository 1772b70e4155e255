"""The JSON report's text: the fast encoder writes what ``json.dumps(indent=2)`` wrote."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from finops.report.jsonout import indented_json

_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text())
_DOCS = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=30)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(_DOCS)
def test_indented_json_is_json_dumps_with_indent(doc: object) -> None:
    # Unicode (team names), control characters, empty lists and objects, nesting, big integers
    assert indented_json(doc) == json.dumps(doc, indent=2)


def test_a_team_name_in_any_script_stays_ascii_escaped() -> None:
    doc = {"teams": [{"team": "Équipe ☃ 数据 \U0001F600\n\"x\""}], "empty": {}, "none": []}
    text = indented_json(doc)
    assert text.isascii() and json.loads(text) == doc
