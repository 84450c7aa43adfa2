"""SQLite reads of a few rows by key, run on the event loop's own thread.

Such a read costs SQLite some microseconds; handing it to aiosqlite's worker thread and
back costs many times that (a queue, a thread woken, the GIL passed twice, and under load
the loop and the workers contending for it). These reads run on a plain ``sqlite3``
connection of the loop's thread instead, which never waits for a lock: whenever the file
is locked or the connection fails, the caller reads through the worker threads as before.
Reads whose cost grows with the data (counts over ranges, pages, reports) stay there,
where SQLite works without holding up the loop.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import URL


class LoopReader:
    """One read-only connection to a SQLite file, for the thread that first reads."""

    __slots__ = ("_connection", "_path", "_prepare", "_thread", "reads")

    def __init__(self, path: str, prepare: Callable[[sqlite3.Connection], None]) -> None:
        self._path = path
        self._prepare = prepare
        self._connection: sqlite3.Connection | None = None
        self._thread: int | None = None
        # Reads answered here (tests check the path is taken).
        self.reads = 0

    @classmethod
    def for_url(cls, url: URL, prepare: Callable[[sqlite3.Connection], None]) -> LoopReader | None:
        """A loop reader for a plain SQLite file URL; None for anything else."""
        if url.get_backend_name() != "sqlite" or url.query:
            return None
        if url.database in (None, "", ":memory:"):
            return None
        return cls(url.database, prepare)

    def rows(self, sql: str, arguments: Sequence[Any]) -> list[Any] | None:
        """The rows of ``sql``, or None where the caller should read elsewhere (another
        thread than this reader's, the file locked, the connection failing)."""
        thread = threading.get_ident()
        if self._thread is None:
            self._thread = thread
        elif self._thread != thread:
            return None
        connection = self._connection
        try:
            if connection is None:
                connection = self._connection = self._open()
            rows = connection.execute(sql, arguments).fetchall()
        except sqlite3.Error:
            # Locked (it never waits) or broken: the worker threads read it, and report
            # a real failure as they would; a fresh connection serves the next read.
            self.close()
            return None
        self.reads += 1
        return rows

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            self._prepare(connection)
            connection.execute("PRAGMA busy_timeout=0")
            connection.execute("PRAGMA query_only=1")
        except BaseException:
            connection.close()
            raise
        return connection

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
