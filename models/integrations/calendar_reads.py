"""Reading an external calendar: one conditional request (iCalendar) or a getctag /
sync-token check and a calendar-query REPORT (CalDAV); the texts come back as read.

Every address goes through the outbound-target check first (public addresses only unless
allowed), and every request then connects to an address that was checked, never to a
fresh DNS answer (a name that resolves to a public address at the check and to a private
one a moment later, DNS rebinding, reaches nothing): an iCalendar request is sent to the
checked address with the name kept in ``Host`` and the TLS server name, checks every
redirect again and keeps its credentials to their origin; the CalDAV client's HTTP
session resolves the checked host only, and only to the checked addresses. Failures are
:class:`FetchFailed` with a message safe to store and show: no URL, no content.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import httpx

from models.integrations.calendar_secrets import CalendarSecret
from models.platform.outbound_targets import CheckedTarget, TargetRefused, check_target

MAX_REDIRECTS = 3
MAX_FEED_BYTES = 10 * 1024 * 1024
USER_AGENT = "clinic-availability-calendars/1"


class FetchFailed(Exception):
    """A read that did not work; the message is safe to store and show (no URL, no body)."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """A read: the calendar texts, or None when the calendar is unchanged; the validators."""

    texts: list[bytes] | None
    etag: str | None = None
    last_modified: str | None = None
    ctag: str | None = None
    # CalDAV collections with a sync-token (RFC 6578): the token the read is current with,
    # and the objects read as (hash of the object's path, text). With ``incremental``
    # they are only the objects changed since the token sent, and ``deleted`` the hashes
    # of those removed; otherwise (a full read) every object of the time range.
    sync_token: str | None = None
    objects: list[tuple[str, bytes]] | None = None
    deleted: tuple[str, ...] = ()
    incremental: bool = False


def _pinned(url: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    parts = urlsplit(url)
    host = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


async def fetch_ical(
    secret: CalendarSecret,
    username: str | None,
    *,
    etag: str | None,
    last_modified: str | None,
    allow_private: bool,
    timeout_seconds: float,
) -> Fetched:
    """GET the feed, conditionally when validators are given; 304 gives ``texts=None``."""
    url = secret.url
    auth = httpx.BasicAuth(username or "", secret.password) if secret.password else None
    timeout = httpx.Timeout(timeout_seconds).as_dict()
    # The transport itself, not a client: a client logs every request's URL, and an
    # iCalendar URL is often the calendar's key.
    async with httpx.AsyncHTTPTransport() as transport:
        for _ in range(MAX_REDIRECTS + 1):
            try:
                checked = await check_target(url, allow_private=allow_private)
            except TargetRefused as exc:
                raise FetchFailed(f"address refused: {exc}") from None
            headers = {
                "host": urlsplit(url).netloc,
                "user-agent": USER_AGENT,
                "accept": "text/calendar, */*;q=0.5",
            }
            if etag:
                headers["if-none-match"] = etag
            if last_modified:
                headers["if-modified-since"] = last_modified
            extensions: dict[str, Any] = {"timeout": timeout}
            if url.startswith("https"):
                extensions["sni_hostname"] = checked.target.host
            request = httpx.Request(
                "GET", _pinned(url, checked.addresses[0]), headers=headers, extensions=extensions
            )
            if auth is not None:
                request = next(auth.auth_flow(request))
            try:
                response = await transport.handle_async_request(request)
                try:
                    if response.status_code in (301, 302, 303, 307, 308):
                        location = response.headers.get("location")
                        if not location:
                            raise FetchFailed(f"HTTP {response.status_code} without Location")
                        following = urljoin(url, location)
                        if _origin(following) != _origin(url):
                            auth = None  # credentials never follow to another origin
                        url = following
                        continue
                    if response.status_code == 304:
                        return Fetched(None, etag=etag, last_modified=last_modified)
                    if response.status_code != 200:
                        raise FetchFailed(f"HTTP {response.status_code}")
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body.extend(chunk)
                        if len(body) > MAX_FEED_BYTES:
                            raise FetchFailed("calendar larger than 10 MiB")
                    return Fetched(
                        [bytes(body)],
                        etag=response.headers.get("etag"),
                        last_modified=response.headers.get("last-modified"),
                    )
                finally:
                    await response.aclose()
            except httpx.TimeoutException:
                raise FetchFailed("timeout") from None
            except httpx.HTTPError as exc:
                raise FetchFailed(f"connection failed ({type(exc).__name__})") from None
    raise FetchFailed("too many redirects")


def _pinned_resolver(checked: CheckedTarget) -> Any:
    """A resolver for the CalDAV client's HTTP session (niquests) that knows one name, the
    checked host, and answers only the checked addresses; every other name (a redirect to
    another host, an address literal included) does not resolve."""
    from niquests.packages.urllib3.contrib.resolver import BaseResolver, ProtocolResolver

    host = checked.target.host.strip("[]").lower()
    addresses = checked.addresses

    class PinnedResolver(BaseResolver):  # type: ignore[misc]
        protocol = ProtocolResolver.MANUAL
        implementation = "pinned"

        def __init__(self) -> None:
            super().__init__(None, None)
            self._open = True

        def recycle(self) -> Any:
            return PinnedResolver()

        def close(self) -> None:
            self._open = False

        def is_available(self) -> bool:
            return self._open

        def getaddrinfo(
            self,
            host_asked: bytes | str | None,
            port: str | int | None,
            family: socket.AddressFamily,
            type: socket.SocketKind,
            proto: int = 0,
            flags: int = 0,
            *,
            quic_upgrade_via_dns_rr: bool = False,
        ) -> list[tuple[Any, ...]]:
            name = host_asked.decode("ascii") if isinstance(host_asked, bytes) else host_asked
            if (name or "").strip("[]").lower() != host:
                raise socket.gaierror(socket.EAI_NONAME, "not the checked host")
            number = int(port or 0)
            found: list[tuple[Any, ...]] = []
            for address in addresses:
                if address.version == 6 and family in (socket.AF_UNSPEC, socket.AF_INET6):
                    found.append(
                        (socket.AF_INET6, type, proto or 6, "", (str(address), number, 0, 0))
                    )
                elif address.version == 4 and family in (socket.AF_UNSPEC, socket.AF_INET):
                    found.append((socket.AF_INET, type, proto or 6, "", (str(address), number)))
            if not found:
                raise socket.gaierror(socket.EAI_NONAME, "no checked address of that family")
            return found

    return PinnedResolver()


def _pinned_session(checked: CheckedTarget) -> Any:
    """The CalDAV client's HTTP session, connecting to the checked addresses only: no
    proxy or .netrc from the environment, no HTTP/3 (an Alt-Svc answer may name another
    endpoint), no OCSP/CRL requests of its own to other hosts (certificates are verified
    against the system's trust store, as the iCalendar reads do)."""
    import niquests

    session = niquests.Session(
        resolver=_pinned_resolver(checked), disable_http3=True, revocation_configuration=None
    )
    session.trust_env = False
    return session


def object_key(url: Any) -> str:
    """What identifies a CalDAV object in storage: a SHA-256 of its decoded path (an
    object's name is often its UID, sometimes more)."""
    path = unquote(urlsplit(str(url)).path)
    return hashlib.sha256(path.encode("utf-8")).hexdigest()


def _changes_since(calendar: Any, token: str) -> Fetched | None:
    """The objects changed and removed since ``token``: one sync-collection REPORT, and
    one calendar-multiget of the changed ones (none when nothing changed). None when
    the server can't answer for that token (expired, unsupported, truncated): then the
    caller reads in full."""
    from caldav.lib import error as caldav_error

    try:
        found = calendar.get_objects_by_sync_token(
            sync_token=token, load_objects=False, disable_fallback=True
        )
    except (caldav_error.ReportError, caldav_error.DAVError):
        return None
    if getattr(found, "truncated", False) or not found.sync_token:
        return None
    removed = {object_key(url) for url in found.deleted_urls}
    changed = [item for item in found.objects if object_key(item.url) not in removed]
    objects: list[tuple[str, bytes]] = []
    if changed:
        loaded = calendar.multiget([item.url for item in changed], raise_notfound=False)
        objects = [(object_key(item.url), _object_bytes(item)) for item in loaded]
        # Listed as changed, gone by the time it was asked for: removed.
        removed |= {object_key(item.url) for item in changed} - {key for key, _ in objects}
    return Fetched(
        None,
        sync_token=str(found.sync_token),
        objects=objects,
        deleted=tuple(sorted(removed)),
        incremental=True,
    )


def _caldav_read(
    secret: CalendarSecret,
    username: str | None,
    known: str | None,
    start: datetime,
    end: datetime,
    timeout: float,
    checked: CheckedTarget,
    known_token: str | None = None,
) -> Fetched:
    """The CalDAV read (blocking; run in a thread). With a sync-token from the last read,
    only what changed since (:func:`_changes_since`). Otherwise the collection's getctag
    and sync-token, then, when they changed, the events overlapping ``[start, end)`` with
    their recurrence data (expanded here, not by the server)."""
    import caldav
    from caldav.elements import dav
    from caldav.elements.base import ValuedBaseElement
    from caldav.lib import error as caldav_error

    class GetCTag(ValuedBaseElement):  # type: ignore[misc]
        tag = "{http://calendarserver.org/ns/}getctag"

    try:
        with caldav.DAVClient(  # type: ignore[operator]
            url=secret.url,
            username=username,
            password=secret.password,
            timeout=int(max(1, timeout)),
            enable_rfc6764=False,
        ) as client:
            # The client's own session would resolve the name again, after the check.
            client.session.close()
            client.session = _pinned_session(checked)
            calendar = client.calendar(url=secret.url)
            if known_token:
                changes = _changes_since(calendar, known_token)
                if changes is not None:
                    return changes
            # The token is read before the events: a change made in between is listed
            # again by the next read, never missed.
            props = calendar.get_properties([GetCTag(), dav.SyncToken()])
            token = props.get(dav.SyncToken.tag)
            parts = [props.get(GetCTag.tag), token]
            validator = "|".join(str(part) for part in parts if part) or None
            if known is not None and validator is not None and validator == known:
                return Fetched(None, ctag=validator)
            found = list(
                calendar.search(start=start, end=end, event=True, expand=False, post_filter=False)
            )
            texts = [_object_bytes(item) for item in found]
            if not token:
                return Fetched(texts, ctag=validator)
            return Fetched(
                texts,
                ctag=validator,
                sync_token=str(token),
                objects=[
                    (object_key(item.url), text) for item, text in zip(found, texts, strict=True)
                ],
            )
    except caldav_error.AuthorizationError:
        raise FetchFailed("CalDAV: authorization failed") from None
    except caldav_error.NotFoundError:
        raise FetchFailed("CalDAV: calendar not found") from None
    except Exception as exc:  # the library raises from several HTTP stacks
        raise FetchFailed(f"CalDAV: {type(exc).__name__}") from None


def _object_bytes(item: Any) -> bytes:
    data = item.data
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


async def fetch_caldav(
    secret: CalendarSecret,
    username: str | None,
    *,
    ctag: str | None,
    start: datetime,
    end: datetime,
    allow_private: bool,
    timeout_seconds: float,
    sync_token: str | None = None,
) -> Fetched:
    try:
        checked = await check_target(secret.url, allow_private=allow_private)
    except TargetRefused as exc:
        raise FetchFailed(f"address refused: {exc}") from None
    return await asyncio.wait_for(
        asyncio.to_thread(
            _caldav_read,
            secret,
            username,
            ctag,
            start,
            end,
            timeout_seconds,
            checked,
            sync_token,
        ),
        timeout=timeout_seconds * 3,
    )
