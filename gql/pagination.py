"""Connections: ``first``/``after`` keyset cursors, ``totalCount``, ``pageInfo``.

A list resolver asks for a :class:`PageWindow`, fetches ``window.request`` (one row more
than ``first``, which tells whether a next page exists without another statement), and
builds the reply with :func:`connection`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import strawberry

from common.settings import Settings
from models.platform.cursors import time_id_cursor
from models.platform.errors import ValidationFailed
from models.platform.pagination import Page, PageRequest

T = TypeVar("T")
Row = TypeVar("Row")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    total_count: int = strawberry.field(description="Items matching the filters, all pages.")
    page_info: PageInfo
    edges: list[Edge[T]]

    @strawberry.field(description="The nodes of the edges, for clients that need no cursors.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


@dataclass(frozen=True, slots=True)
class PageWindow:
    """``first`` items after a cursor."""

    first: int

    @property
    def request(self) -> PageRequest:
        return PageRequest(page=1, page_size=self.first + 1)


def page_window(first: int | None, settings: Settings) -> PageWindow:
    """The validated ``first``: default and maximum as for REST ``page_size``."""
    checked = PageRequest.checked(
        1,
        first,
        default_size=settings.default_page_size,
        max_size=settings.max_page_size,
        size_field="first",
    )
    return PageWindow(first=checked.page_size)


def encode_cursor(*parts: object) -> str:
    text = "|".join(part.isoformat() if isinstance(part, datetime) else str(part) for part in parts)
    return base64.urlsafe_b64encode(text.encode()).decode()


def encode_time_id_cursor(moment: datetime, ident: int) -> str:
    """``encode_cursor(moment, ident)``, written out: one per listed slot (the database
    writes the same cursor for rendered pages)."""
    return time_id_cursor(moment, ident)


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed.one("after", "is invalid")


def decode_cursor(cursor: str) -> list[str]:
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise _invalid_cursor() from exc


def decode_time_id_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    """A (start_time, id) key from a slot cursor."""
    if cursor is None:
        return None
    parts = decode_cursor(cursor)
    try:
        start, ident = parts
        moment = datetime.fromisoformat(start)
        key = int(ident)
    except ValueError as exc:
        raise _invalid_cursor() from exc
    if moment.tzinfo is None:
        raise _invalid_cursor()
    return moment, key


def decode_id_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    parts = decode_cursor(cursor)
    if len(parts) != 1 or not parts[0].isdigit():
        raise _invalid_cursor()
    return int(parts[0])


def connection(
    page: Page[Row],
    window: PageWindow,
    convert: Callable[[Row], T],
    cursor_of: Callable[[Row], Sequence[object] | str],
) -> Connection[T]:
    """The first ``window.first`` rows of ``page`` (fetched with ``window.request``).

    ``cursor_of`` gives a row's key parts, or its cursor already encoded.
    """
    rows = page.items[: window.first]
    edges = [
        Edge(
            cursor=key if isinstance(key := cursor_of(row), str) else encode_cursor(*key),
            node=convert(row),
        )
        for row in rows
    ]
    return Connection(
        total_count=page.total,
        page_info=PageInfo(
            has_next_page=len(page.items) > window.first,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        edges=edges,
    )
