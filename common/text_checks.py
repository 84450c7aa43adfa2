"""Input checks both faces apply to free text before it reaches the database."""

from __future__ import annotations

import re
from typing import Any

# A lone surrogate (what a JSON ``\ud800`` escape decodes to) is not Unicode text:
# it cannot be encoded as UTF-8, so neither database (nor a JSON reply) can hold it.
_SURROGATE = re.compile("[\ud800-\udfff]")
# NUL is valid Unicode, but PostgreSQL cannot store it in text and no field has a use for it.
_INVALID_TEXT = re.compile("[\x00\ud800-\udfff]")


def is_invalid_text(text: str) -> bool:
    """Text no field accepts: a NUL character or a lone surrogate."""
    return _INVALID_TEXT.search(text) is not None


def is_invalid_unicode(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def _first_field(value: Any, name: str, bad: Any) -> str | None:
    if isinstance(value, str):
        return name if bad(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _first_field(key, name, bad)
            if found is None:
                found = _first_field(item, str(key), bad)
            if found is not None:  # a field may be named "" too
                return found
    elif isinstance(value, list):
        for item in value:
            found = _first_field(item, name, bad)
            if found is not None:
                return found
    return None


def invalid_text_field(value: Any, name: str = "body") -> str | None:
    """The name of the first field (a decoded JSON value) holding text no field accepts."""
    return _first_field(value, name, is_invalid_text)


def holds_invalid_unicode(value: Any) -> bool:
    """Whether any string in a decoded JSON value (keys included) is not valid Unicode."""
    return _first_field(value, "body", is_invalid_unicode) is not None
