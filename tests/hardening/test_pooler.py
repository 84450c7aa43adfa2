"""Behind PgBouncer in transaction mode (DATABASE_POOLER=transaction): REST and GraphQL
reads and writes, a booking race and a subscription all pass through the pooler, with
LISTEN on the direct connection (DATABASE_DIRECT_URL)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from clinic_availability.app import create_app
from common.event_hub import EventHub
from common.settings import Settings
from models.platform.db import create_engine
from models.platform.events import NOTIFY_CHANNEL
from models.platform.sessions import create_sessionmaker
from models.platform.users import create_user
from models.scheduling import people
from tests.conftest import TABLES, _admin_execute
from tests.events.live_client import acked, live_socket, next_events, serving, subscribe
from tests.factories import BOOKS, SLOTS, future, iso
from tests.pooler import pgbouncer

RACERS = 20


@pytest.fixture(scope="module")
def bouncer(postgres_url: str) -> Iterator[int]:
    direct = make_url(postgres_url)
    with pgbouncer(direct.host or "127.0.0.1", direct.port or 5432, direct.username or "") as port:
        yield port


@pytest.fixture
def pooled(postgres_url: str, bouncer: int) -> Settings:
    asyncio.run(_admin_execute(postgres_url, f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    url = make_url(postgres_url).set(port=bouncer).render_as_string(hide_password=False)
    return Settings(
        database_url=url,
        database_pooler="transaction",
        database_direct_url=postgres_url,
        token_cache_seconds=0,
        webhook_dispatcher=False,
    )


async def _seed(settings: Settings) -> tuple[str, int, list[int]]:
    engine = create_engine(settings.database_url, behind_pooler=True)
    try:
        async with create_sessionmaker(engine)() as session:
            _user, token = await create_user(session, role="admin", first_name="P", last_name="B")
            provider = await people.create_provider(session, first_name="A", last_name="B")
            patients = [
                (await people.create_patient(session, first_name="P", last_name=str(n))).id
                for n in range(RACERS)
            ]
            return token, provider.id, patients
    finally:
        await engine.dispose()


async def test_without_the_setting_the_pooler_refuses_the_connection(pooled: Settings) -> None:
    # The control: a session setting sent at connect is refused by PgBouncer.
    engine = create_engine(pooled.database_url)
    try:
        with pytest.raises(Exception, match="unsupported startup parameter"):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


async def test_reads_writes_a_booking_race_and_a_subscription_through_pgbouncer(
    pooled: Settings,
) -> None:
    token, provider_id, patients = await _seed(pooled)
    auth = {"X-User-Token": token}
    app = create_app(pooled)
    hub: EventHub = app.state.event_hub
    assert hub.listens_to_database
    async with (
        serving(app) as host,
        httpx.AsyncClient(base_url=f"http://{host}", timeout=30) as http,
    ):
        async with live_socket(host, auth) as socket:
            await acked(socket)
            await subscribe(socket, providerId=provider_id)
            await asyncio.sleep(0.3)  # the subscription takes its position

            # REST write and read.
            start = future(24 * 3)
            created = await http.post(
                SLOTS,
                json={
                    "available_slot": {
                        "provider_id": provider_id,
                        "start_time": iso(start),
                        "end_time": iso(start + timedelta(minutes=30)),
                    }
                },
                headers=auth,
            )
            assert created.status_code == 201, created.text
            slot_id = created.json()["id"]
            listed = await http.get(SLOTS, params={"provider_id": provider_id}, headers=auth)
            assert [row["id"] for row in listed.json()] == [slot_id]
            [event] = await next_events(socket, 1)
            assert event["slotId"] == slot_id and event["type"] == "slot.created"

            # GraphQL write and read.
            made = await http.post(
                "/graphql",
                json={
                    "query": 'mutation { createProvider(input: {firstName: "G", '
                    'lastName: "Q"}) { id } }'
                },
                headers=auth,
            )
            new_id = made.json()["data"]["createProvider"]["id"]
            read = await http.post(
                "/graphql",
                json={"query": f"{{ provider(id: {new_id}) {{ id lastName }} }}"},
                headers=auth,
            )
            assert read.json() == {"data": {"provider": {"id": new_id, "lastName": "Q"}}}

            # A booking race: one seat, twenty patients at once.
            replies = await asyncio.gather(
                *(
                    http.post(
                        BOOKS,
                        json={"book": {"available_slot_id": slot_id, "patient_id": patient}},
                        headers=auth,
                    )
                    for patient in patients
                )
            )
            statuses = Counter(reply.status_code for reply in replies)
            assert statuses[201] == 1 and statuses[201] + statuses[409] + statuses[422] == RACERS
            booked = await next_events(socket, 1)
            assert booked[0]["slotId"] == slot_id

        # LISTEN runs on the direct connection: a NOTIFY from elsewhere wakes the hub.
        seen = hub.generation
        engine = create_engine(pooled.database_direct_url)
        try:
            async with engine.connect() as conn:
                await conn.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))
                await conn.commit()
        finally:
            await engine.dispose()
        assert await hub.wait(5, since=seen)

    engine = create_engine(pooled.database_direct_url)
    try:
        async with engine.connect() as conn:
            stored = await conn.scalar(
                text("SELECT count(*) FROM bookings WHERE available_slot_id = :s"), {"s": slot_id}
            )
    finally:
        await engine.dispose()
    assert stored == 1
