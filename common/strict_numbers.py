"""One strictness for ids and whole numbers in every request, on every route.

- In a JSON body an id, count or duration is a JSON integer: ``true``, ``"5"``, ``5.0`` and
  ``1E2`` are refused (422 ``is invalid``), as the older routes always did.
- In a path an id is plain decimal digits, no sign, no leading zero, no separators
  (``10``; not ``010``, ``+10``, ``1_0``, ``10.0`` or `` 10``); anything else names no
  record, so the route answers 404.

Request models use :data:`WholeNumber`, path parameters :data:`PathId`; a test walks
every route so a new one cannot use a looser type. A route that shares its path with
fixed ones (``/available_slots/search``) matches ids with the ``{name:id}`` convertor,
so anything else falls through to the other routes (a wrong method there is 405).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, StrictInt
from starlette.convertors import Convertor, register_url_convertor

from models.platform.entities import MAX_ID

_PLAIN_NUMBER = re.compile(r"0|[1-9][0-9]{0,17}")


def plain_number(text: str, maximum: int) -> int | None:
    """The whole number ``text`` writes plainly (ASCII digits, no sign, no leading zero,
    0 to ``maximum``), or None."""
    if not _PLAIN_NUMBER.fullmatch(text):
        return None
    number = int(text)
    return number if number <= maximum else None


def plain_id(text: str) -> int | None:
    """The id ``text`` writes plainly (1 to ``MAX_ID``), or None."""
    number = plain_number(text, MAX_ID)
    return number if number else None


def _path_id(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # read by the ``id`` convertor, which matches plain ids only
    number = plain_id(value) if isinstance(value, str) else None
    if number is None:
        raise ValueError("is not a plainly written id")
    return number


class PlainIdConvertor(Convertor[int]):
    regex = "[1-9][0-9]{0,9}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


# Registered once, for ``{name:id}`` in route paths (Starlette keeps one global table).
register_url_convertor("id", PlainIdConvertor())


# A JSON integer only (booleans, strings and floats refused).
WholeNumber = StrictInt
# A record id in a path; FastAPI answers a refusal of a path parameter with 404.
PathId = Annotated[int, BeforeValidator(_path_id)]

__all__ = ["PathId", "PlainIdConvertor", "WholeNumber", "plain_id", "plain_number"]
