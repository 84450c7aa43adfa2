"""Find a time on both faces: order, filters, every cause in explain, spread, limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from models.platform.entities import AvailableSlot, Hold, HoldStatus, TimeOff
from models.scheduling import appointment_types
from tests.bookings.helpers import book_body
from tests.factories import BOOKS, iso
from tests.find.helpers import FIND, FIND_QUERY, at, day_after, matched_provider
from tests.graphql.helpers import extensions, gql
from tests.graphql.test_statement_count import counted_statements


async def _type(session, key: str = "intake", minutes: int = 50, **fields):
    return await appointment_types.create_type(
        session, {"key": key, "name": key.title(), "duration_minutes": minutes, **fields}
    )


async def test_earliest_options_in_start_order_with_filters(client, auth, factory, session):
    await _type(session, modes=["video", "in_person"])
    day = day_after(3)
    ana = await matched_provider(session, "Ana", states=["CA"], languages=["es-MX"])
    bo = await matched_provider(session, "Bo", states=["CA", "NY"], languages=["en", "ES"])
    cy = await matched_provider(session, "Cy", states=["NY"], languages=["es"])
    di = await matched_provider(session, "Di", keys=["therapy"], states=["CA"], languages=["es"])
    ana_id, bo_id, cy_id, di_id = ana.id, bo.id, cy.id, di.id
    same_hour_bo = (await factory.slot(bo, start=at(day, 9))).id
    same_hour_ana = (await factory.slot(ana, start=at(day, 9))).id
    later_ana = (await factory.slot(ana, start=at(day, 11), appointment_type="intake")).id
    await factory.slot(ana, start=at(day, 13), appointment_type="therapy")  # another type
    await factory.slot(ana, start=at(day, 15), minutes=30)  # too short for 50 minutes
    await factory.slot(cy, start=at(day, 8))  # not licensed in CA
    await factory.slot(di, start=at(day, 8))  # does not offer intake

    params = {
        "appointment_type": "intake",
        "start_date": day.isoformat(),
        "end_date": (day + timedelta(days=1)).isoformat(),
        "licensed_state": "ca",
        "language": "es",
        "mode": "video",
    }
    response = await client.get(FIND, params=params, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["options"]
    assert [item["id"] for item in body["options"]] == [same_hour_ana, same_hour_bo, later_ana]
    assert body["options"][0]["provider"]["last_name"] == "Ana"
    assert body["options"][0]["start_time"] == iso(at(day, 9))

    graph = await gql(
        client,
        FIND_QUERY,
        {
            "input": {
                "appointmentType": "intake",
                "startDate": params["start_date"],
                "endDate": params["end_date"],
                "licensedState": "CA",
                "language": "es",
                "mode": "VIDEO",
                "explain": True,
            }
        },
        auth,
    )
    found = graph["data"]["findAvailability"]
    assert [item["slot"]["id"] for item in found["options"]] == [
        same_hour_ana,
        same_hour_bo,
        later_ana,
    ]
    assert [item["provider"]["id"] for item in found["options"]] == [ana_id, bo_id, ana_id]
    assert found["unavailableProviders"] == [
        {"providerId": cy_id, "ruledOut": "NOT_LICENSED", "slotCounts": []},
        {"providerId": di_id, "ruledOut": "TYPE_NOT_OFFERED", "slotCounts": []},
    ]
    limited = await client.get(FIND, params={**params, "limit": 1}, headers=auth)
    assert [item["id"] for item in limited.json()["options"]] == [same_hour_ana]


async def test_explain_counts_each_slot_by_its_first_cause(client, auth, factory, session):
    await _type(session, minutes=45)
    day = day_after(2)
    start = day.isoformat()
    busy = await matched_provider(session, "Busy", max_bookings_per_day=1, buffer_after_minutes=60)
    quiet = await matched_provider(session, "Quiet")
    away = await matched_provider(session, "Away", minimum_notice_minutes=60 * 24 * 30)
    busy_id, quiet_id, away_id = busy.id, quiet.id, away.id
    booked = await factory.slot(busy, start=at(day, 9))
    await factory.booking(booked, await factory.patient())
    next_to = await factory.slot(busy, start=at(day, 10, 30))  # in the 60 minutes after
    await factory.slot(busy, start=at(day, 14))  # daily limit reached
    closed = await factory.slot(busy, start=at(day, 16))
    held = await factory.slot(busy, start=at(day, 18))
    await factory.slot(busy, start=at(day, 20), minutes=30)  # too short... but daily first
    await session.execute(
        update(AvailableSlot).where(AvailableSlot.id == closed.id).values(admin_closed=True)
    )
    session.add(
        Hold(
            available_slot_id=held.id,
            status=HoldStatus.HELD,
            expires_at=datetime.now(UTC) + timedelta(minutes=10),
        )
    )
    session.add(TimeOff(provider_id=busy_id, start_time=at(day, 19, 30), end_time=at(day, 21)))
    await session.commit()
    await factory.slot(away, start=at(day, 9))
    await factory.slot(away, start=at(day, 11), minutes=30)

    response = await client.get(
        FIND,
        params={
            "appointment_type": "intake",
            "start_date": start,
            "end_date": start,
            "explain": True,
        },
        headers=auth,
    )
    body = response.json()
    assert body["options"] == []
    assert next_to.id  # counted as buffer below
    assert body["unavailable_providers"] == [
        {
            "provider_id": busy_id,
            "ruled_out": None,
            "slot_counts": {
                "time_off": 1,
                "closed": 1,
                "full": 2,
                "buffer": 1,
                "daily_limit": 1,
            },
        },
        {"provider_id": quiet_id, "ruled_out": "no_slots", "slot_counts": {}},
        {"provider_id": away_id, "ruled_out": None, "slot_counts": {"minimum_notice": 2}},
    ]


async def test_spread_gives_each_provider_a_turn(client, auth, factory, session):
    await _type(session, minutes=30)
    day = day_after(4)
    first = await matched_provider(session, "First")
    second = await matched_provider(session, "Second")
    early = [(await factory.slot(first, start=at(day, hour))).id for hour in (8, 9, 10)]
    late = (await factory.slot(second, start=at(day, 15))).id
    params = {
        "appointment_type": "intake",
        "start_date": day.isoformat(),
        "end_date": day.isoformat(),
        "limit": 2,
    }
    plain = await client.get(FIND, params=params, headers=auth)
    assert [item["id"] for item in plain.json()["options"]] == early[:2]
    spread = await client.get(FIND, params={**params, "spread": True}, headers=auth)
    assert [item["id"] for item in spread.json()["options"]] == [early[0], late]
    graph = await gql(
        client,
        FIND_QUERY,
        {
            "input": {
                "appointmentType": "intake",
                "startDate": params["start_date"],
                "endDate": params["end_date"],
                "first": 2,
                "spread": True,
            }
        },
        auth,
    )
    found = graph["data"]["findAvailability"]
    assert [item["slot"]["id"] for item in found["options"]] == [early[0], late]
    assert found["unavailableProviders"] is None


async def test_bad_arguments_are_422(client, auth, session):
    await _type(session, modes=["in_person"])
    day = day_after(1)
    cases = [
        (
            {"start_date": day.isoformat(), "end_date": (day + timedelta(days=31)).isoformat()},
            {"end_date": ["must be at most 31 days after start date"]},
        ),
        ({"appointment_type": "nope"}, {"appointment_type": ["is not included in the list"]}),
        ({"mode": "video"}, {"mode": ["is not offered for the appointment type"]}),
        ({"mode": "fax"}, {"mode": ["is not included in the list"]}),
        ({"licensed_state": "ZZ"}, {"licensed_state": ["is not included in the list"]}),
        ({"language": "not a tag"}, {"language": ["is invalid"]}),
    ]
    base = {
        "appointment_type": "intake",
        "start_date": day.isoformat(),
        "end_date": day.isoformat(),
    }
    for changes, errors in cases:
        response = await client.get(FIND, params={**base, **changes}, headers=auth)
        assert response.status_code == 422, changes
        assert response.json() == {"errors": errors}
    missing = await client.get(FIND, params={}, headers=auth)
    assert missing.json() == {
        "errors": {
            "start_date": ["can't be blank"],
            "end_date": ["can't be blank"],
            "appointment_type": ["can't be blank"],
        }
    }
    body = await gql(
        client,
        FIND_QUERY,
        {
            "input": {
                "appointmentType": "intake",
                "startDate": day.isoformat(),
                "endDate": (day + timedelta(days=40)).isoformat(),
            }
        },
        auth,
    )
    assert extensions(body)["errors"] == {"end_date": ["must be at most 31 days after start date"]}
    bad_date = await gql(
        client,
        FIND_QUERY,
        {"input": {"appointmentType": "intake", "startDate": "2030-02-30", "endDate": "x"}},
        auth,
    )
    assert "Date" in bad_date["errors"][0]["message"]


async def test_a_fixed_few_statements_whatever_the_number_of_providers(
    app, client, auth, factory, session
):
    await _type(session, minutes=30)
    day = day_after(5)
    params = {
        "appointment_type": "intake",
        "start_date": day.isoformat(),
        "end_date": day.isoformat(),
        "explain": True,
        "licensed_state": "CA",
    }
    await client.get(FIND, params=params, headers=auth)  # the token's first use
    counts = []
    for size in (2, 10):
        for index in range(size):
            provider = await matched_provider(session, f"P{size}-{index}", states=["CA"])
            await factory.slot(provider, start=at(day, 8 + index))
        with counted_statements(app) as statements:
            response = await client.get(FIND, params=params, headers=auth)
        assert response.status_code == 200
        counts.append(len(statements))
    # Authentication, the type, the options, the explanation.
    assert counts[0] == counts[1] <= 4, [text[:50] for text in statements]


async def test_one_statement_for_options_and_a_retired_type_still_refused(
    app, client, auth, factory, session
):
    kind = await _type(session, minutes=30)
    day = day_after(5)
    provider = await matched_provider(session, "Ana", states=["CA"])
    slot_id = (await factory.slot(provider, start=at(day, 9))).id
    params = {
        "appointment_type": "intake",
        "start_date": day.isoformat(),
        "end_date": day.isoformat(),
        "licensed_state": "CA",
    }
    await client.get(FIND, params=params, headers=auth)  # the token's first use
    with counted_statements(app) as statements:
        response = await client.get(FIND, params=params, headers=auth)
    assert [item["id"] for item in response.json()["options"]] == [slot_id]
    assert len(statements) == 2, [text[:50] for text in statements]  # the token, the options

    await appointment_types.update_type(session, kind.id, {"active": False})
    retired = await client.get(FIND, params=params, headers=auth)
    assert retired.status_code == 422
    assert retired.json() == {"errors": {"appointment_type": ["is not included in the list"]}}


async def test_a_types_buffers_apply_to_find_and_to_booking_alike(client, auth, factory, session):
    await _type(session, minutes=30, buffer_after_minutes=60)
    day = day_after(3)
    provider = await matched_provider(session, "Plain")  # no buffers of its own
    provider_id = provider.id
    first = await factory.slot(provider, start=at(day, 9), appointment_type="intake")
    near = (await factory.slot(provider, start=at(day, 10, 30), appointment_type="intake")).id
    patients = [(await factory.patient(f"P{i}", "Buffer")).id for i in range(2)]
    booked = await client.post(
        BOOKS, json=book_body(first.id, patients[0], appointment_type="intake"), headers=auth
    )
    assert booked.status_code == 201, booked.text
    params = {
        "appointment_type": "intake",
        "start_date": day.isoformat(),
        "end_date": day.isoformat(),
        "explain": True,
    }
    body = (await client.get(FIND, params=params, headers=auth)).json()
    assert body == {
        "options": [],
        "unavailable_providers": [
            {
                "provider_id": provider_id,
                "ruled_out": None,
                "slot_counts": {"full": 1, "buffer": 1},
            }
        ],
    }
    refused = await client.post(
        BOOKS, json=book_body(near, patients[1], appointment_type="intake"), headers=auth
    )
    assert refused.status_code == 422
    assert refused.json() == {
        "errors": {"available_slot_id": ["is within the buffer of another appointment"]}
    }
    # Without the type, the provider's own rules (no buffers) let the same gap be booked.
    other = (await factory.slot(provider, start=at(day, 10, 10), minutes=15)).id
    assert (
        await client.post(BOOKS, json=book_body(other, patients[1]), headers=auth)
    ).status_code == 201
