"""Declarative base and the column types every table shares."""

import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, MetaData, func
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# One SQLite bind processor per dialect, shared by every UTCDateTime there (a read that
# gives one instant under several names processes it once: ``DriverPlan.arguments``).
_sqlite_processors: weakref.WeakKeyDictionary[Dialect, Callable[[Any], Any]] = (
    weakref.WeakKeyDictionary()
)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant, always returned as an aware UTC datetime.

    PostgreSQL stores it as ``timestamptz``. SQLite has no time zone type, so the value
    is stored as naive UTC text of fixed width, which keeps string comparison in SQL
    equal to time order.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, the stored text written in one step (a parameter of almost every
        read); the same text as ``process_bind_param`` then SQLite's own processor."""
        default = super().bind_processor(dialect)
        if dialect.name != "sqlite" or default is None:
            return default
        if type(self) is not UTCDateTime:
            return self._sqlite_processor(default)
        shared = _sqlite_processors.get(dialect)
        if shared is None:
            shared = _sqlite_processors[dialect] = self._sqlite_processor(default)
        return shared

    @staticmethod
    def _sqlite_processor(default: Callable[[Any], Any]) -> Callable[[Any], Any]:

        def process(value: Any) -> Any:
            if type(value) is not datetime:
                return default(value)
            if value.tzinfo is not UTC:
                value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
            text = value.isoformat(" ")[:-6]  # without "+00:00"
            return text if value.microsecond else text + ".000000"

        # Only where SQLite's processor writes that text (its format is configurable).
        samples = (datetime(2030, 1, 2, 3, 4, 5, 6, tzinfo=UTC), datetime(999, 1, 1))
        return process if all(process(v) == default(v) for v in samples) else default

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is UTC:  # what asyncpg returns
            return value
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(AsyncAttrs, DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        default=utcnow, server_default=func.current_timestamp()
    )
    updated_at: Mapped[datetime] = mapped_column(
        default=utcnow, onupdate=utcnow, server_default=func.current_timestamp()
    )
