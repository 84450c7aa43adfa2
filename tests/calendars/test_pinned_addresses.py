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


def _self_signed(folder: Any, name: str) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def test_pinned_caldav_session_keeps_the_tls_server_name(tmp_path: Any) -> None:
    """Over TLS the pinned session sends the name (SNI) and verifies the certificate
    against it, though it connects to the checked address."""
    import ssl

    from models.integrations.calendar_reads import _pinned_session
    from models.platform.outbound_targets import CheckedTarget, Target

    cert, key = _self_signed(tmp_path, NAME)
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment,misc,return-value]

    class Handler(BaseHTTPRequestHandler):
        def do_PROPFIND(self) -> None:
            self.send_response(207)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    checked = CheckedTarget(Target("https", NAME, port), (ipaddress.ip_address("127.0.0.1"),))
    try:
        with _pinned_session(checked) as session:
            answer = session.request("PROPFIND", f"https://{NAME}:{port}/cal/", verify=cert)
            assert answer.status_code == 207
            # The same certificate under another name: refused.
            other = CheckedTarget(
                Target("https", "other.example", port), (ipaddress.ip_address("127.0.0.1"),)
            )
        with (
            _pinned_session(other) as session,
            pytest.raises(Exception, match=r"(?i)certificate|hostname|match"),
        ):
            session.request("PROPFIND", f"https://other.example:{port}/cal/", verify=cert)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert names[0] == NAME
