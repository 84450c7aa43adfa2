"""Reading slots over REST: the documented shape, the list, its pagination and filters, search."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from clinic_availability.app import create_app
from common.settings import Settings
from models.platform.db import write_transaction
from models.platform.entities import AvailableSlot
from tests.factories import SLOTS, Factory, future, iso

SLOT_KEYS = [
    "id",
    "provider_id",
    "start_time",
    "end_time",
    "appointment_type",
    "available",
    "recurring",
    "recurrence_pattern",
    "created_at",
    "updated_at",
    "provider",
    "capacity",
    "booked_count",
    "resource_kind",
    "resource_id",
]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
LINK = re.compile(r'<([^>]+)>; rel="(\w+)"')


def links(response: httpx.Response) -> dict[str, httpx.URL]:
    return {rel: httpx.URL(url) for url, rel in LINK.findall(response.headers["link"])}


def page_of(url: httpx.URL) -> tuple[str | None, str | None]:
    return url.params.get("page"), url.params.get("page_size")


def ids(response: httpx.Response) -> list[int]:
    return [item["id"] for item in response.json()]


async def past_slot(session: AsyncSession, provider_id: int, start: datetime) -> int:
    """A slot that has already begun: the API refuses to create one, so it is stored directly."""
    async with write_transaction(session):
        row = AvailableSlot(
            provider_id=provider_id,
            start_time=start,
            end_time=start + timedelta(hours=1),
            duration_minutes=60,
        )
        session.add(row)
        await session.flush()
        slot_id = row.id
    return slot_id


async def test_get_returns_the_documented_shape(client, auth, factory: Factory):
    provider = await factory.provider("Dr. Jane", "Smith")
    start = future(30)
    slot = await factory.slot(provider, start=start, appointment_type="therapy")

    response = await client.get(f"{SLOTS}/{slot.id}", headers=auth)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == SLOT_KEYS
    assert list(body["provider"]) == ["id", "first_name", "last_name"]
    assert {key: body[key] for key in SLOT_KEYS[:8]} == {
        "id": slot.id,
        "provider_id": provider.id,
        "start_time": iso(start),
        "end_time": iso(start + timedelta(hours=1)),
        "appointment_type": "therapy",
        "available": True,
        "recurring": False,
        "recurrence_pattern": None,
    }
    assert body["provider"] == {"id": provider.id, "first_name": "Dr. Jane", "last_name": "Smith"}
    for key in ("start_time", "end_time", "created_at", "updated_at"):
        assert TIMESTAMP.match(body[key]), body[key]
    assert body["start_time"].endswith(":00.000Z")


async def test_list_is_a_bare_array_with_pagination_headers(client, auth, factory: Factory):
    provider = await factory.provider()
    starts = [future(24 + 2 * index) for index in range(30)]
    created = [(await factory.slot(provider, start=start)).id for start in reversed(starts)]

    first = await client.get(SLOTS, headers=auth)

    assert first.status_code == 200
    assert isinstance(first.json(), list)
    assert len(first.json()) == 25
    assert [item["start_time"] for item in first.json()] == [iso(s) for s in starts[:25]]
    assert list(first.json()[0]) == SLOT_KEYS
    assert first.headers["x-total-count"] == "30"
    assert first.headers["x-page"] == "1"
    assert first.headers["x-page-size"] == "25"
    assert first.headers["x-total-pages"] == "2"
    rels = links(first)
    assert set(rels) == {"next", "first", "last"}
    assert page_of(rels["next"]) == ("2", "25")
    assert page_of(rels["first"]) == ("1", "25")
    assert page_of(rels["last"]) == ("2", "25")
    assert rels["next"].path == SLOTS

    second = await client.get(str(rels["next"]), headers=auth)

    assert second.status_code == 200
    assert len(second.json()) == 5
    assert second.headers["x-page"] == "2"
    assert set(links(second)) == {"prev", "first", "last"}
    assert page_of(links(second)["prev"]) == ("1", "25")
    assert sorted(ids(first) + ids(second)) == sorted(created)


async def test_list_page_size_and_pages_beyond_the_end(client, auth, factory: Factory):
    provider = await factory.provider()
    for index in range(5):
        await factory.slot(provider, start=future(24 + 2 * index))

    middle = await client.get(SLOTS, params={"page": 2, "page_size": 2}, headers=auth)
    assert len(middle.json()) == 2
    assert middle.headers["x-total-pages"] == "3"
    assert {rel: page_of(url) for rel, url in links(middle).items()} == {
        "next": ("3", "2"),
        "prev": ("1", "2"),
        "first": ("1", "2"),
        "last": ("3", "2"),
    }

    beyond = await client.get(SLOTS, params={"page": 9, "page_size": 2}, headers=auth)
    assert beyond.status_code == 200
    assert beyond.json() == []
    assert beyond.headers["x-total-count"] == "5"
    assert "next" not in links(beyond)
    assert page_of(links(beyond)["prev"]) == ("3", "2")

    largest = await client.get(SLOTS, params={"page_size": 100}, headers=auth)
    assert largest.status_code == 200
    assert len(largest.json()) == 5


async def test_empty_list(client, auth):
    response = await client.get(SLOTS, headers=auth)
    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["x-total-count"] == "0"
    assert response.headers["x-total-pages"] == "1"
    assert set(links(response)) == {"first", "last"}


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"page_size": 101}, {"page_size": ["must be less than or equal to 100"]}),
        ({"page_size": 0}, {"page_size": ["must be greater than or equal to 1"]}),
        ({"page": 0}, {"page": ["must be greater than or equal to 1"]}),
        ({"page": "two"}, {"page": ["is invalid"]}),
        ({"provider_id": "abc"}, {"provider_id": ["is invalid"]}),
        ({"available": "maybe"}, {"available": ["is invalid"]}),
        ({"start_date": "2030-02-30"}, {"start_date": ["is invalid (expected YYYY-MM-DD)"]}),
        ({"end_date": "27/10/2030"}, {"end_date": ["is invalid (expected YYYY-MM-DD)"]}),
        ({"end_date": "9999-12-31"}, {"end_date": ["must be a day of the years 1900 to 2199"]}),
        (
            {"start_date": "2030-10-27", "end_date": "2030-10-26"},
            {"end_date": ["must be on or after start date"]},
        ),
    ],
)
async def test_list_rejects_bad_parameters(client, auth, params, errors):
    response = await client.get(SLOTS, params=params, headers=auth)
    assert response.status_code == 422
    assert response.json() == {"errors": errors}


async def test_list_filters_by_provider_and_availability(client, auth, factory: Factory):
    jane = await factory.provider("Jane", "Smith")
    omar = await factory.provider("Omar", "Haddad")
    open_slot = await factory.slot(jane, start=future(24))
    closed = await factory.slot(jane, start=future(26), available=False)
    other = await factory.slot(omar, start=future(24))

    by_provider = await client.get(SLOTS, params={"provider_id": jane.id}, headers=auth)
    assert ids(by_provider) == [open_slot.id, closed.id]
    assert by_provider.headers["x-total-count"] == "2"
    assert links(by_provider)["first"].params["provider_id"] == str(jane.id)

    available = await client.get(SLOTS, params={"available": "true"}, headers=auth)
    assert sorted(ids(available)) == sorted([open_slot.id, other.id])
    unavailable = await client.get(
        SLOTS, params={"available": "false", "provider_id": jane.id}, headers=auth
    )
    assert ids(unavailable) == [closed.id]
    nobody = await client.get(SLOTS, params={"provider_id": 999_999}, headers=auth)
    assert nobody.json() == []


def local(day: date, hour: int, minute: int, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)


async def test_date_filters_are_utc_days_by_default(client, auth, factory: Factory):
    provider = await factory.provider()
    day = datetime.now(UTC).date() + timedelta(days=3)
    late = await factory.slot(provider, start=local(day, 23, 0, ZoneInfo("UTC")))
    await factory.slot(provider, start=local(day + timedelta(days=1), 0, 0, ZoneInfo("UTC")))
    await factory.slot(provider, start=local(day - timedelta(days=1), 22, 0, ZoneInfo("UTC")))

    response = await client.get(
        SLOTS, params={"start_date": day.isoformat(), "end_date": day.isoformat()}, headers=auth
    )

    assert ids(response) == [late.id]


@pytest.fixture
async def new_york_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"clinic_time_zone": "America/New_York"}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    await app.state.engine.dispose()


async def test_date_filters_follow_the_clinic_time_zone(new_york_client, auth, factory: Factory):
    zone = ZoneInfo("America/New_York")
    provider = await factory.provider()
    day = datetime.now(UTC).date() + timedelta(days=3)
    before = await factory.slot(provider, start=local(day - timedelta(days=1), 23, 0, zone))
    morning = await factory.slot(provider, start=local(day, 0, 0, zone))
    evening = await factory.slot(provider, start=local(day, 22, 30, zone))
    after = await factory.slot(provider, start=local(day + timedelta(days=1), 0, 0, zone))

    one_day = await new_york_client.get(
        SLOTS, params={"start_date": day.isoformat(), "end_date": day.isoformat()}, headers=auth
    )
    from_day = await new_york_client.get(
        SLOTS, params={"start_date": day.isoformat()}, headers=auth
    )
    until_day = await new_york_client.get(SLOTS, params={"end_date": day.isoformat()}, headers=auth)

    # 22:30 in New York is already the next day in UTC; it still belongs to ``day``.
    assert local(day, 22, 30, zone).date() != day
    assert ids(one_day) == [morning.id, evening.id]
    assert ids(from_day) == [morning.id, evening.id, after.id]
    assert ids(until_day) == [before.id, morning.id, evening.id]


async def search(client: httpx.AsyncClient, auth: dict[str, str], **params: Any) -> list[int]:
    response = await client.get(f"{SLOTS}/search", params=params, headers=auth)
    assert response.status_code == 200, response.text
    assert response.headers["x-total-count"] == str(len(response.json()))
    return ids(response)


async def test_search_returns_only_available_future_slots(
    client, auth, factory: Factory, session: AsyncSession
):
    jane = await factory.provider("Jane", "Smith")
    omar = await factory.provider("Omar", "Haddad")
    day = datetime.now(UTC).date() + timedelta(days=2)
    hour = ZoneInfo("UTC")
    therapy = await factory.slot(jane, start=local(day, 9, 0, hour), appointment_type="therapy")
    short = await factory.slot(
        jane, start=local(day, 11, 0, hour), minutes=30, appointment_type="therapy"
    )
    untyped = await factory.slot(jane, start=local(day, 13, 0, hour), minutes=90)
    consult = await factory.slot(
        jane, start=local(day, 15, 0, hour), appointment_type="consultation"
    )
    await factory.slot(jane, start=local(day, 17, 0, hour), available=False)
    next_day = await factory.slot(jane, start=local(day + timedelta(days=1), 9, 0, hour))
    other = await factory.slot(omar, start=local(day, 9, 0, hour), appointment_type="therapy")
    await past_slot(session, jane.id, datetime.now(UTC) - timedelta(hours=3))

    everything = [therapy.id, other.id, short.id, untyped.id, consult.id, next_day.id]
    assert await search(client, auth) == everything
    assert await search(client, auth, provider_id=omar.id) == [other.id]
    assert await search(client, auth, provider_id=jane.id, date=day.isoformat()) == [
        therapy.id,
        short.id,
        untyped.id,
        consult.id,
    ]
    assert await search(client, auth, provider_id=jane.id, duration=45) == [
        therapy.id,
        untyped.id,
        consult.id,
        next_day.id,
    ]
    assert await search(client, auth, duration=61) == [untyped.id]
    # A slot without a type may be booked for any type.
    assert await search(
        client, auth, provider_id=jane.id, date=day.isoformat(), appointment_type="therapy"
    ) == [therapy.id, short.id, untyped.id]


async def test_search_is_paginated(client, auth, factory: Factory):
    provider = await factory.provider()
    for index in range(3):
        await factory.slot(provider, start=future(24 + 2 * index))

    response = await client.get(f"{SLOTS}/search", params={"page_size": 2}, headers=auth)

    assert len(response.json()) == 2
    assert response.headers["x-total-count"] == "3"
    assert response.headers["x-total-pages"] == "2"
    assert page_of(links(response)["next"]) == ("2", "2")
    assert links(response)["next"].path == f"{SLOTS}/search"


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"date": "tomorrow"}, {"date": ["is invalid (expected YYYY-MM-DD)"]}),
        ({"duration": 0}, {"duration": ["must be greater than or equal to 1"]}),
        ({"duration": "long"}, {"duration": ["is invalid"]}),
        ({"appointment_type": "massage"}, {"appointment_type": ["is not included in the list"]}),
        ({"page_size": 101}, {"page_size": ["must be less than or equal to 100"]}),
    ],
)
async def test_search_rejects_bad_parameters(client, auth, params, errors):
    response = await client.get(f"{SLOTS}/search", params=params, headers=auth)
    assert response.status_code == 422
    assert response.json() == {"errors": errors}
