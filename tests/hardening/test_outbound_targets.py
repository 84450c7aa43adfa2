"""Outbound targets (webhooks): public addresses only, judged by IANA's special-purpose
registries, looking inside IPv6 forms that carry an IPv4 address; the same check at
registration (REST and GraphQL) and at delivery, after DNS resolution."""

from __future__ import annotations

import ipaddress
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinic_availability.app import create_app
from clinic_availability.webhook_dispatch import WebhookDispatcher
from common.event_hub import EventHub
from common.settings import Settings
from models.integrations.webhooks import Claim, new_secret
from models.platform.outbound_targets import (
    IPV4_SPECIAL,
    IPV6_SPECIAL,
    SPECIAL_BLOCKS,
    TargetRefused,
    check_target,
    is_public,
    url_problem,
)
from models.platform.sessions import create_sessionmaker
from tests.factories import BASE

HOOKS = f"{BASE}/webhooks"
SECRET = new_secret()
PRIVATE = "must not point to a private, loopback or link-local address"
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))

# Known answers, written out by hand (not read from the table under test).
REFUSED_ADDRESSES = [
    "100.100.100.200",  # a cloud metadata address in 100.64.0.0/10
    "100.64.0.1",
    "192.88.99.1",  # deprecated 6to4 relay anycast
    "::ffff:100.100.100.200",
    "::ffff:127.0.0.1",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b::7f00:1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo: client 192.0.2.45
    "2001:db8::1",
    "3fff::1",
    "5f00::1",
    "fec0::1",
    "ff02::1",
    "::7f00:1",  # IPv4-compatible (deprecated)
    "0.0.0.0",
    "224.0.0.1",
    "192.0.0.170",
    "198.18.0.1",
    "255.255.255.255",
]
PUBLIC_ADDRESSES = [
    "8.8.8.8",
    "1.1.1.1",
    "192.0.0.9",
    "192.31.196.1",
    "::ffff:8.8.8.8",
    "2002:808:808::1",  # 6to4 of 8.8.8.8
    "64:ff9b::808:808",
    "2606:4700:4700::1111",
    "2001:4:112::1",
    "2001:1::1",
]

ISSUE_URLS = [
    "http://100.100.100.200/latest/meta-data/",
    "http://100.64.0.1/",
    "http://192.88.99.1/",
    "http://[::ffff:100.100.100.200]/",
    "http://[2002:7f00:1::]/",
    "http://[2002:a9fe:a9fe::]/",
]
MALFORMED_URLS = {
    "http://example.com:0/": "must not use port 0",
    "http://example.com/a\r\nX-Injected: 1": "must not contain spaces or control characters",
    "http://example.com/a\nb": "must not contain spaces or control characters",
    "http://exa\tmple.com/": "must not contain spaces or control characters",
    "http://example.com/\x00": "must not contain spaces or control characters",
    "http://example.com/\x7f": "must not contain spaces or control characters",
    "http://example.com/\x85": "must not contain spaces or control characters",
}


@pytest.mark.parametrize("text", REFUSED_ADDRESSES)
def test_addresses_that_are_not_globally_reachable(text: str) -> None:
    assert not is_public(ipaddress.ip_address(text))


@pytest.mark.parametrize("text", PUBLIC_ADDRESSES)
def test_public_addresses(text: str) -> None:
    assert is_public(ipaddress.ip_address(text))


def test_every_registry_row_is_in_the_table() -> None:
    networks = {str(block.network) for block in SPECIAL_BLOCKS}
    assert networks == {cidr for cidr, _name, _flag in IPV4_SPECIAL + IPV6_SPECIAL}
    for needed in ("100.64.0.0/10", "192.88.99.0/24", "2002::/16", "2001::/32", "64:ff9b::/96"):
        assert needed in networks


def _address_in(network: Any) -> st.SearchStrategy[Any]:
    first, size = int(network.network_address), network.num_addresses
    return st.integers(min_value=0, max_value=size - 1).map(
        lambda offset: (
            ipaddress.ip_address(first + offset)
            if network.version == 4
            else ipaddress.IPv6Address(first + offset)
        )
    )


def _expected(address: Any) -> bool | None:
    """The registry's answer for ``address``: its most specific row (worked out here by
    a plain scan of the raw rows), None where the row embeds an IPv4 address."""
    best: tuple[int, bool | None] | None = None
    for cidr, _name, flag in IPV4_SPECIAL + IPV6_SPECIAL:
        network = ipaddress.ip_network(cidr)
        if network.version == address.version and address in network:
            if best is None or network.prefixlen > best[0]:
                best = (network.prefixlen, flag)
    return True if best is None else best[1]


ROWS = [row for row in IPV4_SPECIAL + IPV6_SPECIAL if row[2] is not None]


@pytest.mark.parametrize("row", ROWS, ids=[row[0] for row in ROWS])
def test_every_range_of_the_table(row: tuple[str, str, bool | None]) -> None:
    network = ipaddress.ip_network(row[0])

    @PROPERTY
    @given(address=_address_in(network))
    def check(address: Any) -> None:
        expected = _expected(address)  # a more specific row may hold it
        if expected is not None:
            assert is_public(address) is expected, (address, row)

    check()


NOT_GLOBAL_V4 = [ipaddress.ip_network(cidr) for cidr, _n, flag in IPV4_SPECIAL if flag is False]
private_v4 = st.sampled_from(NOT_GLOBAL_V4).flatmap(_address_in)
# 1.0.0.0 to 99.255.255.255 but 10.0.0.0/8: public, whatever the table says.
public_v4 = (
    st.integers(min_value=0x01000000, max_value=0x63FFFFFF)
    .filter(lambda value: value >> 24 != 10)
    .map(ipaddress.IPv4Address)
)


def _embeddings(v4: ipaddress.IPv4Address, other: ipaddress.IPv4Address) -> list[Any]:
    value = int(v4)
    return [
        ipaddress.IPv6Address((0xFFFF << 32) | value),  # IPv4-mapped
        ipaddress.IPv6Address((0x64FF9B << 96) | value),  # NAT64 well-known prefix
        ipaddress.IPv6Address((0x2002 << 112) | (value << 80) | 1),  # 6to4
        # Teredo: the IPv4 as server, and (obfuscated) as client, beside a public one.
        ipaddress.IPv6Address((0x20010000 << 96) | (value << 64) | (int(other) ^ 0xFFFFFFFF)),
        ipaddress.IPv6Address((0x20010000 << 96) | (int(other) << 64) | (value ^ 0xFFFFFFFF)),
    ]


@PROPERTY
@given(inner=private_v4, other=public_v4)
def test_ipv6_forms_carrying_a_private_ipv4_are_refused(inner: Any, other: Any) -> None:
    assert not is_public(inner)
    for address in _embeddings(inner, other):
        assert not is_public(address), (address, inner)


@PROPERTY
@given(inner=public_v4, other=public_v4)
def test_ipv6_forms_carrying_public_ipv4_are_public(inner: Any, other: Any) -> None:
    assert is_public(inner)
    for address in _embeddings(inner, other):
        assert is_public(address), (address, inner)


@pytest.mark.parametrize("url", sorted(MALFORMED_URLS))
def test_port_zero_and_control_characters(url: str) -> None:
    assert url_problem(url) == MALFORMED_URLS[url]


async def test_names_are_checked_after_resolution() -> None:
    with pytest.raises(TargetRefused, match=PRIVATE):
        await check_target("http://localhost:8080/x", allow_private=False)
    # An IPv4 spelled as a number resolves to loopback.
    with pytest.raises(TargetRefused, match=PRIVATE):
        await check_target("http://2130706433/x", allow_private=False)
    allowed = await check_target("http://localhost:8080/x", allow_private=True)
    assert allowed.target.port == 8080 and all(not is_public(a) for a in allowed.addresses)
    with pytest.raises(TargetRefused, match="port 0"):
        await check_target("http://localhost:0/x", allow_private=True)


@pytest.fixture
async def strict_client(database_url: str) -> Any:
    app = create_app(Settings(database_url=database_url, token_cache_seconds=0))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    await app.state.engine.dispose()


CREATE = "mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { id secret } }"


@pytest.mark.parametrize("url", ISSUE_URLS + sorted(MALFORMED_URLS))
async def test_registration_refuses_on_both_faces(
    strict_client: Any, auth: Any, db_count: Any, url: str
) -> None:
    message = MALFORMED_URLS.get(url, PRIVATE)
    if "\x00" in url:
        message = "is invalid"  # the faces' shared text check refuses NUL first
    response = await strict_client.post(
        HOOKS, json={"webhook": {"url": url, "events": ["*"]}}, headers=auth
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"]["url"] == [message]
    reply = await strict_client.post(
        "/graphql",
        json={"query": CREATE, "variables": {"input": {"url": url, "events": ["*"]}}},
        headers=auth,
    )
    body = reply.json()
    [error] = body["errors"]
    assert error["extensions"]["code"] == "VALIDATION_FAILED", body
    assert message in str(error["extensions"]), body
    assert body["data"] is None
    assert await db_count("webhooks") == 0


async def test_delivery_checks_again_and_connects_to_the_checked_address(
    database_url: str,
) -> None:
    from models.platform.db import create_engine

    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    engine = create_engine(database_url)
    try:
        claim = Claim(1, 1, "http://100.100.100.200/latest/meta-data/", SECRET, 1, "t", {}, 1)
        results = {}
        for allow in (False, True):
            settings_ = Settings(database_url=database_url, webhook_allow_private_targets=allow)
            dispatcher = WebhookDispatcher(
                create_sessionmaker(engine), settings_, EventHub(database_url)
            )
            async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
                dispatcher._client = client
                results[allow, "metadata"] = await dispatcher.send(claim)
                named = Claim(2, 1, "http://localhost:8080/hook?x=1", SECRET, 1, "t", {}, 1)
                results[allow, "named"] = await dispatcher.send(named)
    finally:
        await engine.dispose()
    # Refused (registered while allowed, the setting changed since): nothing sent.
    assert results[False, "metadata"] == (None, PRIVATE)
    assert results[False, "named"] == (None, PRIVATE)
    assert results[True, "metadata"] == (204, None) and results[True, "named"] == (204, None)
    metadata, named_request = seen
    assert metadata.url.host == "100.100.100.200"
    # The name was resolved and checked; the request goes to that address, not the name.
    assert ipaddress.ip_address(named_request.url.host).is_loopback
    assert named_request.url.port == 8080 and named_request.url.query == b"x=1"
    assert named_request.headers["host"] == "localhost:8080"
