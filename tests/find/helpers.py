"""Shared steps of the find tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models.platform.entities import Provider
from models.scheduling import people
from tests.factories import BASE

FIND = f"{BASE}/find"
FIND_QUERY = """
query($input: FindAvailabilityInput!) {
  findAvailability(input: $input) {
    options { slot { id startTime providerId appointmentType } provider { id lastName } }
    unavailableProviders { providerId ruledOut slotCounts { cause count } }
  }
}
"""


async def matched_provider(
    session: AsyncSession,
    name: str,
    *,
    keys: list[str] | None = None,
    states: list[str] | None = None,
    languages: list[str] | None = None,
    time_zone: str = "UTC",
    **rules: Any,
) -> Provider:
    provider = await people.create_provider(
        session,
        first_name="Dr",
        last_name=name,
        time_zone=time_zone,
        matching={
            "appointment_type_keys": keys or [],
            "licensed_states": states or [],
            "languages": languages or [],
        },
    )
    if rules:
        await people.update_provider(session, provider.id, booking_rules=rules)
    return provider


def day_after(days: int) -> date:
    return (datetime.now(UTC) + timedelta(days=days)).date()


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def rest_params(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}
