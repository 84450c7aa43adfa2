"""Scalars of the GraphQL face beyond the built-in ones."""

from __future__ import annotations

from datetime import date
from typing import Any

import strawberry
from strawberry.exceptions import StrawberryInputCoercionError


def _parse_date(value: Any) -> date:
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise StrawberryInputCoercionError(
        f"Value cannot represent a Date: {value!r}. Expected YYYY-MM-DD, like 2030-10-27."
    )


DATE = strawberry.scalar(
    name="Date",
    description="A calendar day: YYYY-MM-DD (ISO 8601).",
    serialize=date.isoformat,
    parse_value=_parse_date,
)
