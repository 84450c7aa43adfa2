"""The shape comparison the example test relies on."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.doc_examples import examples_in, shape_mismatch, split_reply


@pytest.mark.parametrize(
    ("shown", "actual"),
    [
        ({"id": 1, "name": "x"}, {"id": 7, "name": "y"}),
        ([{"id": 1}], [{"id": 2}, {"id": 3}]),
        ({"a": "...", "...": "..."}, {"a": [1], "b": 2}),
        ({"rate": 0.5}, {"rate": 0}),
        ({"maybe": None}, {"maybe": "text"}),
        ([], []),
        ([{"errors": "text"}, {"errors": {"a": []}}], [{"errors": {"a": ["b"]}}, {"errors": "x"}]),
    ],
)
def test_matching_shapes(shown: object, actual: object) -> None:
    assert shape_mismatch(shown, actual) is None


@pytest.mark.parametrize(
    ("shown", "actual", "where"),
    [
        ({"id": 1}, {"id": "1"}, "$.id"),
        ({"id": 1}, {"id": 1, "extra": 2}, "keys not shown"),
        ({"id": 1, "gone": 2}, {"id": 1}, "missing keys"),
        ([{"id": 1}], [], "empty list"),
        ([{"id": 1}], [{"id": 1}, {"id": None}], "$[1].id"),
        ({"ok": True}, {"ok": 1}, "$.ok"),
    ],
)
def test_departing_shapes(shown: object, actual: object, where: str) -> None:
    problem = shape_mismatch(shown, actual)
    assert problem is not None and where in problem


def test_reading_examples_and_answers(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        'Text.\n\n```sh\ncurl -s "$API/x"\n```\n\n```http\nHTTP/1.1 201 Created\n'
        'content-type: application/json\n\n{"id": 1}\n```\n\n'
        "```sh\necho no request here\n```\n\n"
        "<!-- example: not run -->\n```sh\ncurl https://elsewhere.example\n```\n"
    )
    (example,) = examples_in(page, tmp_path)
    assert (example.status, example.body, example.line) == (201, {"id": 1}, 3)
    assert split_reply("HTTP/1.1 200 OK\r\na: b\r\n\r\n[1]") == "[1]"


def test_a_request_without_a_shown_answer_is_refused(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text('```sh\ncurl -s "$API/x"\n```\n\nNo answer shown.\n')
    with pytest.raises(AssertionError, match="without a shown answer"):
        examples_in(page, tmp_path)
