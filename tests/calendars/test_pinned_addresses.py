"""Reads connect to the address that passed the outbound-address check: a name that
resolves to a public address at the check and to loopback a moment later (DNS rebinding)
reaches nothing on loopback, for CalDAV as for iCalendar."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from models.integrations.calendar_reads import FetchFailed, fetch_caldav, fetch_ical
from models.integrations.calendar_secrets import CalendarSecret

NAME = "calendar.rebinding.example"
PUBLIC = "93.184.215.14"  # globally reachable; never actually connected to here
UNROUTED = "192.0.2.7"  # TEST-NET-1


@dataclass
class Seen:
    port: int = 0
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)


@pytest.fixture
def loopback_server() -> Iterator[Seen]:
    """Any request on loopback: counted (method, path, Host) and answered 404."""
    seen = Seen()

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            seen.requests.append((self.command, self.path, self.headers.get("Host")))
            if self.path.startswith("/moved/"):
                self.send_response(301)
                self.send_header("Location", f"http://127.0.0.1:{seen.port}/landed/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_PROPFIND = do_REPORT = do_OPTIONS = _any

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    seen.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@dataclass
class Network:
    """DNS answers for NAME that change after the first lookup, and every connection the
    process attempts (only loopback ones go through)."""

    first: str
    later: str
    lookups: int = 0
    connects: list[str] = field(default_factory=list)


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Iterator[Network]:
    net = Network(first=PUBLIC, later="127.0.0.1")
    real_getaddrinfo = socket.getaddrinfo
    real_socket = socket.socket

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name != NAME:
            return real_getaddrinfo(host, port, *args, **kwargs)
        net.lookups += 1
        address = net.first if net.lookups == 1 else net.later
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0)))]

    class GuardedSocket(real_socket):  # type: ignore[misc,valid-type]
        def connect(self, address: Any) -> None:
            if isinstance(address, tuple):
                net.connects.append(str(address[0]))
                if not ipaddress.ip_address(str(address[0]).split("%")[0]).is_loopback:
                    raise ConnectionRefusedError("no network in tests")
            super().connect(address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "socket", GuardedSocket)
    yield net


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now, now + timedelta(days=7)


async def test_caldav_read_does_not_follow_a_rebound_name_to_loopback(
    loopback_server: Seen, network: Network
) -> None:
    secret = CalendarSecret(url=f"http://{NAME}:{loopback_server.port}/jsmith/work/", password="x")
    start, end = _window()
    with pytest.raises(FetchFailed):
        await fetch_caldav(
            secret,
            "jsmith",
            ctag=None,
            start=start,
            end=end,
            allow_private=False,
            timeout_seconds=2.0,
        )
    assert loopback_server.requests == []
    # The only connection attempted went to the checked (public) address.
    assert network.connects and set(network.connects) == {PUBLIC}
    assert network.lookups == 1


async def test_caldav_read_connects_to_the_checked_address_with_the_name_kept(
    loopback_server: Seen, network: Network
) -> None:
    # Checked: loopback (allowed, as a hospital server on a private network would be);
    # a later answer points elsewhere and is never used.
    network.first, network.later = "127.0.0.1", UNROUTED
    secret = CalendarSecret(url=f"http://{NAME}:{loopback_server.port}/jsmith/work/", password="x")
    start, end = _window()
    with pytest.raises(FetchFailed, match="not found"):
        await fetch_caldav(
            secret,
            "jsmith",
            ctag=None,
            start=start,
            end=end,
            allow_private=True,
            timeout_seconds=2.0,
        )
    assert loopback_server.requests
    assert {host for _, _, host in loopback_server.requests} == {f"{NAME}:{loopback_server.port}"}
    assert UNROUTED not in network.connects
    assert network.lookups == 1


async def test_ical_read_does_not_follow_a_rebound_name_to_loopback(
    loopback_server: Seen, network: Network
) -> None:
    secret = CalendarSecret(url=f"http://{NAME}:{loopback_server.port}/feed.ics")
    with pytest.raises(FetchFailed):
        await fetch_ical(
            secret,
            None,
            etag=None,
            last_modified=None,
            allow_private=False,
            timeout_seconds=2.0,
        )
    assert loopback_server.requests == []
    assert set(network.connects) <= {PUBLIC}


async def test_caldav_redirect_to_an_unchecked_host_is_not_followed(
    loopback_server: Seen, network: Network
) -> None:
    network.first, network.later = "127.0.0.1", UNROUTED
    secret = CalendarSecret(url=f"http://{NAME}:{loopback_server.port}/moved/", password="x")
    start, end = _window()
    with pytest.raises(FetchFailed):
        await fetch_caldav(
            secret,
            "jsmith",
            ctag=None,
            start=start,
            end=end,
            allow_private=True,
            timeout_seconds=2.0,
        )
    assert [path for _, path, _ in loopback_server.requests if path.startswith("/moved/")]
    assert not [path for _, path, _ in loopback_server.requests if path.startswith("/landed/")]
