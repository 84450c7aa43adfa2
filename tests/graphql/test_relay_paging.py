"""Relay connections page both ways: ``first``/``after`` and ``last``/``before``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.factories import Factory, future, iso
from tests.graphql.helpers import extensions, gql

PAGE = """
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { %s } }
"""


async def _page(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    field: str,
    node: str,
    arguments: dict[str, Any],
    extra: str,
) -> dict[str, Any]:
    declared = ", ".join(
        f"${name}: {'Int' if name in ('first', 'last') else 'String'}" for name in arguments
    )
    passed = ", ".join([*(f"{name}: ${name}" for name in arguments), *([extra] if extra else [])])
    query = f"query Page({declared}) {{ {field}({passed}) {{ {PAGE % node} }} }}"
    body = await gql(client, query.replace("Page()", "Page"), arguments, auth)
    assert "errors" not in body, body
    page: dict[str, Any] = body["data"][field]
    edges = page["edges"]
    info = page["pageInfo"]
    assert info["startCursor"] == (edges[0]["cursor"] if edges else None)
    assert info["endCursor"] == (edges[-1]["cursor"] if edges else None)
    return page


def _key(node: dict[str, Any]) -> Any:
    return node["provider"]["id"] if "provider" in node and "id" not in node else node["id"]


async def walk(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    field: str,
    *,
    size: int,
    backward: bool,
    node: str = "id",
    extra: str = "",
) -> list[Any]:
    """Every item of the connection, in list order, read page by page in one direction."""
    items: list[Any] = []
    cursor: str | None = None
    while True:
        arguments: dict[str, Any] = {"last" if backward else "first": size}
        if cursor is not None:
            arguments["before" if backward else "after"] = cursor
        page = await _page(client, auth, field, node, arguments, extra)
        keys = [_key(edge["node"]) for edge in page["edges"]]
        info = page["pageInfo"]
        if backward:
            assert info["hasNextPage"] is (cursor is not None)
            items = keys + items
            more, cursor = info["hasPreviousPage"], info["startCursor"]
        else:
            assert info["hasPreviousPage"] is (cursor is not None)
            items = items + keys
            more, cursor = info["hasNextPage"], info["endCursor"]
        assert len(keys) == size or not more
        if not more:
            assert len(items) == page["totalCount"]
            return items


async def both_ways(
    client: httpx.AsyncClient, auth: dict[str, str], field: str, **options: Any
) -> list[Any]:
    forwards = await walk(client, auth, field, size=3, backward=False, **options)
    backwards = await walk(client, auth, field, size=3, backward=True, **options)
    assert backwards == forwards
    # Any page size, and one page holding everything.
    assert await walk(client, auth, field, size=2, backward=True, **options) == forwards
    assert await walk(client, auth, field, size=100, backward=True, **options) == forwards
    return forwards


async def test_slots_page_backwards_in_time_order_with_ties(client, auth, factory: Factory):
    provider = await factory.provider()
    other = await factory.provider("Ann", "Lee")
    start = future(48)
    made = []
    # Two slots at each start (two providers): the id breaks the tie.
    for hour in (0, 3, 1, 4, 2, 5, 6):
        for owner in (provider, other):
            slot = await factory.slot(owner, start=start + timedelta(hours=hour))
            made.append((hour, slot.id, owner.id))
    made.sort()
    assert await both_ways(client, auth, "availableSlots") == [ident for _, ident, _ in made]
    theirs = await both_ways(
        client, auth, "availableSlots", extra=f"filter: {{providerId: {other.id}}}"
    )
    assert theirs == [ident for _, ident, owner in made if owner == other.id]


async def test_search_pages_backwards(client, auth, factory: Factory):
    provider = await factory.provider()
    day = future(72).replace(hour=8, minute=0, second=0, microsecond=0)
    slots = [await factory.slot(provider, start=day + timedelta(hours=h)) for h in range(7)]
    found = await both_ways(
        client, auth, "searchAvailableSlots", extra=f'date: "{day.date().isoformat()}"'
    )
    assert found == [slot.id for slot in slots]


async def test_people_page_backwards(client, auth, factory: Factory):
    providers = [(await factory.provider(f"P{n}")).id for n in range(7)]
    patients = [(await factory.patient(f"Q{n}")).id for n in range(8)]
    assert await both_ways(client, auth, "providers") == providers
    assert await both_ways(client, auth, "patients") == patients


async def test_bookings_page_backwards(client, auth, factory: Factory):
    provider = await factory.provider()
    start = future(30)
    booked = []
    for hour in (3, 1, 2, 0, 5, 4, 6):
        slot = await factory.slot(provider, start=start + timedelta(hours=hour), capacity=2)
        booked.append((hour, (await factory.booking(slot)).id))
        booked.append((hour, (await factory.booking(slot)).id))
    expected = [ident for _, ident in sorted(booked)]
    assert await both_ways(client, auth, "books") == expected


async def test_holds_page_backwards_newest_first(client, auth, factory: Factory):
    holds = []
    for _ in range(7):
        slot = await factory.slot()
        body = await gql(
            client,
            "mutation($slot: Int!) { createHold(input: {availableSlotId: $slot}) { id } }",
            {"slot": slot.id},
            auth,
        )
        holds.append(body["data"]["createHold"]["id"])
    assert await both_ways(client, auth, "holds") == sorted(holds, reverse=True)


async def test_time_offs_page_backwards(client, auth, factory: Factory):
    provider = await factory.provider()
    created = []
    for day in (3, 1, 2, 5, 4, 7, 6):
        start = future(24 * day)
        body = await gql(
            client,
            "mutation($input: CreateTimeOffInput!) { createTimeOff(input: $input) { id } }",
            {
                "input": {
                    "providerId": provider.id,
                    "startTime": iso(start),
                    "endTime": iso(start + timedelta(hours=2)),
                }
            },
            auth,
        )
        created.append((day, body["data"]["createTimeOff"]["id"]))
    expected = [ident for _, ident in sorted(created)]
    assert await both_ways(client, auth, "timeOffs") == expected


async def test_grouped_slots_page_providers_backwards(client, auth, factory: Factory):
    providers = []
    for n in range(7):
        provider = await factory.provider(f"P{n}")
        await factory.slot(provider, start=future(40 + n))
        await factory.slot(provider, start=future(60 + n))
        providers.append(provider.id)
    found = await both_ways(
        client,
        auth,
        "providerAvailableSlots",
        node="provider { id } availableSlots { id startTime }",
    )
    assert found == providers
    body = await gql(
        client,
        "{ providerAvailableSlots(last: 2) { edges { node { provider { id } "
        "availableSlots { startTime } } } } }",
        None,
        auth,
    )
    groups = body["data"]["providerAvailableSlots"]["edges"]
    assert [group["node"]["provider"]["id"] for group in groups] == providers[-2:]
    for group in groups:  # each provider's slots stay in time order
        times = [slot["startTime"] for slot in group["node"]["availableSlots"]]
        assert len(times) == 2 and times == sorted(times)


async def test_last_without_before_is_the_end_of_the_list(client, auth, factory: Factory):
    ids = [(await factory.provider(f"P{n}")).id for n in range(5)]
    body = await gql(
        client,
        "{ providers(last: 2) { pageInfo { hasNextPage hasPreviousPage } nodes { id } } }",
        None,
        auth,
    )
    page = body["data"]["providers"]
    assert [node["id"] for node in page["nodes"]] == ids[-2:]
    assert page["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True}


@pytest.mark.parametrize(
    ("arguments", "errors"),
    [
        ("first: 2, last: 2", {"last": ["cannot be given with first"]}),
        ('first: 2, before: "MQ=="', {"first": ["cannot be given with before"]}),
        ('last: 2, after: "MQ=="', {"after": ["cannot be given with last"]}),
        ('after: "MQ==", before: "Mg=="', {"before": ["cannot be given with after"]}),
        ("last: 0", {"last": ["must be greater than or equal to 1"]}),
        ("last: 101", {"last": ["must be less than or equal to 100"]}),
        ('before: "@@@"', {"before": ["is invalid"]}),
    ],
)
async def test_paging_arguments_are_checked(client, auth, arguments, errors):
    for field in ("availableSlots", "providers"):
        body = await gql(client, f"{{ {field}({arguments}) {{ totalCount }} }}", None, auth)
        assert extensions(body) == {"code": "VALIDATION_FAILED", "status": 422, "errors": errors}
