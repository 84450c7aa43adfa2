"""GET /books: bare array, pagination headers, filters, notes unless left out."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from models.booking.bookings import (
    BookingFilters,
    booking_page_rows,
    booking_query,
    cancel_booking,
)
from models.platform.entities import Booking
from tests.bookings.conftest import CANARY
from tests.bookings.helpers import BOOK_KEYS, LIST_KEYS
from tests.factories import BOOKS, future


@pytest.fixture
async def clinic(factory):
    """Two providers, two patients, four bookings on two days (one cancelled)."""
    jane = await factory.provider()
    omar = await factory.provider("Omar", "Haddad")
    alex = await factory.patient()
    sam = await factory.patient("Sam", "Okafor")
    day1 = future(48, minute=0).replace(hour=9)
    day2 = day1 + timedelta(days=1)
    b1 = await factory.booking(await factory.slot(jane, start=day1), alex, notes=CANARY)
    b2 = await factory.booking(await factory.slot(omar, start=day1), sam, notes=CANARY)
    b3 = await factory.booking(await factory.slot(jane, start=day2), sam, notes=CANARY)
    b4 = await factory.booking(
        await factory.slot(omar, start=day2 + timedelta(hours=2)), alex, notes=CANARY
    )
    await cancel_booking(factory.session, b4.id)
    return {
        "jane": jane,
        "omar": omar,
        "alex": alex,
        "sam": sam,
        "day1": day1.date().isoformat(),
        "day2": day2.date().isoformat(),
        "ids": [b1.id, b2.id, b3.id, b4.id],
    }


def ids(response):
    return [book["id"] for book in response.json()]


async def test_list_is_a_bare_array_of_documented_books(client, auth, clinic):
    response = await client.get(BOOKS, headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list)
    assert ids(response) == clinic["ids"]  # appointment order
    assert all(list(book) == BOOK_KEYS for book in body)
    assert {book["notes"] for book in body} == {CANARY}
    assert response.headers["X-Total-Count"] == "4"
    assert response.headers["X-Page"] == "1"
    assert response.headers["X-Page-Size"] == "25"
    assert response.headers["X-Total-Pages"] == "1"


async def test_include_notes_false_leaves_the_key_out(client, auth, clinic):
    response = await client.get(BOOKS, params={"include_notes": "false"}, headers=auth)
    assert response.status_code == 200
    assert ids(response) == clinic["ids"]
    assert all(list(book) == LIST_KEYS for book in response.json())
    assert CANARY not in response.text


async def test_include_notes(client, auth, clinic):
    response = await client.get(BOOKS, params={"include_notes": "true"}, headers=auth)
    assert all(list(book) == BOOK_KEYS for book in response.json())
    assert {book["notes"] for book in response.json()} == {CANARY}


async def test_pages(client, auth, clinic):
    first = await client.get(BOOKS, params={"page_size": 3}, headers=auth)
    second = await client.get(BOOKS, params={"page_size": 3, "page": 2}, headers=auth)
    assert ids(first) + ids(second) == clinic["ids"]
    assert first.headers["X-Total-Pages"] == "2"
    assert 'rel="next"' in first.headers["Link"]
    assert 'rel="prev"' in second.headers["Link"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (lambda c: {"provider_id": c["jane"].id}, [0, 2]),
        (lambda c: {"patient_id": c["sam"].id}, [1, 2]),
        (lambda c: {"status": "cancelled"}, [3]),
        (lambda c: {"status": "confirmed", "provider_id": c["omar"].id}, [1]),
        (lambda c: {"start_date": c["day2"]}, [2, 3]),
        (lambda c: {"end_date": c["day1"]}, [0, 1]),
        (lambda c: {"start_date": c["day1"], "end_date": c["day1"]}, [0, 1]),
    ],
)
async def test_filters(client, auth, clinic, params, expected):
    response = await client.get(BOOKS, params=params(clinic), headers=auth)
    assert response.status_code == 200
    assert ids(response) == [clinic["ids"][i] for i in expected]
    assert response.headers["X-Total-Count"] == str(len(expected))


async def test_filter_by_slot(client, auth, factory, clinic):
    booking = await factory.session.get(Booking, clinic["ids"][2])
    response = await client.get(
        BOOKS, params={"available_slot_id": booking.available_slot_id}, headers=auth
    )
    assert ids(response) == [clinic["ids"][2]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "lost"}, {"status": ["is not included in the list"]}),
        ({"start_date": "27-10-2023"}, {"start_date": ["is invalid (expected YYYY-MM-DD)"]}),
        (
            {"start_date": "2030-01-02", "end_date": "2030-01-01"},
            {"end_date": ["must be on or after start date"]},
        ),
        ({"page_size": 101}, {"page_size": ["must be less than or equal to 100"]}),
        ({"provider_id": "x"}, {"provider_id": ["is invalid"]}),
    ],
)
async def test_bad_filters_are_422(client, auth, params, expected):
    response = await client.get(BOOKS, params=params, headers=auth)
    assert response.status_code == 422
    assert response.json() == {"errors": expected}


async def test_list_needs_admin(client):
    response = await client.get(BOOKS)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("filters", "slots_first"),
    [
        ({}, True),
        ({"provider_id": 1, "start_date": date(2030, 1, 1)}, True),
        ({"patient_id": 1}, False),
        ({"available_slot_id": 1}, False),
        ({"status": "confirmed"}, False),
    ],
)
async def test_a_page_without_a_narrow_filter_walks_slots_in_start_order(
    session, filters, slots_first
):
    """On SQLite an unfiltered page (or a provider's, or a window's) reads slots from a
    start-ordered index and stops after the page, instead of sorting every booking (a
    1,000,000-slot clinic's first page of bookings took 100 ms that way). A patient's, a
    slot's or a status's bookings are few: those pages start from the bookings."""
    shape, _params = booking_query(BookingFilters(**filters), ZoneInfo("UTC"))
    compiled = booking_page_rows(shape).limit(50).compile(dialect=session.bind.dialect)
    sql = str(compiled)
    if session.bind.dialect.name != "sqlite":
        assert "CROSS JOIN" not in sql
        return
    assert ("available_slots CROSS JOIN bookings" in sql) is slots_first
    connection = await session.connection()
    plan = await connection.exec_driver_sql(
        f"EXPLAIN QUERY PLAN {sql}", tuple([None] * len(compiled.positiontup or ()))
    )
    steps = [row[3] for row in plan]
    reads = [step for step in steps if step.startswith(("SCAN", "SEARCH"))]
    if slots_first:
        assert reads[0].split()[1] == "available_slots", steps
        assert not any("B-TREE FOR ORDER BY" in step for step in steps), steps
    else:
        assert not reads[0].startswith("SCAN available_slots"), steps
