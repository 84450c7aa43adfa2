"""The check for text no field accepts finds it under any key, the empty one included."""

from __future__ import annotations

from common.text_checks import holds_invalid_unicode, invalid_text_field


def test_the_first_field_holding_invalid_text_is_named() -> None:
    assert invalid_text_field({"a": "ok", "b": ["x", "y\x00"]}) == "b"
    assert invalid_text_field({"a": {"inner": "\ud800"}}) == "inner"
    assert invalid_text_field({"ok": "fine", "list": [1, None, True]}) is None


def test_a_field_named_empty_is_still_found() -> None:
    assert invalid_text_field({"": "x\x00"}) == ""
    assert invalid_text_field([{"": "x\x00"}]) == ""
    assert invalid_text_field({"first": 2, "": {"": "\x00"}}) == ""
    assert holds_invalid_unicode({"": "\udc00"})
    assert not holds_invalid_unicode({"": "plain"})
