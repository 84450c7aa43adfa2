"""JSON request bodies with a fixed nesting limit.

The stdlib decoder recurses once per nested array or object, so a body nested deeper
than the interpreter's recursion limit raises ``RecursionError``, and everything that
walks the decoded value afterwards (text checks, GraphQL variable coercion) recurses
as deep again. Bodies are refused above ``MAX_JSON_DEPTH`` levels instead: far more
than any request needs, far less than any recursion limit.
"""

from __future__ import annotations

import json
from typing import Any

MAX_JSON_DEPTH = 64


class TooDeeplyNested(ValueError):
    """The JSON nests arrays and objects deeper than ``MAX_JSON_DEPTH``."""

    def __init__(self) -> None:
        super().__init__(f"The JSON nests deeper than {MAX_JSON_DEPTH} levels")


def depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether decoded JSON nests more than ``limit`` arrays/objects; without recursion."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def loads(data: str | bytes) -> Any:
    """``json.loads``, raising :class:`TooDeeplyNested` (a ValueError) past the limit."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise TooDeeplyNested() from None
    if depth_exceeds(value):
        raise TooDeeplyNested()
    return value


__all__ = ["MAX_JSON_DEPTH", "TooDeeplyNested", "depth_exceeds", "loads"]
