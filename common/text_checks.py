"""Input checks both faces apply to free text before it reaches the database."""

from __future__ import annotations

from typing import Any


def nul_field(value: Any, name: str = "body") -> str | None:
    """The name of the first field whose text holds a NUL character, if any.

    PostgreSQL cannot store NUL in text, and no field of this API has a use for it.
    """
    if isinstance(value, str):
        return name if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = nul_field(key, name) or nul_field(item, str(key))
            if found:
                return found
    elif isinstance(value, list):
        for item in value:
            found = nul_field(item, name)
            if found:
                return found
    return None
