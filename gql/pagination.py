"""Relay connections: keyset cursors both ways, ``totalCount``, ``pageInfo``.

A list resolver asks for a :class:`PageWindow` (``first`` items after a cursor, or
``last`` items before one), fetches ``window.request`` (one row more than the count,
which tells whether another page exists without another statement) in the window's
direction, and builds the reply with :func:`connection`. Paging backwards reads the
keyset order reversed; the rows are put back in the list's order here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Generic, TypeVar

import strawberry

from common.settings import Settings
from models.platform.cursors import encode_cursor, key_parts, time_id_cursor
from models.platform.errors import FieldErrors, ValidationFailed
from models.platform.pagination import Page, PageRequest
from models.platform.timeutil import in_range

T = TypeVar("T")
Row = TypeVar("Row")


@strawberry.type(description="Where a page of a connection sits in the whole list.")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="More items follow this page (paging forwards; with `before`: true)."
    )
    has_previous_page: bool = strawberry.field(
        description="More items precede this page (paging backwards; with `after`: true)."
    )
    start_cursor: str | None = strawberry.field(
        description="The first edge's cursor: pass as `before` for the page before."
    )
    end_cursor: str | None = strawberry.field(
        description="The last edge's cursor: pass as `after` for the page after."
    )


@strawberry.type(description="An item of a connection and its position.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(
        description="Opaque position of the item: pass as `after` or `before`."
    )
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list: its items, their cursors and the total.")
class Connection(Generic[T]):
    total_count: int = strawberry.field(description="Items matching the filters, all pages.")
    page_info: PageInfo = strawberry.field(description="Where this page sits in the list.")
    edges: list[Edge[T]] = strawberry.field(description="The items with their cursors.")

    @strawberry.field(description="The nodes of the edges, for clients that need no cursors.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


FIRST_HELP = "Items after `after` (or from the start): at most 100, 25 if not given."
AFTER_HELP = "A cursor: the items after it."
LAST_HELP = "Items before `before` (or up to the end): at most 100. Not with `first`."
BEFORE_HELP = "A cursor: the items before it. Not with `after`."


@dataclass(frozen=True, slots=True)
class PageWindow:
    """``count`` items after the ``cursor``, or before it when ``backward``."""

    count: int
    cursor: str | None = None
    backward: bool = False

    @property
    def first(self) -> int:
        return self.count

    @property
    def cursor_field(self) -> str:
        return "before" if self.backward else "after"

    @property
    def request(self) -> PageRequest:
        return PageRequest(page=1, page_size=self.count + 1)


def page_window(
    first: int | None,
    settings: Settings,
    *,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> PageWindow:
    """The validated window: ``first``/``after`` forwards or ``last``/``before`` backwards;
    default and maximum count as for REST ``page_size``."""
    errors = FieldErrors()
    backward = last is not None or before is not None
    if first is not None and last is not None:
        errors.add("last", "cannot be given with first")
    elif backward and first is not None:
        errors.add("first", "cannot be given with before")
    if after is not None and before is not None:
        errors.add("before", "cannot be given with after")
    elif backward and after is not None:
        errors.add("after", "cannot be given with last")
    checked = PageRequest.checked(
        1,
        last if backward else first,
        default_size=settings.default_page_size,
        max_size=settings.max_page_size,
        errors=errors,
        size_field="last" if backward else "first",
    )
    errors.raise_if_any()
    return PageWindow(
        count=checked.page_size, cursor=before if backward else after, backward=backward
    )


def encode_time_id_cursor(moment: datetime, ident: int) -> str:
    """A slot's cursor (the database writes the same cursor for rendered pages)."""
    return time_id_cursor(moment, ident)


def _invalid_cursor(field: str) -> ValidationFailed:
    return ValidationFailed.one(field, "is invalid")


def decode_cursor(cursor: str, field: str = "after") -> list[str]:
    try:
        return key_parts(cursor)
    except ValueError as exc:
        raise _invalid_cursor(field) from exc


def decode_time_id_cursor(cursor: str | None, field: str = "after") -> tuple[datetime, int] | None:
    """A (start_time, id) key from a slot cursor."""
    if cursor is None:
        return None
    parts = decode_cursor(cursor, field)
    try:
        start, ident = parts
        moment = datetime.fromisoformat(start)
        key = int(ident)
    except ValueError as exc:
        raise _invalid_cursor(field) from exc
    if not in_range(moment):  # naive, or outside the years any slot can have
        raise _invalid_cursor(field)
    return moment, key


def decode_id_cursor(cursor: str | None, field: str = "after") -> int | None:
    if cursor is None:
        return None
    parts = decode_cursor(cursor, field)
    if len(parts) != 1 or not parts[0].isdigit():
        raise _invalid_cursor(field)
    return int(parts[0])


def connection(
    page: Page[Row],
    window: PageWindow,
    convert: Callable[[Row], T],
    cursor_of: Callable[[Row], Sequence[object] | str],
) -> Connection[T]:
    """The first ``window.count`` rows of ``page`` (fetched with ``window.request`` in the
    window's direction), in the list's order.

    ``cursor_of`` gives a row's key parts, or its cursor already encoded.
    """
    rows = page.items[: window.count]
    if window.backward:
        rows.reverse()
    edges = [
        Edge(
            cursor=key if isinstance(key := cursor_of(row), str) else encode_cursor(*key),
            node=convert(row),
        )
        for row in rows
    ]
    more = len(page.items) > window.count
    moved = window.cursor is not None
    return Connection(
        total_count=page.total,
        page_info=PageInfo(
            has_next_page=moved if window.backward else more,
            has_previous_page=more if window.backward else moved,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        edges=edges,
    )


# The four Relay arguments every connection takes.
First = Annotated[int | None, strawberry.argument(description=FIRST_HELP)]
After = Annotated[str | None, strawberry.argument(description=AFTER_HELP)]
Last = Annotated[int | None, strawberry.argument(description=LAST_HELP)]
Before = Annotated[str | None, strawberry.argument(description=BEFORE_HELP)]
