"""Where the service may send requests of its own: http(s) URLs on public addresses.

Every outbound URL (webhooks now, calendars later) goes through ``check_target``: once
when it is registered and again on every send, after DNS resolution. The sender then
connects to an address that was checked, so a name that resolves differently a moment
later cannot slip through.

Whether an address is public is read from a table copied from IANA's special-purpose
address registries (never from ``ipaddress``'s ``is_global``, whose answers differ
between Python versions and miss 192.88.99.0/24, 6to4 and IPv4-mapped addresses). IPv6
forms that carry an IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo) are judged by the
IPv4 address inside them as well.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2000
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Rows: (block, name, globally reachable). The most specific block holding an address
# decides; None means "judged by the IPv4 address embedded in it".
#
# IANA IPv4 Special-Purpose Address Registry, last updated 2020-09-04 (every block, with
# its "Globally Reachable" column; the deprecated 6to4 relay anycast block counts as not
# reachable), plus 224.0.0.0/4 from the IPv4 Multicast Address Space registry, which the
# special-purpose registry leaves out.
IPV4_SPECIAL: tuple[tuple[str, str, bool | None], ...] = (
    ("0.0.0.0/8", "This network", False),
    ("0.0.0.0/32", "This host on this network", False),
    ("10.0.0.0/8", "Private-Use", False),
    ("100.64.0.0/10", "Shared Address Space", False),
    ("127.0.0.0/8", "Loopback", False),
    ("169.254.0.0/16", "Link Local", False),
    ("172.16.0.0/12", "Private-Use", False),
    ("192.0.0.0/24", "IETF Protocol Assignments", False),
    ("192.0.0.0/29", "IPv4 Service Continuity Prefix", False),
    ("192.0.0.8/32", "IPv4 dummy address", False),
    ("192.0.0.9/32", "Port Control Protocol Anycast", True),
    ("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", True),
    ("192.0.0.170/32", "NAT64/DNS64 Discovery", False),
    ("192.0.0.171/32", "NAT64/DNS64 Discovery", False),
    ("192.0.2.0/24", "Documentation (TEST-NET-1)", False),
    ("192.31.196.0/24", "AS112-v4", True),
    ("192.52.193.0/24", "AMT", True),
    ("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", False),
    ("192.168.0.0/16", "Private-Use", False),
    ("192.175.48.0/24", "Direct Delegation AS112 Service", True),
    ("198.18.0.0/15", "Benchmarking", False),
    ("198.51.100.0/24", "Documentation (TEST-NET-2)", False),
    ("203.0.113.0/24", "Documentation (TEST-NET-3)", False),
    ("224.0.0.0/4", "Multicast", False),
    ("240.0.0.0/4", "Reserved", False),
    ("255.255.255.255/32", "Limited Broadcast", False),
)

# IANA IPv6 Special-Purpose Address Registry, last updated 2024-10-22. Only 2000::/3 is
# global unicast space (IANA IPv6 Address Space registry), so everything outside it is
# refused (multicast ff00::/8, the deprecated site-local fec0::/10 and IPv4-compatible
# ::/96 included) except the NAT64 well-known prefix, judged by its IPv4 address.
IPV6_SPECIAL: tuple[tuple[str, str, bool | None], ...] = (
    ("::/0", "Outside global unicast space", False),
    ("2000::/3", "Global Unicast", True),
    ("::1/128", "Loopback Address", False),
    ("::/128", "Unspecified Address", False),
    ("::ffff:0:0/96", "IPv4-mapped Address", None),
    ("64:ff9b::/96", "IPv4-IPv6 Translation", None),
    ("64:ff9b:1::/48", "Local-use IPv4/IPv6 Translation", False),
    ("100::/64", "Discard-Only Address Block", False),
    ("2001::/23", "IETF Protocol Assignments", False),
    ("2001::/32", "TEREDO", None),
    ("2001:1::1/128", "Port Control Protocol Anycast", True),
    ("2001:1::2/128", "Traversal Using Relays around NAT Anycast", True),
    ("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", True),
    ("2001:2::/48", "Benchmarking", False),
    ("2001:3::/32", "AMT", True),
    ("2001:4:112::/48", "AS112-v6", True),
    ("2001:10::/28", "Deprecated (previously ORCHID)", False),
    ("2001:20::/28", "ORCHIDv2", True),
    ("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", True),
    ("2001:db8::/32", "Documentation", False),
    ("2002::/16", "6to4", None),
    ("2620:4f:8000::/48", "Direct Delegation AS112 Service", True),
    ("3fff::/20", "Documentation", False),
    ("5f00::/16", "Segment Routing (SRv6) SIDs", False),
    ("fc00::/7", "Unique-Local", False),
    ("fe80::/10", "Link-Local Unicast", False),
)


@dataclass(frozen=True, slots=True)
class SpecialBlock:
    network: IpNetwork
    name: str
    globally_reachable: bool | None


def _table(rows: tuple[tuple[str, str, bool | None], ...]) -> tuple[SpecialBlock, ...]:
    blocks = [SpecialBlock(ipaddress.ip_network(cidr), name, flag) for cidr, name, flag in rows]
    # Most specific first: the first block holding an address decides.
    return tuple(sorted(blocks, key=lambda block: -block.network.prefixlen))


SPECIAL_BLOCKS: tuple[SpecialBlock, ...] = _table(IPV4_SPECIAL) + _table(IPV6_SPECIAL)


class TargetRefused(Exception):
    """The URL's host is, or resolves to, an address the service may not reach."""


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class CheckedTarget:
    """A URL that passed the check, and the addresses (all checked) its host has now."""

    target: Target
    addresses: tuple[IpAddress, ...]


def block_of(address: IpAddress) -> SpecialBlock | None:
    """The most specific block of the table holding ``address`` (None: ordinary IPv4)."""
    for block in SPECIAL_BLOCKS:
        if block.network.version == address.version and address in block.network:
            return block
    return None


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address carries (IPv4-mapped, NAT64, 6to4, Teredo)."""
    if address.ipv4_mapped is not None:
        return (address.ipv4_mapped,)
    if address.sixtofour is not None:
        return (address.sixtofour,)
    if address.teredo is not None:
        return address.teredo  # (server, client)
    if address in _NAT64:
        return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    return ()


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def is_public(address: IpAddress) -> bool:
    """Whether IANA's registries call ``address`` globally reachable (looking inside IPv6
    forms that embed an IPv4 address)."""
    block = block_of(address)
    if block is None:
        return True
    if block.globally_reachable is None:
        assert isinstance(address, ipaddress.IPv6Address)
        inner = embedded_ipv4(address)
        return bool(inner) and all(is_public(v4) for v4 in inner)
    return block.globally_reachable


def url_problem(url: object) -> str | None:
    """Why ``url`` can't be an outbound URL (a field message), or None."""
    if not isinstance(url, str) or not url.strip():
        return "can't be blank"
    if len(url) > MAX_URL_LENGTH:
        return f"is too long (maximum is {MAX_URL_LENGTH} characters)"
    # urlsplit drops tabs and line breaks silently: refuse every control character
    # (C0, DEL, C1) and whitespace before it sees the URL.
    if any(char.isspace() or ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is invalid"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http or https URL"
    if parts.username or parts.password:
        return "must not contain credentials"
    if port == 0:
        return "must not use port 0"
    return None


def target_of(url: str) -> Target:
    parts = urlsplit(url)
    assert parts.hostname is not None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return Target(parts.scheme, parts.hostname, port)


async def resolve(target: Target) -> tuple[IpAddress, ...]:
    """The host's addresses (a literal is its own); raises TargetRefused."""
    try:
        return (ipaddress.ip_address(target.host),)
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM
        )
    except (OSError, UnicodeError) as exc:
        raise TargetRefused("host can't be resolved") from exc
    # A scoped IPv6 answer (fe80::1%eth0) is checked without its scope.
    found = tuple(
        dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos)
    )
    if not found:
        raise TargetRefused("host can't be resolved")
    return found


async def check_target(url: object, *, allow_private: bool) -> CheckedTarget:
    """The one check of an outbound URL: its form, then every address its host resolves
    to (all public unless ``allow_private``). Raises TargetRefused with a field message."""
    problem = url_problem(url)
    if problem is not None:
        raise TargetRefused(problem)
    assert isinstance(url, str)
    target = target_of(url)
    addresses = await resolve(target)
    if not allow_private and not all(is_public(address) for address in addresses):
        raise TargetRefused("must not point to a private, loopback or link-local address")
    return CheckedTarget(target, addresses)
