"""A real server on a loopback port and Debian's Chromium driven by Playwright.

Outside CI a machine without Chromium or Playwright skips these tests; under CI=true
they must run, so a missing browser fails them.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
import uvicorn

from clinic_availability.app import create_app
from common.settings import Settings
from models.platform.db import create_engine
from models.platform.sessions import create_sessionmaker
from tests.factories import Factory

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Belt and braces beside the request interception: anything not on loopback goes to
    # a proxy that does not exist, and no name resolves.
    "--proxy-server=http://127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]


def _unavailable(reason: str) -> NoReturn:
    if IN_CI:
        pytest.fail(f"browser test cannot run under CI: {reason}")
    pytest.skip(reason)


@dataclass
class LiveServer:
    url: str
    database_url: str
    app: Any


@pytest.fixture
def live_server(sqlite_template: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """uvicorn serving the app on 127.0.0.1 in a thread with its own event loop."""
    database = tmp_path / "browser.db"
    shutil.copyfile(sqlite_template, database)
    database_url = f"sqlite+aiosqlite:///{database}"
    app = create_app(Settings(database_url=database_url, token_cache_seconds=0))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", database_url=database_url, app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture
async def seed(live_server: LiveServer) -> AsyncIterator[Factory]:
    """A factory writing into the live server's database (from this test's own engine)."""
    engine = create_engine(live_server.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            yield Factory(session)
    finally:
        await engine.dispose()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield instance
        finally:
            await instance.close()


@dataclass
class Offline:
    """A browser page that may only reach loopback; it records what it tried."""

    page: Any
    blocked: list[str]
    problems: list[str]

    async def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / name), full_page=True)


@pytest.fixture
async def offline_page(browser: Any) -> AsyncIterator[Offline]:
    from urllib.parse import urlsplit

    context = await browser.new_context(
        service_workers="block", viewport={"width": 1400, "height": 900}
    )
    blocked: list[str] = []
    problems: list[str] = []

    async def only_loopback(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOOPBACK_HOSTS:
            await route.continue_()
        else:
            blocked.append(url)
            await route.abort("blockedbyclient")

    await context.route("**/*", only_loopback)
    page = await context.new_page()
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console {message.type}: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
    try:
        yield Offline(page=page, blocked=blocked, problems=problems)
    finally:
        await context.close()
