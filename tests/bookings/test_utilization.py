"""Utilization over clinic days, by REST and GraphQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models.booking.bookings import cancel_booking
from tests.bookings.conftest import CANARY
from tests.factories import BASE, future
from tests.graphql.helpers import extensions, gql

UTILIZATION = f"{BASE}/providers/utilization"


@pytest.fixture
async def week(factory):
    """Jane: 4 slots (2 booked, 1 open of 30 min, 1 blocked); Omar: 1 open; one outside."""
    jane = await factory.provider()
    omar = await factory.provider("Omar", "Haddad")
    day = future(48, minute=0).replace(hour=9)
    booked = await factory.slot(jane, start=day)
    await factory.booking(booked, notes=CANARY)
    also_booked = await factory.slot(jane, start=day + timedelta(hours=1), minutes=90)
    await factory.booking(also_booked)
    await factory.slot(jane, start=day + timedelta(hours=3), minutes=30)
    await factory.slot(jane, start=day + timedelta(hours=4), available=False)
    freed = await factory.slot(omar, start=day)
    cancelled = await factory.booking(freed)
    await cancel_booking(factory.session, cancelled.id)
    await factory.slot(jane, start=day + timedelta(days=10))
    return {"jane": jane.id, "omar": omar.id, "day": day.date()}


def _params(week, **extra):
    return {"start_date": week["day"].isoformat(), "end_date": week["day"].isoformat(), **extra}


async def test_rest_report(client, auth, week):
    response = await client.get(UTILIZATION, params=_params(week), headers=auth)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["start_date"] == report["end_date"] == week["day"].isoformat()
    assert report["time_zone"] == "UTC"
    omar, jane = report["providers"]  # ordered by last name
    assert jane == {
        "provider_id": week["jane"],
        "first_name": "Jane",
        "last_name": "Smith",
        "total_slots": 4,
        "booked_slots": 2,
        "open_slots": 1,
        "blocked_slots": 1,
        "booked_minutes": 150,
        "open_minutes": 30,
        "utilization_rate": round(150 / 180, 4),
        "booked_seats": 2,
        "open_seats": 1,
    }
    assert omar["provider_id"] == week["omar"]
    assert (omar["total_slots"], omar["booked_slots"], omar["open_slots"]) == (1, 0, 1)
    assert omar["utilization_rate"] == 0.0
    assert report["totals"] == {
        "total_slots": 5,
        "booked_slots": 2,
        "open_slots": 2,
        "blocked_slots": 1,
        "booked_minutes": 150,
        "open_minutes": 90,
        "utilization_rate": 0.625,
        "booked_seats": 2,
        "open_seats": 2,
    }


async def test_one_provider_and_an_empty_range(client, auth, week):
    only = await client.get(
        UTILIZATION, params=_params(week, provider_id=week["omar"]), headers=auth
    )
    assert [p["provider_id"] for p in only.json()["providers"]] == [week["omar"]]
    later = (week["day"] + timedelta(days=3)).isoformat()
    empty = await client.get(
        UTILIZATION,
        params={"start_date": later, "end_date": later, "provider_id": week["jane"]},
        headers=auth,
    )
    jane = empty.json()["providers"][0]
    assert (jane["total_slots"], jane["utilization_rate"]) == (0, 0.0)
    assert empty.json()["totals"]["total_slots"] == 0


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, {"start_date": ["can't be blank"], "end_date": ["can't be blank"]}),
        (
            {"start_date": "2030-01-01", "end_date": "x"},
            {"end_date": ["is invalid (expected YYYY-MM-DD)"]},
        ),
        (
            {"start_date": "2030-01-01", "end_date": "2031-06-01"},
            {"end_date": ["must be at most 366 days after start date"]},
        ),
        (
            {"start_date": "2030-01-01", "end_date": "2030-01-02", "provider_id": 999999},
            {"provider_id": ["must exist"]},
        ),
    ],
)
async def test_rest_validation(client, auth, params, expected):
    response = await client.get(UTILIZATION, params=params, headers=auth)
    assert response.status_code == 422
    assert response.json() == {"errors": expected}


async def test_graphql_matches_rest(client, auth, week):
    query = """
    query($s: Date!, $e: Date!, $p: Int) {
      utilization(startDate: $s, endDate: $e, providerId: $p) {
        startDate endDate timeZone
        providers { providerId firstName lastName numbers {
          totalSlots bookedSlots openSlots blockedSlots bookedMinutes openMinutes
          utilizationRate } }
        totals { totalSlots bookedSlots openSlots blockedSlots bookedMinutes openMinutes
                 utilizationRate }
      }
    }
    """
    day = week["day"].isoformat()
    body = await gql(client, query, {"s": day, "e": day}, auth)
    rest = (await client.get(UTILIZATION, params=_params(week), headers=auth)).json()
    data = body["data"]["utilization"]
    assert data["totals"]["bookedMinutes"] == rest["totals"]["booked_minutes"] == 150
    assert data["totals"]["utilizationRate"] == rest["totals"]["utilization_rate"]
    assert [p["providerId"] for p in data["providers"]] == [
        p["provider_id"] for p in rest["providers"]
    ]
    assert [p["numbers"]["openMinutes"] for p in data["providers"]] == [
        p["open_minutes"] for p in rest["providers"]
    ]
    bad = await gql(client, query, {"s": day, "e": "nope"}, auth)
    assert extensions(bad)["errors"] == {"date": ["must be a calendar day, YYYY-MM-DD"]}
    out_of_range = await gql(client, query, {"s": day, "e": "9999-12-31"}, auth)
    assert extensions(out_of_range)["errors"] == {
        "date": ["must be a day of the years 1900 to 2199"]
    }
    assert (data["startDate"], data["endDate"]) == (day, day)


async def test_needs_admin(client):
    response = await client.get(UTILIZATION, params={"start_date": "2030-01-01"})
    assert response.status_code == 401
