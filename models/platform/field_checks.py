"""Field checks the domain's operations share: an id, a bounded number, a status name.

Each adds the contract's message to ``errors`` and returns what the operation goes on with.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, TypeVar

from models.platform.entities import MAX_ID
from models.platform.errors import FieldErrors

E = TypeVar("E", bound=Enum)


def id_field(
    errors: FieldErrors, name: str, value: Any, *, required: bool, lowest: int = 1
) -> int | None:
    """An id given as a number or digits; None (and a message) when blank or invalid."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.add(name, "can't be blank")
        return None
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is not None and lowest <= number <= MAX_ID:
        return number
    errors.add(name, "is invalid")
    return None


def bounded_whole(
    errors: FieldErrors, name: str, value: Any, *, default: int, lowest: int, highest: int
) -> int:
    """A whole number within bounds; ``default`` when absent (or refused)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(name, "is invalid")
    elif value < lowest:
        errors.add(name, f"must be greater than or equal to {lowest}")
    elif value > highest:
        errors.add(name, f"must be less than or equal to {highest}")
    else:
        return value
    return default


def enum_field(errors: FieldErrors, value: Any, kind: type[E], name: str = "status") -> E | None:
    """A member of ``kind`` given as itself or its value; None when absent or unknown."""
    if value is None:
        return None
    if isinstance(value, kind):
        return value
    if not isinstance(value, str) or value not in {member.value for member in kind}:
        errors.add(name, "is not included in the list")
        return None
    return kind(value)
