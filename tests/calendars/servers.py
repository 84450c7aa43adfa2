"""The test suite's own calendar servers: Radicale (CalDAV) and a small iCalendar feed
server, both on free loopback ports, both bounded in time."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

CALDAV_USER = "jsmith"
CALDAV_PASSWORD = "s3cret-app-token"
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Radicale:
    base: str
    process: subprocess.Popen[bytes]

    @property
    def calendar_home(self) -> str:
        return f"{self.base}/{CALDAV_USER}/"


@contextmanager
def radicale(folder: Path) -> Iterator[Radicale]:
    """Radicale on a free loopback port: htpasswd (plain) users, storage in ``folder``."""
    port = free_port()
    users = folder / "users"
    users.write_text(f"{CALDAV_USER}:{CALDAV_PASSWORD}\n")
    config = folder / "config"
    config.write_text(
        "[server]\n"
        f"hosts = 127.0.0.1:{port}\n"
        "[auth]\n"
        "type = htpasswd\n"
        f"htpasswd_filename = {users}\n"
        "htpasswd_encryption = plain\n"
        "delay = 0\n"
        "[storage]\n"
        f"filesystem_folder = {folder / 'collections'}\n"
        "[logging]\n"
        "level = warning\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "radicale", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                httpx.get(base + "/.web/", timeout=1.0)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("Radicale did not start") from None
                time.sleep(0.1)
        yield Radicale(base, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class Feeds:
    """Feeds by path; every GET counted, answered with an ETag and 304 when it matches."""

    base: str
    bodies: dict[str, bytes] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    redirects: dict[str, str] = field(default_factory=dict)
    # The Authorization header of each request, by path.
    authorizations: list[tuple[str, str | None]] = field(default_factory=list)
    not_modified: int = 0

    def url(self, path: str) -> str:
        return self.base + path


@contextmanager
def feed_server() -> Iterator[Feeds]:
    feeds = Feeds(base="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            feeds.requests.append((path, self.headers.get("If-None-Match")))
            feeds.authorizations.append((path, self.headers.get("Authorization")))
            if path in feeds.redirects:
                self.send_response(302)
                self.send_header("Location", feeds.redirects[path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = feeds.statuses.get(path)
            body = feeds.bodies.get(path)
            if status is not None or body is None:
                self.send_response(status or 404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                feeds.not_modified += 1
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar; charset=utf-8")
            self.send_header("ETag", etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    feeds.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield feeds
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
