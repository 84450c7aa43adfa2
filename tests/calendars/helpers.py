"""Shared steps of the external calendar tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from tests.factories import BASE, SLOTS

EVENTS = f"{BASE}/../events"


def calendars_url(provider_id: int) -> str:
    return f"{BASE}/providers/{provider_id}/external_calendars"


def calendar_body(**fields: Any) -> dict[str, Any]:
    return {"external_calendar": fields}


def stamp(moment: datetime) -> str:
    """An iCalendar UTC date-time."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def local(moment: datetime) -> str:
    """An iCalendar local (TZID or floating) date-time."""
    return moment.strftime("%Y%m%dT%H%M%S")


def day(value: date) -> str:
    return value.strftime("%Y%m%d")


def vcalendar(*components: str, head: str = "") -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Test//Test//EN"]
    if head:
        lines.append(head.strip("\n"))
    lines.extend(component.strip("\n") for component in components)
    lines.append("END:VCALENDAR")
    return ("\r\n".join("\r\n".join(part.split("\n")) for part in lines) + "\r\n").encode()


async def connect(
    client: httpx.AsyncClient, auth: dict[str, str], provider_id: int, **fields: Any
) -> dict[str, Any]:
    created = await client.post(
        calendars_url(provider_id), json=calendar_body(**fields), headers=auth
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def sync(
    client: httpx.AsyncClient, auth: dict[str, str], provider_id: int, calendar_id: int
) -> dict[str, Any]:
    synced = await client.post(f"{calendars_url(provider_id)}/{calendar_id}/sync", headers=auth)
    assert synced.status_code == 200, synced.text
    body: dict[str, Any] = synced.json()
    return body


async def open_ids(
    client: httpx.AsyncClient, auth: dict[str, str], slot_ids: list[int]
) -> list[int]:
    """Which of the slots are available now."""
    found = []
    for slot_id in slot_ids:
        reply = await client.get(f"{SLOTS}/{slot_id}", headers=auth)
        assert reply.status_code == 200, reply.text
        if reply.json()["available"]:
            found.append(slot_id)
    return found


def next_weekday(start: date, weekday: int) -> date:
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def next_us_dst_start(after: date) -> date:
    """The next second Sunday of March (US daylight saving starts) after ``after``."""
    for year in (after.year, after.year + 1):
        first = date(year, 3, 1)
        second_sunday = next_weekday(first, 6) + timedelta(days=7)
        if second_sunday > after + timedelta(days=7):
            return second_sunday
    raise AssertionError("unreachable")
