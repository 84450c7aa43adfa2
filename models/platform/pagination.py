"""Page requests and results shared by every list."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import and_, or_

from models.platform.errors import FieldErrors

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class PageRequest:
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    @classmethod
    def checked(
        cls,
        page: int | None,
        page_size: int | None,
        *,
        default_size: int = DEFAULT_PAGE_SIZE,
        max_size: int = MAX_PAGE_SIZE,
        errors: FieldErrors | None = None,
        size_field: str = "page_size",
    ) -> PageRequest:
        """Validated page numbers; adds to ``errors`` (or raises) when out of range."""
        own = errors is None
        errors = errors if errors is not None else FieldErrors()
        page = 1 if page is None else page
        page_size = default_size if page_size is None else page_size
        if page < 1:
            errors.add("page", "must be greater than or equal to 1")
        if page > 1_000_000:
            errors.add("page", "must be less than or equal to 1000000")
        if page_size < 1:
            errors.add(size_field, "must be greater than or equal to 1")
        if page_size > max_size:
            errors.add(size_field, f"must be less than or equal to {max_size}")
        if own:
            errors.raise_if_any()
        return cls(page=page, page_size=page_size)


def total_pages(total: int, page_size: int) -> int:
    """How many pages of ``page_size`` a list of ``total`` items takes (at least one)."""
    return max(1, -(-total // page_size)) if page_size else 1


def has_next_page(page: int, page_size: int, total: int) -> bool:
    return page * page_size < total


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int

    @property
    def total_pages(self) -> int:
        return total_pages(self.total, self.page_size)

    @property
    def has_next(self) -> bool:
        return has_next_page(self.page, self.page_size, self.total)


def keyset_order(columns: Sequence[Any], *, backward: bool = False) -> list[Any]:
    """``ORDER BY`` the key columns, reversed when paging backwards."""
    return [column.desc() if backward else column.asc() for column in columns]


def keyset_past(columns: Sequence[Any], values: Sequence[Any], *, backward: bool = False) -> Any:
    """Rows past a cursor key in the page order: after it, or before it when ``backward``.

    ``columns`` are the key columns in order (ascending); ``values`` the key's parts (or
    bind parameters).
    """
    (column, value), rest = (columns[0], values[0]), (columns[1:], values[1:])
    beyond = column < value if backward else column > value
    if not rest[0]:
        return beyond
    return or_(beyond, and_(column == value, keyset_past(rest[0], rest[1], backward=backward)))
