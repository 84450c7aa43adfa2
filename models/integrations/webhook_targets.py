"""Where webhooks may point: http(s) URLs whose addresses are public (SSRF guard).

The check runs when a webhook is registered or changed, and again on every delivery
after DNS resolution; the delivery then connects to the address that was checked, so a
name that resolves differently a moment later cannot slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NOT_PUBLIC = (
    "is_private",
    "is_loopback",
    "is_link_local",
    "is_multicast",
    "is_reserved",
    "is_unspecified",
    "is_site_local",
)


class TargetRefused(Exception):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int


def url_problem(url: object) -> str | None:
    """Why ``url`` can't be a webhook URL (a field message), or None."""
    if not isinstance(url, str) or not url.strip():
        return "can't be blank"
    if len(url) > MAX_URL_LENGTH:
        return f"is too long (maximum is {MAX_URL_LENGTH} characters)"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "is invalid"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http or https URL"
    if parts.username or parts.password:
        return "must not contain credentials"
    return None


def target_of(url: str) -> Target:
    parts = urlsplit(url)
    assert parts.hostname is not None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Target(parts.scheme, parts.hostname, port)


def is_public(address: IpAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not any(getattr(address, flag, False) for flag in _NOT_PUBLIC)


async def resolve(target: Target, *, allow_private: bool) -> list[IpAddress]:
    """The host's addresses, all of them checked; raises TargetRefused."""
    try:
        literal: IpAddress | None = ipaddress.ip_address(target.host)
    except ValueError:
        literal = None
    if literal is not None:
        found = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                target.host, target.port, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError) as exc:
            raise TargetRefused("host can't be resolved") from exc
        found = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        if not found:
            raise TargetRefused("host can't be resolved")
    if not allow_private and not all(is_public(address) for address in found):
        raise TargetRefused("must not point to a private, loopback or link-local address")
    return found
