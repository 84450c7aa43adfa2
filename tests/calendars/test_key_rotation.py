"""``CALENDAR_SECRET_KEYS`` rotation: the first key seals, every key opens, and
``clinic-availability rotate-calendar-keys`` seals every stored secret again with the
first key, after which the old key can be removed and syncs go on."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from common.calendars import sync_options
from models.integrations.calendar_secrets import CalendarSecret, SecretBox, SecretsUnavailable
from models.integrations.calendar_sync import sync_calendar
from models.integrations.external_calendars import (
    ExternalCalendarInput,
    create_external_calendar,
)
from models.platform.calendar_tables import ExternalCalendar
from tests.calendars.conftest import SECRET_KEYS
from tests.calendars.helpers import calendars_url, open_ids, stamp, vcalendar
from tests.calendars.servers import Feeds, feed_server
from tests.factories import future

pytestmark = pytest.mark.xdist_group("calendar-sync-process")

NEW_KEY = "calendar-test-key-2-new"
PASSWORD = "PASSWORD-rotation-5be1"


@pytest.fixture
def feeds() -> Iterator[Feeds]:
    with feed_server() as server:
        yield server


def test_first_key_seals_and_every_key_opens() -> None:
    secret = CalendarSecret(url="https://cal.example/a.ics", password=PASSWORD)
    old, both, new = (
        SecretBox(SECRET_KEYS),
        SecretBox(f"{NEW_KEY},{SECRET_KEYS}"),
        SecretBox(NEW_KEY),
    )
    by_old = old.seal(secret)
    assert both.open(by_old).password == PASSWORD
    by_both = both.seal(secret)
    assert new.open(by_both).url == secret.url
    with pytest.raises(SecretsUnavailable):
        old.open(by_both)
    rotated = both.rotate(by_old)
    assert new.open(rotated).password == PASSWORD
    with pytest.raises(SecretsUnavailable):
        old.open(rotated)
    with pytest.raises(SecretsUnavailable):
        new.rotate(by_old)


def _event(uid: str, start, minutes: int = 30) -> bytes:
    return vcalendar(
        "\n".join(
            [
                "BEGIN:VEVENT",
                f"UID:{uid}",
                "DTSTAMP:20260101T000000Z",
                f"DTSTART:{stamp(start)}",
                f"DTEND:{stamp(start + timedelta(minutes=minutes))}",
                "END:VEVENT",
            ]
        )
    )


async def _rotate(database_url: str, keys: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "CALENDAR_SECRET_KEYS": keys}
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "clinic_availability.cli", "rotate-calendar-keys"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_rotation_lets_the_old_key_go_and_syncs_go_on(
    database_url: str, settings, client, auth, factory, session, feeds
):
    provider = await factory.provider()
    provider_id = provider.id
    start = future(30)
    slots = [(await factory.slot(provider, start=start + timedelta(hours=n))).id for n in range(2)]
    feeds.bodies["/a.ics"] = _event("a", start)
    feeds.bodies["/b.ics"] = _event("b", start)
    old_box = SecretBox(SECRET_KEYS)
    ids = []
    for path in ("/a.ics", "/b.ics"):
        created = await create_external_calendar(
            session,
            provider_id,
            ExternalCalendarInput(
                kind="ical", url=feeds.url(path), username="u", password=PASSWORD
            ),
            box=old_box,
            allow_private=True,
        )
        ids.append(created.id)
    # A calendar sealed with a key that is not in the list at all.
    stranger = await create_external_calendar(
        session,
        provider_id,
        ExternalCalendarInput(kind="ical", url=feeds.url("/a.ics")),
        box=SecretBox("some-key-nobody-has"),
        allow_private=True,
    )
    stranger_id = stranger.id
    for calendar_id in ids:
        synced = await client.post(f"{calendars_url(provider_id)}/{calendar_id}/sync", headers=auth)
        assert synced.json()["last_error"] is None, synced.text
    assert await open_ids(client, auth, slots) == [slots[1]]

    await session.commit()
    both = f"{NEW_KEY},{SECRET_KEYS}"
    done = await _rotate(database_url, both)
    assert done.returncode == 1, done.stderr
    assert "2 secrets sealed again" in done.stdout and "1 that no key opens" in done.stdout
    assert f"calendars {stranger_id}:" in done.stderr
    for text in (done.stdout, done.stderr):
        assert PASSWORD not in text and "/a.ics" not in text and feeds.base not in text

    await session.rollback()
    stored = dict(
        (await session.execute(select(ExternalCalendar.id, ExternalCalendar.credentials))).all()
    )
    new_box = SecretBox(NEW_KEY)
    for calendar_id in ids:
        assert new_box.open(stored[calendar_id]).password == PASSWORD
        with pytest.raises(SecretsUnavailable):
            old_box.open(stored[calendar_id])
    # What no key opens is left as it was.
    assert SecretBox("some-key-nobody-has").open(stored[stranger_id]).url == feeds.url("/a.ics")

    deleted = await client.delete(f"{calendars_url(provider_id)}/{stranger_id}", headers=auth)
    assert deleted.status_code == 204
    await session.commit()
    again = await _rotate(database_url, both)
    assert again.returncode == 0, again.stderr
    assert "2 secrets sealed again" in again.stdout and "0 that no key opens" in again.stdout

    # The old key removed: the busy time moves there, a sync with the new key alone reads it.
    feeds.bodies["/a.ics"] = _event("a", start + timedelta(hours=1))
    feeds.bodies["/b.ics"] = _event("b", start + timedelta(hours=1))
    for calendar_id in ids:
        assert await sync_calendar(
            session, calendar_id, box=new_box, options=sync_options(settings), owner="test"
        )
    await session.rollback()
    errors = (
        await session.execute(
            select(ExternalCalendar.last_error).where(ExternalCalendar.id.in_(ids))
        )
    ).scalars()
    assert list(errors) == [None, None]
    assert await open_ids(client, auth, slots) == [slots[0]]


async def test_rotation_without_keys_refuses(database_url: str):
    done = await _rotate(database_url, "")
    assert done.returncode == 2
    assert "CALENDAR_SECRET_KEYS is not set" in done.stderr
