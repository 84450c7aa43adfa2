"""The demo clinic: providers, patients, slots with a few bookings, and an admin token.

``seed-demo`` builds it once (a week of slots). ``serve --demo`` keeps it ready on every
start: it builds the clinic in an empty database, tops it up so the coming two weeks
always have open and booked slots, and mints a fresh demo admin token (the previous demo
token is revoked; tokens are stored only as hashes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from common.settings import Settings
from models.booking.bookings import BookingInput, create_booking
from models.platform.db import write_transaction
from models.platform.entities import (
    AppointmentType,
    AvailableSlot,
    Patient,
    Provider,
    Role,
    User,
)
from models.platform.errors import Conflict
from models.platform.timeutil import now_utc
from models.platform.users import create_user, issue_token
from models.scheduling import appointment_types, people, resources
from models.scheduling.slots import SlotInput, SlotView, create_single_slot

PROVIDERS = (
    ("Dr. Jane", "Smith", "America/New_York"),
    ("Dr. Omar", "Haddad", "Europe/London"),
    ("Dr. Mei", "Chen", "America/Los_Angeles"),
)
# What each demo provider is matched on: licences, languages, types offered (none: all).
MATCHING = (
    {"licensed_states": ["NY", "NJ"], "languages": ["en", "es-MX"]},
    {"licensed_states": ["NY"], "languages": ["en", "ar"], "appointment_type_keys": ["therapy"]},
    {"licensed_states": ["CA", "NV"], "languages": ["en", "zh-Hans", "es"]},
)
# A type of the demo's own, beside the six the catalog starts with.
INTAKE = {
    "key": "intake",
    "name": "Intake",
    "duration_minutes": 50,
    "buffer_after_minutes": 10,
    "modes": ["video", "in_person"],
}
# Two rooms: the first hour of every demo day needs one, so a third booking at that hour
# finds none free.
ROOMS = ("Room 1", "Room 2")
ROOM_KIND = "room"
ROOM_HOUR = 14
PATIENTS = (("Alex", "Rivera"), ("Sam", "Okafor"), ("Priya", "Nair"), ("Jordan", "Lee"))
TYPES = ("therapy", "consultation", "follow_up", "medication_review")
# Slot start hours (UTC) of each demo provider's day, and their length.
HOURS = (14, 15, 16)
SLOT_MINUTES = 50
DEMO_ADMIN = ("Demo", "Admin")
DEMO_TOKEN_NAME = "demo"
# serve --demo keeps this many days ahead filled.
TOP_UP_DAYS = 14


@dataclass(frozen=True, slots=True)
class DemoReport:
    token: str
    built: bool
    slots_created: int
    bookings_created: int


async def seed_demo(session: AsyncSession, settings: Settings) -> tuple[str, str]:
    """Creates the demo records; returns a summary line and a new admin token."""
    _admin, token = await create_user(
        session, role=Role.ADMIN, first_name=DEMO_ADMIN[0], last_name=DEMO_ADMIN[1]
    )
    providers, patients = await _create_people(session)
    await _ensure_rooms(session)
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    slots = await _fill_days(session, providers, tomorrow, days=7)
    booked = await _book_every_seventh(session, slots, patients)
    summary = (
        f"seeded {len(providers)} providers, {len(patients)} patients, "
        f"{len(slots)} slots, {booked} bookings"
    )
    return summary, token


async def prepare_demo(session: AsyncSession, *, today: date | None = None) -> DemoReport:
    """The demo clinic ready to explore now, with a fresh demo admin token."""
    today = today or now_utc().date()
    built = not await session.scalar(select(func.count()).select_from(Provider))
    if built:
        await _create_people(session)
    await _ensure_rooms(session)
    providers = list(
        (
            await session.scalars(select(Provider).where(Provider.active).order_by(Provider.id))
        ).all()[: len(PROVIDERS)]
    )
    patients = list(
        (await session.scalars(select(Patient).where(Patient.active).order_by(Patient.id))).all()[
            : len(PATIENTS)
        ]
    )
    created = await _fill_days(session, providers, today, days=TOP_UP_DAYS)
    booked = await _top_up_bookings(session, providers, patients, today)
    token = await _fresh_demo_token(session)
    return DemoReport(token=token, built=built, slots_created=len(created), bookings_created=booked)


async def _create_people(session: AsyncSession) -> tuple[list[Provider], list[Patient]]:
    if not await session.scalar(select(AppointmentType.id).where(AppointmentType.key == "intake")):
        await appointment_types.create_type(session, INTAKE)
    providers = [
        await people.create_provider(
            session, first_name=first, last_name=last, time_zone=tz, matching=matching
        )
        for (first, last, tz), matching in zip(PROVIDERS, MATCHING, strict=True)
    ]
    patients = [
        await people.create_patient(session, first_name=first, last_name=last)
        for first, last in PATIENTS
    ]
    return providers, patients


async def _ensure_rooms(session: AsyncSession) -> None:
    """The demo's two rooms, unless the clinic has rooms already."""
    if await resources.list_resources(session, kind=ROOM_KIND):
        return
    for name in ROOMS:
        await resources.create_resource(session, {"name": name, "kind": ROOM_KIND})


async def _fill_days(
    session: AsyncSession, providers: list[Provider], first_day: date, *, days: int
) -> list[SlotView]:
    """Each provider's demo hours on each day, where no slot is there yet and still ahead."""
    start = datetime.combine(first_day, time(0), tzinfo=UTC)
    rows = await session.execute(
        select(AvailableSlot.provider_id, AvailableSlot.start_time).where(
            AvailableSlot.start_time >= start,
            AvailableSlot.start_time < start + timedelta(days=days),
        )
    )
    taken = {(provider_id, _as_utc(moment)) for provider_id, moment in rows}
    now = now_utc()
    slots: list[SlotView] = []
    for day in range(days):
        for index, provider in enumerate(providers):
            for hour in HOURS:
                begins = datetime.combine(first_day + timedelta(days=day), time(hour), tzinfo=UTC)
                if begins <= now or (provider.id, begins) in taken:
                    continue
                data = SlotInput(
                    provider_id=provider.id,
                    start_time=begins,
                    end_time=begins + timedelta(minutes=SLOT_MINUTES),
                    appointment_type=TYPES[(day + index + hour) % len(TYPES)],
                    resource_kind=ROOM_KIND if hour == ROOM_HOUR else None,
                )
                try:
                    slots.append(await create_single_slot(session, data))
                except Conflict:
                    continue  # an admin put another slot there: theirs stays
    return slots


async def _book_every_seventh(
    session: AsyncSession, slots: Sequence[SlotView], patients: list[Patient]
) -> int:
    """Books one patient into every seventh slot, so some days show bookings."""
    count = 0
    for slot, patient in zip(slots[::7], patients, strict=False):
        try:
            await create_booking(
                session, BookingInput(available_slot_id=slot.id, patient_id=patient.id, notes=None)
            )
        except Conflict:
            continue  # no room free at that hour
        count += 1
    return count


async def _top_up_bookings(
    session: AsyncSession, providers: list[Provider], patients: list[Patient], today: date
) -> int:
    """Books the middle hour of every third day ahead, where nobody is booked that day.

    The first and last hours stay open, so search and booking examples always find a slot.
    """
    if not patients:
        return 0
    count = 0
    now = now_utc()
    for day in range(1, TOP_UP_DAYS, 3):
        begins = datetime.combine(today + timedelta(days=day), time(HOURS[1]), tzinfo=UTC)
        for index, provider in enumerate(providers):
            slot = await session.scalar(
                select(AvailableSlot).where(
                    AvailableSlot.provider_id == provider.id,
                    AvailableSlot.start_time == begins,
                    AvailableSlot.available,
                )
            )
            if slot is None or slot.start_time.replace(tzinfo=UTC) <= now:
                continue
            patient = patients[(day + index) % len(patients)]
            try:
                await create_booking(
                    session,
                    BookingInput(available_slot_id=slot.id, patient_id=patient.id, notes=None),
                )
            except Conflict:
                continue
            count += 1
    return count


async def _fresh_demo_token(session: AsyncSession) -> str:
    """A new token for the demo admin; the demo token issued before is revoked."""
    admin_id = await session.scalar(
        select(User.id).where(
            User.role == Role.ADMIN,
            User.first_name == DEMO_ADMIN[0],
            User.last_name == DEMO_ADMIN[1],
        )
    )
    if admin_id is None:
        async with write_transaction(session):
            admin = User(role=Role.ADMIN, first_name=DEMO_ADMIN[0], last_name=DEMO_ADMIN[1])
            session.add(admin)
        admin_id = admin.id
    return await issue_token(session, user_id=admin_id, name=DEMO_TOKEN_NAME, revoke_named=True)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
