"""Which database failures mean "unavailable, retry" (a 503) rather than a bug (a 500)."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError

# SQLSTATEs that mean "the database is not serving us right now", not "bad request":
# connection exceptions (class 08), shutdown / cannot connect now / statement timeout
# (57P01-57P03, 57014) and too many connections (53300).
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "57014", "53300"})
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ETIMEDOUT,
        errno.EPIPE,
    }
)
# SQLite's way of saying another writer holds the lock for longer than busy_timeout.
_SQLITE_BUSY = ("database is locked", "database table is locked")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the driver error SQLAlchemy wraps, and their causes (bounded)."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending and len(seen) < 12:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                pending.append(linked)


def _is_unavailable(error: BaseException) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, SQLAlchemyTimeoutError):  # no pooled connection freed in time
        return True
    if isinstance(error, (ConnectionError, TimeoutError, socket.gaierror)):
        return True
    if isinstance(error, OSError) and error.errno in _NETWORK_ERRNOS:
        return True
    sqlstate = getattr(error, "sqlstate", None)
    if isinstance(sqlstate, str) and (
        sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES
    ):
        return True
    name = type(error).__name__
    if name in ("ConnectionDoesNotExistError", "InterfaceError") and "closed" in str(error):
        return True  # asyncpg: the connection was closed under the operation
    return type(error).__module__ == "sqlite3" and any(text in str(error) for text in _SQLITE_BUSY)


def is_connection_loss(exc: BaseException) -> bool:
    """True if ``exc`` means the database is unreachable or shutting down: a 503, retryable.

    Precise on purpose: an SQL error (a missing table, a bad statement) stays a 500.
    """
    return any(_is_unavailable(error) for error in _causes(exc))
