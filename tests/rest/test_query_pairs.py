"""The REST lanes split a query string exactly as ``parse_qsl`` (strict, blanks kept)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from hypothesis import given, settings
from hypothesis import strategies as st

from rest_compat.fast_reads import _pairs


@settings(max_examples=400, deadline=None)
@given(
    query=st.one_of(
        st.text(alphabet="ab=&%+2;_-.", max_size=20),
        st.text(alphabet=st.characters(max_codepoint=127), max_size=20),
    )
)
def test_query_pairs_split_as_parse_qsl_does(query: str) -> None:
    try:
        expected: Any = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        expected = ValueError
    try:
        got: Any = _pairs(query)
    except ValueError:
        got = ValueError
    assert got == expected


def test_plain_queries_are_split_by_hand() -> None:
    assert _pairs("provider_id=5&date=2026-12-21&page_size=") == [
        ("provider_id", "5"),
        ("date", "2026-12-21"),
        ("page_size", ""),
    ]
