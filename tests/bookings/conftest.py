"""Booking fixtures: a canary that must never reach a log, and a real HTTP server.

From the first booking test to the end of the session, every log record (any logger, the
server's and uvicorn's included) is checked for the canary put in booking notes. Booking
tests run with the service's most verbose logger levels (LOG_LEVEL=DEBUG); each fails if
its own records hold the canary, and the session fails at the end if any record did.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn

from clinic_availability.app import create_app
from clinic_availability.logging import logging_config
from common.settings import Settings
from tests.graphql.plan_switch import no_rendering_fallback

CANARY = "CANARY-7f3a-notes-must-never-be-logged"
WATCHED_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")


class CanaryHandler(logging.Handler):
    """Formats every record in full (message, arguments, traceback) and keeps the hits."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.records_seen = 0
        self.hits: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records_seen += 1
        try:
            text = self.format(record)
        except Exception as exc:  # a record that cannot format is still inspected
            text = f"{record.msg!r} {record.args!r} {exc!r}"
        if CANARY in text:
            self.hits.append(text)


@pytest.fixture(scope="session")
def log_canary() -> Iterator[CanaryHandler]:
    """Watches every record from the first booking test to the end of the session."""
    handler = CanaryHandler()
    loggers = [logging.getLogger(name) for name in WATCHED_LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    assert handler.hits == [], f"booking notes reached the logs: {handler.hits[:3]}"


@contextlib.contextmanager
def most_verbose_service_logging() -> Iterator[None]:
    """The service's logger levels at LOG_LEVEL=DEBUG, restored afterwards."""
    config = logging_config("DEBUG")
    levels = {"": config["root"]["level"]}
    levels.update({name: spec["level"] for name, spec in config["loggers"].items()})
    old_levels = {name: logging.getLogger(name).level for name in levels}
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        for name, level in old_levels.items():
            logging.getLogger(name).setLevel(level)


@pytest.fixture(autouse=True)
def no_notes_in_logs(log_canary: CanaryHandler) -> Iterator[None]:
    before = len(log_canary.hits)
    with most_verbose_service_logging():
        yield
    assert log_canary.hits[before:] == [], "booking notes reached the logs"


@dataclass
class LiveServer:
    base_url: str
    settings: Settings
    app: Any = field(repr=False)


@pytest.fixture
async def live_server(settings: Settings) -> AsyncIterator[LiveServer]:
    """The app behind a real uvicorn on a loopback port, in this event loop.

    Token lookups are cached as in the default configuration (the test settings turn the
    cache off so that revocation tests see changes at once).
    """
    cache = Settings.model_fields["token_cache_seconds"].default
    settings = settings.model_copy(update={"token_cache_seconds": cache})
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # log_config=None keeps uvicorn from replacing the logging set-up (and our handler).
    config = uvicorn.Config(
        app, log_config=None, access_log=True, lifespan="on", backlog=4096, timeout_keep_alive=30
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "uvicorn did not start"
    try:
        yield LiveServer(base_url=f"http://127.0.0.1:{port}", settings=settings, app=app)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=30)
        sock.close()


@pytest.fixture
async def http(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the live server with room for hundreds of requests in flight."""
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
    async with httpx.AsyncClient(
        base_url=live_server.base_url, limits=limits, timeout=httpx.Timeout(120.0)
    ) as client:
        yield client


# Bookings are read through GraphQL here too: no rendered root field may fall back.
__all__ = ["no_rendering_fallback"]
