"""External calendar records: REST and GraphQL twins, secrets kept, input refused cleanly,
audit, and one sync at a time per calendar."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from clinic_availability.calendar_syncs import calendar_syncs, sync_round
from common.calendars import secret_box
from models.integrations import calendar_sync
from models.integrations.calendar_secrets import SecretBox, SecretsUnavailable
from models.integrations.external_calendars import (
    ExternalCalendarInput,
    create_external_calendar,
)
from models.platform.calendar_tables import ExternalCalendar
from models.platform.entities import AuditEntry
from models.platform.errors import ValidationFailed
from models.platform.timeutil import now_utc
from tests.calendars.helpers import calendar_body, calendars_url, connect, stamp, sync, vcalendar
from tests.calendars.servers import Feeds, feed_server
from tests.factories import SLOTS, future
from tests.graphql.helpers import extensions, gql

SECRET_PATH = "/calendar/ical/jsmith%40example.org/private-5b1f0c2e9a7d4e31/basic.ics"
PASSWORD = "app-token-PASSWORD-1c9e"
KEYS = [
    "id",
    "provider_id",
    "kind",
    "name",
    "url",
    "username",
    "sync_interval_seconds",
    "status",
    "last_synced_at",
    "last_attempt_at",
    "last_error",
    "consecutive_failures",
    "next_sync_at",
    "blocked_slot_ids",
    "booked_slot_ids",
    "created_at",
    "updated_at",
]
FIELDS = """
    id nodeId providerId kind name url username syncIntervalSeconds status lastSyncedAt
    lastError consecutiveFailures blockedSlotIds bookedSlotIds
"""


@pytest.fixture
def feeds() -> Iterator[Feeds]:
    with feed_server() as server:
        yield server


def _busy_feed(start, hours: int = 1) -> bytes:
    return vcalendar(
        "\n".join(
            [
                "BEGIN:VEVENT",
                "UID:busy-1",
                "DTSTAMP:20260101T000000Z",
                f"DTSTART:{stamp(start)}",
                f"DTEND:{stamp(start + timedelta(hours=hours))}",
                "SUMMARY:Board meeting",
                "END:VEVENT",
            ]
        )
    )


async def test_rest_create_list_get_delete_keeps_secrets(
    client, auth, factory, session, feeds, caplog
):
    caplog.set_level(logging.DEBUG)
    provider_id = (await factory.provider()).id
    other_id = (await factory.provider("Omar", "Haddad")).id
    feeds.bodies[SECRET_PATH] = _busy_feed(future(30))
    url = feeds.url(SECRET_PATH)

    headers = {**auth, "Idempotency-Key": "connect-calendar-1"}
    body = calendar_body(
        kind="ical", url=url, username="jsmith", password=PASSWORD, name="Personal"
    )
    created = await client.post(calendars_url(provider_id), json=body, headers=headers)
    assert created.status_code == 201, created.text
    calendar = created.json()
    assert list(calendar) == KEYS
    assert calendar["url"] == f"{feeds.base}/…" and calendar["kind"] == "ical"
    assert (calendar["status"], calendar["sync_interval_seconds"]) == ("pending", 300)
    replay = await client.post(calendars_url(provider_id), json=body, headers=headers)
    assert replay.status_code == 201 and replay.json()["id"] == calendar["id"]
    assert replay.headers.get("idempotent-replayed") == "true"

    # Neither the secret address nor the password is stored in clear, shown or logged.
    await session.rollback()
    dumped = " ".join(
        str(row) for row in (await session.execute(text("SELECT * FROM external_calendars")))
    )
    assert "private-5b1f0c2e9a7d4e31" not in dumped and PASSWORD not in dumped
    stored = await session.get(ExternalCalendar, calendar["id"])
    assert stored is not None
    opened = SecretBox("calendar-test-key-1").open(stored.credentials)
    assert (opened.url, opened.password) == (url, PASSWORD)
    assert PASSWORD not in repr(opened)
    with pytest.raises(SecretsUnavailable):
        SecretBox("another-key").open(stored.credentials)

    listed = await client.get(calendars_url(provider_id), headers=auth)
    assert listed.status_code == 200 and [item["id"] for item in listed.json()] == [calendar["id"]]
    assert listed.headers["x-total-count"] == "1"
    got = await client.get(f"{calendars_url(provider_id)}/{calendar['id']}", headers=auth)
    assert got.json() == calendar
    synced = await sync(client, auth, provider_id, calendar["id"])
    for reply in (created, replay, listed, got):
        assert PASSWORD not in reply.text and "private-5b1f" not in reply.text
    assert PASSWORD not in caplog.text and "private-5b1f" not in caplog.text
    assert synced["status"] == "ok"

    # Another provider's path does not reach it.
    assert (
        await client.get(f"{calendars_url(other_id)}/{calendar['id']}", headers=auth)
    ).status_code == 404
    assert (await client.get(calendars_url(999_999), headers=auth)).status_code == 404
    missing = await client.post(calendars_url(999_999), json=body, headers=auth)
    assert missing.status_code == 404

    deleted = await client.delete(f"{calendars_url(provider_id)}/{calendar['id']}", headers=auth)
    assert deleted.status_code == 204
    assert (
        await client.get(f"{calendars_url(provider_id)}/{calendar['id']}", headers=auth)
    ).status_code == 404
    await session.rollback()
    audit = (
        await session.execute(
            select(AuditEntry.action).where(
                AuditEntry.entity == "external_calendar", AuditEntry.entity_id == calendar["id"]
            )
        )
    ).scalars()
    assert sorted(audit) == ["create", "delete"]  # syncs are no admin change


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({}, {"kind": ["can't be blank"], "url": ["can't be blank"]}),
        (
            {"kind": "exchange", "url": "ftp://example.org/cal"},
            {
                "kind": ["is not included in the list"],
                "url": ["must be an http or https URL"],
            },
        ),
        (
            {"kind": "ical", "url": "https://user:pw@example.org/x.ics"},
            {"url": ["must not contain credentials"]},
        ),
        (
            {"kind": "caldav", "url": "https://127.0.0.1/", "sync_interval_seconds": 5},
            {"sync_interval_seconds": ["must be greater than or equal to 60"]},
        ),
        (
            {"kind": "caldav", "url": "https://127.0.0.1/", "password": 12, "name": "x" * 201},
            {"password": ["is invalid"], "name": ["is too long (maximum is 200 characters)"]},
        ),
    ],
)
async def test_bad_input_is_a_422_and_writes_nothing(
    client, auth, factory, db_count, fields, errors
):
    provider_id = (await factory.provider()).id
    reply = await client.post(
        calendars_url(provider_id), json=calendar_body(**fields), headers=auth
    )
    assert reply.status_code == 422 and reply.json() == {"errors": errors}
    no_root = await client.post(calendars_url(provider_id), json=fields, headers=auth)
    assert no_root.status_code == 422
    assert await db_count("external_calendars") == 0


async def test_private_addresses_refused_unless_allowed(factory, session):
    provider_id = (await factory.provider()).id
    data = ExternalCalendarInput(kind="caldav", url="http://127.0.0.1:5232/jsmith/work/")
    with pytest.raises(ValidationFailed) as refused:
        await create_external_calendar(
            session, provider_id, data, box=SecretBox("k"), allow_private=False
        )
    assert refused.value.fields == {
        "url": ["must not point to a private, loopback or link-local address"]
    }
    with pytest.raises(ValidationFailed) as keyless:
        await create_external_calendar(
            session, provider_id, data, box=SecretBox(""), allow_private=True
        )
    assert keyless.value.fields == {
        "credentials": ["can't be stored until CALENDAR_SECRET_KEYS is set"]
    }


async def test_graphql_twins_match_rest(client, auth, factory, feeds):
    provider = await factory.provider()
    provider_id = provider.id
    start = future(30)
    slot_id = (await factory.slot(provider, start=start)).id
    booked = await factory.slot(provider, start=start + timedelta(hours=1))
    booked_id = booked.id
    await factory.booking(booked)
    feeds.bodies["/twins.ics"] = _busy_feed(start, hours=2)

    rest = await connect(client, auth, provider_id, kind="ical", url=feeds.url("/twins.ics"))
    rest_synced = await sync(client, auth, provider_id, rest["id"])

    created = await gql(
        client,
        f"""mutation($input: CreateExternalCalendarInput!) {{
            createExternalCalendar(input: $input) {{ {FIELDS} }} }}""",
        {
            "input": {
                "providerId": provider_id,
                "kind": "ICAL",
                "url": feeds.url("/twins.ics"),
                "password": PASSWORD,
            }
        },
        auth,
    )
    assert "errors" not in created, created
    node = created["data"]["createExternalCalendar"]
    assert node["status"] == "PENDING" and node["url"] == f"{feeds.base}/…"
    synced = await gql(
        client,
        f"mutation($id: Int!) {{ syncExternalCalendar(id: $id) {{ {FIELDS} }} }}",
        {"id": node["id"]},
        auth,
    )
    graph = synced["data"]["syncExternalCalendar"]
    assert graph["status"] == "OK" and graph["lastError"] is None
    assert (
        (graph["blockedSlotIds"], graph["bookedSlotIds"])
        == (
            rest_synced["blocked_slot_ids"],
            rest_synced["booked_slot_ids"],
        )
        == ([slot_id], [booked_id])
    )

    listed = await gql(
        client,
        f"""query($p: Int!) {{ externalCalendars(providerId: $p, first: 1) {{
            totalCount pageInfo {{ hasNextPage endCursor }} nodes {{ {FIELDS} }} }} }}""",
        {"p": provider_id},
        auth,
    )
    page = listed["data"]["externalCalendars"]
    assert page["totalCount"] == 2 and page["pageInfo"]["hasNextPage"] is True
    assert page["nodes"][0]["id"] == rest["id"]
    refetched = await gql(
        client,
        "query($n: ID!) { node(nodeId: $n) { ... on ExternalCalendar { id blockedSlotIds } } }",
        {"n": graph["nodeId"]},
        auth,
    )
    assert refetched["data"]["node"] == {"id": node["id"], "blockedSlotIds": [slot_id]}

    bad = await gql(
        client,
        "mutation($input: CreateExternalCalendarInput!) { "
        "createExternalCalendar(input: $input) { id } }",
        {"input": {"providerId": provider_id, "kind": "CALDAV", "url": "gopher://x"}},
        auth,
    )
    assert extensions(bad)["errors"] == {"url": ["must be an http or https URL"]}

    for calendar_id in (rest["id"], node["id"]):
        gone = await gql(
            client,
            "mutation($id: Int!) { deleteExternalCalendar(id: $id) { id deleted } }",
            {"id": calendar_id},
            auth,
        )
        assert gone["data"]["deleteExternalCalendar"] == {"id": calendar_id, "deleted": True}
    reply = await client.get(f"{SLOTS}/{slot_id}", headers=auth)
    assert reply.json()["available"] is True
    missing = await gql(client, "mutation { syncExternalCalendar(id: 999999) { id } }", None, auth)
    assert extensions(missing)["code"] == "NOT_FOUND"


async def test_find_names_external_busy_as_the_cause(client, auth, factory, feeds):
    provider = await factory.provider()
    provider_id = provider.id
    start = future(30)
    await factory.slot(provider, start=start, appointment_type="therapy", minutes=50)
    feeds.bodies["/find.ics"] = _busy_feed(start)
    calendar = await connect(client, auth, provider_id, kind="ical", url=feeds.url("/find.ics"))
    await sync(client, auth, provider_id, calendar["id"])
    day = start.date().isoformat()
    found = await gql(
        client,
        """query($d: Date!) { findAvailability(input: {appointmentType: "therapy",
            startDate: $d, endDate: $d, explain: true}) { options { slot { id } }
            unavailableProviders { providerId slotCounts { cause count } } } }""",
        {"d": day},
        auth,
    )
    assert "errors" not in found, found
    result = found["data"]["findAvailability"]
    assert result["options"] == []
    assert {"cause": "EXTERNAL_BUSY", "count": 1} in result["unavailableProviders"][0]["slotCounts"]


async def test_one_sync_at_a_time_per_calendar(app, settings, factory, session, feeds):
    provider_id = (await factory.provider()).id
    feeds.bodies["/lease.ics"] = _busy_feed(future(30))
    box = secret_box(settings)
    created = await create_external_calendar(
        session,
        provider_id,
        ExternalCalendarInput(kind="ical", url=feeds.url("/lease.ics")),
        box=box,
        allow_private=True,
    )
    calendar_id = created.id
    options = calendar_sync.SyncOptions(allow_private=True)
    moment = now_utc() + timedelta(seconds=1)
    async with app.state.sessionmaker() as first, app.state.sessionmaker() as second:
        taken = await calendar_sync.claim(
            first, calendar_id, owner="a", options=options, due_only=True, now=moment
        )
        again = await calendar_sync.claim(
            second, calendar_id, owner="b", options=options, due_only=False, now=moment
        )
        assert taken is not None and again is None
        # Once the lease ran out, another process takes over; the first one's late
        # outcome is then dropped.
        expired = moment + timedelta(seconds=options.lease_seconds + 1)
        later = await calendar_sync.claim(
            second, calendar_id, owner="b", options=options, due_only=False, now=expired
        )
        assert later is not None
        kept = await calendar_sync._store(
            first,
            taken,
            owner="a",
            fetched=None,
            intervals=None,
            error="timeout",
            horizon_end=expired,
            options=options,
        )
        assert kept is False

    # A round of the background syncs skips a calendar held elsewhere...
    assert await sync_round(app.state.sessionmaker, settings) == 0
    await session.execute(
        text("UPDATE external_calendars SET lease_owner = NULL, lease_until = NULL")
    )
    await session.commit()
    # ...and syncs those due, several rounds at once reading each calendar once.
    runs = await asyncio.gather(*(sync_round(app.state.sessionmaker, settings) for _ in range(3)))
    assert sum(runs) == 1 and len(feeds.requests) == 1
    await session.rollback()
    stored: Any = await session.get(ExternalCalendar, calendar_id, populate_existing=True)
    assert stored.last_synced_at is not None and stored.lease_owner is None
    assert stored.next_sync_at > stored.last_synced_at


async def test_server_process_syncs_in_the_background_unless_turned_off(
    app, settings, factory, session, feeds
):
    provider_id = (await factory.provider()).id
    feeds.bodies["/background.ics"] = _busy_feed(future(30))
    created = await create_external_calendar(
        session,
        provider_id,
        ExternalCalendarInput(kind="ical", url=feeds.url("/background.ics")),
        box=secret_box(settings),
        allow_private=True,
    )
    calendar_id = created.id
    off = settings.model_copy(update={"calendar_sync": False})
    async with calendar_syncs(app.state.sessionmaker, off, poll=0.05):
        await asyncio.sleep(0.5)
    assert feeds.requests == []

    on = settings.model_copy(update={"calendar_sync": True})
    async with calendar_syncs(app.state.sessionmaker, on, poll=0.05):
        deadline = asyncio.get_running_loop().time() + 30  # a hang guard only
        while True:
            await session.rollback()
            stored: Any = await session.get(ExternalCalendar, calendar_id, populate_existing=True)
            if stored.last_synced_at is not None:
                break
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
    assert len(feeds.requests) == 1 and stored.last_error is None


async def test_every_read_checks_the_address_again(app, settings, factory, session, feeds):
    provider_id = (await factory.provider()).id
    feeds.bodies["/checked.ics"] = _busy_feed(future(30))
    box = secret_box(settings)
    created = await create_external_calendar(
        session,
        provider_id,
        ExternalCalendarInput(kind="ical", url=feeds.url("/checked.ics")),
        box=box,
        allow_private=True,
    )
    calendar_id = created.id
    strict = calendar_sync.SyncOptions(allow_private=False)
    assert await calendar_sync.sync_calendar(
        session, calendar_id, box=box, options=strict, owner="t"
    )
    await session.rollback()
    stored: Any = await session.get(ExternalCalendar, calendar_id, populate_existing=True)
    assert stored.last_error == (
        "address refused: must not point to a private, loopback or link-local address"
    )
    assert feeds.requests == []
