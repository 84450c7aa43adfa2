"""Wake-ups for readers of the event stream (subscriptions, the webhook dispatcher).

The hub carries no events, only the news that some were committed: readers then read the
event table from their own position. Commits of this process wake it directly; on
PostgreSQL a LISTEN connection hears the NOTIFY that the event table's trigger sends at
every commit, from any process. A missed notification costs at most one poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy.engine import make_url

from models.platform.events import NOTIFY_CHANNEL, off_events_committed, on_events_committed

logger = logging.getLogger("clinic_availability.events")

RECONNECT_SECONDS = 1.0


class EventHub:
    def __init__(self, database_url: str | None) -> None:
        """``database_url``: where to LISTEN (PostgreSQL itself, not a pooler); None or a
        SQLite URL: no LISTEN, readers poll."""
        self._url = make_url(database_url) if database_url else None
        self._waiters: set[asyncio.Future[None]] = set()
        self._listen_task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Counts wake-ups, so a reader busy while one happened does not then wait for the next.
        self.generation = 0

    @property
    def listens_to_database(self) -> bool:
        return self._url is not None and self._url.get_backend_name() == "postgresql"

    def poke(self) -> None:
        """Wake every waiting reader (callable from the event loop's thread only)."""
        self.generation += 1
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _poke_threadsafe(self, *_args: Any) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.poke)

    async def wait(self, within: float, *, since: int | None = None) -> bool:
        """Until new events may exist or ``within`` seconds pass; True if woken.

        With ``since`` (a ``generation`` read earlier), returns at once if woken meanwhile.
        """
        if since is not None and since != self.generation:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, within)
            return True
        except TimeoutError:
            return False
        finally:
            self._waiters.discard(waiter)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        on_events_committed(self.poke)
        if self.listens_to_database:
            self._listen_task = asyncio.create_task(self._listen(), name="event-listener")

    async def stop(self) -> None:
        off_events_committed(self.poke)
        if self._listen_task is not None:
            self._listen_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listen_task
        self.poke()

    async def _listen(self) -> None:
        import asyncpg

        assert self._url is not None
        dsn = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(dsn, timeout=5)
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await connection.add_listener(NOTIFY_CHANNEL, self._poke_threadsafe)
                # Events committed while the connection was down are read on this wake-up.
                self.poke()
                await lost.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning(
                    "event listener connection failed",
                    extra={"fields": {"exc": type(exc).__name__}},
                )
            finally:
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(connection.close(timeout=2))
            await asyncio.sleep(RECONNECT_SECONDS)
