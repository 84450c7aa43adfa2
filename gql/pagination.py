"""Connections: ``first``/``after`` keyset cursors, ``totalCount``, ``pageInfo``."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Generic, TypeVar

import strawberry

from models.errors import ValidationFailed
from models.pagination import MAX_PAGE_SIZE, Page, PageRequest

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
    total_count: int
    page_info: PageInfo
    edges: list[Edge[T]]

    @strawberry.field(description="The nodes of the edges, for clients that need no cursors.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def page_request(first: int | None, default: int = 25) -> PageRequest:
    """The page size asked for with ``first``; at most 100, as in REST."""
    return PageRequest.checked(
        1, first, default_size=default, max_size=MAX_PAGE_SIZE, size_field="first"
    )


def encode_cursor(*parts: object) -> str:
    text = "|".join(part.isoformat() if isinstance(part, datetime) else str(part) for part in parts)
    return base64.urlsafe_b64encode(text.encode()).decode()


def decode_cursor(cursor: str) -> list[str]:
    try:
        return base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed.one("after", "is invalid") from exc


def decode_time_id_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    """A (start_time, id) key from a slot cursor."""
    if cursor is None:
        return None
    parts = decode_cursor(cursor)
    try:
        start, ident = parts
        return datetime.fromisoformat(start), int(ident)
    except ValueError as exc:
        raise ValidationFailed.one("after", "is invalid") from exc


def decode_id_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    parts = decode_cursor(cursor)
    if len(parts) != 1 or not parts[0].isdigit():
        raise ValidationFailed.one("after", "is invalid")
    return int(parts[0])


def connection(
    page: Page[Row],
    convert: Callable[[Row], T],
    cursor_of: Callable[[Row], Sequence[object]],
) -> Connection[T]:
    edges = [Edge(cursor=encode_cursor(*cursor_of(row)), node=convert(row)) for row in page.items]
    has_next = len(page.items) == page.page_size and page.total > 0
    return Connection(
        total_count=page.total,
        page_info=PageInfo(
            has_next_page=has_next and bool(edges),
            end_cursor=edges[-1].cursor if edges else None,
        ),
        edges=edges,
    )
