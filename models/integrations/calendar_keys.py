"""Sealing every stored calendar secret again with the first key of
``CALENDAR_SECRET_KEYS`` (``clinic-availability rotate-calendar-keys``), so the keys after
it can be removed.

One transaction per calendar: a secret is replaced only if it is still the one read (a
calendar deleted or connected again meanwhile keeps what it has), and a secret no key
opens is left as it is and reported by calendar id. Nothing of a secret is returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.integrations.calendar_secrets import SecretBox, SecretsUnavailable
from models.platform.calendar_tables import ExternalCalendar
from models.platform.db import write_transaction

CALENDARS = cast(Table, ExternalCalendar.__table__)


@dataclass(slots=True)
class RotationReport:
    """How many secrets were sealed again, and the calendars whose secret no key opens."""

    rotated: int = 0
    unreadable: list[int] = field(default_factory=list)
    # Changed or deleted between the read and the write (each is current already).
    skipped: int = 0


async def rotate_calendar_keys(session: AsyncSession, box: SecretBox) -> RotationReport:
    if not box.ready:
        raise SecretsUnavailable("CALENDAR_SECRET_KEYS is not set")
    ids = list((await session.execute(select(CALENDARS.c.id).order_by(CALENDARS.c.id))).scalars())
    await session.commit()
    report = RotationReport()
    for calendar_id in ids:
        async with write_transaction(session):
            sealed = await session.scalar(
                select(CALENDARS.c.credentials).where(CALENDARS.c.id == calendar_id)
            )
            if sealed is None:
                report.skipped += 1
                continue
            try:
                again = box.rotate(sealed)
            except SecretsUnavailable:
                report.unreadable.append(calendar_id)
                continue
            result = await session.execute(
                update(CALENDARS)
                .where(CALENDARS.c.id == calendar_id, CALENDARS.c.credentials == sealed)
                .values(credentials=again, updated_at=CALENDARS.c.updated_at)
            )
            if int(result.rowcount or 0) == 1:  # type: ignore[attr-defined]
                report.rotated += 1
            else:
                report.skipped += 1
    return report
