"""Providers and patients: the people slots and bookings belong to."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform.db import write_transaction
from models.platform.entities import Patient, Provider
from models.platform.errors import FieldErrors, NotFound
from models.platform.pagination import Page, PageRequest, keyset_order, keyset_past
from models.platform.timeutil import zone_or_none
from models.scheduling.appointment_types import all_keys
from models.scheduling.booking_rules import check_rules_input
from models.scheduling.provider_matching import MATCHING_FIELDS, check_matching_input

Person = TypeVar("Person", Provider, Patient)
NAME_MAX = 100


def _check_names(errors: FieldErrors, first_name: str | None, last_name: str | None) -> None:
    for field, value in (("first_name", first_name), ("last_name", last_name)):
        if value is None:
            continue
        if not value.strip():
            errors.add(field, "can't be blank")
        elif len(value.strip()) > NAME_MAX:
            errors.add(field, f"is too long (maximum is {NAME_MAX} characters)")


def _check_zone(errors: FieldErrors, time_zone: str | None) -> None:
    if time_zone is not None and zone_or_none(time_zone) is None:
        errors.add("time_zone", "is invalid")


async def create_provider(
    session: AsyncSession,
    *,
    first_name: str,
    last_name: str,
    time_zone: str | None = None,
    default_time_zone: str = "UTC",
    matching: dict[str, Any] | None = None,
) -> Provider:
    """``matching``: any of appointment_type_keys, licensed_states, languages."""
    errors = FieldErrors()
    _check_names(errors, first_name, last_name)
    _check_zone(errors, time_zone)
    matched = await _check_matching(session, errors, matching)
    errors.raise_if_any()
    async with write_transaction(session):
        provider = Provider(
            first_name=first_name.strip(),
            last_name=last_name.strip(),
            time_zone=time_zone or default_time_zone,
            **{name: matched.get(name, []) for name in MATCHING_FIELDS},
        )
        session.add(provider)
        await session.flush()
    return provider


async def update_provider(
    session: AsyncSession,
    provider_id: int,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    time_zone: str | None = None,
    active: bool | None = None,
    booking_rules: dict[str, Any] | None = None,
    matching: dict[str, Any] | None = None,
) -> Provider:
    """Change the fields given; ``booking_rules`` sets the rules it names (None drops one);
    ``matching`` replaces the lists it names."""
    errors = FieldErrors()
    _check_names(errors, first_name, last_name)
    _check_zone(errors, time_zone)
    rules = check_rules_input(errors, booking_rules or {})
    matched = await _check_matching(session, errors, matching)
    errors.raise_if_any()
    async with write_transaction(session):
        provider = await session.get(Provider, provider_id)
        if provider is None:
            raise NotFound()
        if first_name is not None:
            provider.first_name = first_name.strip()
        if last_name is not None:
            provider.last_name = last_name.strip()
        if time_zone is not None:
            provider.time_zone = time_zone
        if active is not None:
            provider.active = active
        for name, value in (*rules.items(), *matched.items()):
            setattr(provider, name, value)
        await session.flush()
    return provider


async def _check_matching(
    session: AsyncSession, errors: FieldErrors, values: dict[str, Any] | None
) -> dict[str, list[str]]:
    if not values:
        return {}
    keys = await all_keys(session) if "appointment_type_keys" in values else frozenset()
    return check_matching_input(errors, values, keys)


async def create_patient(session: AsyncSession, *, first_name: str, last_name: str) -> Patient:
    errors = FieldErrors()
    _check_names(errors, first_name, last_name)
    errors.raise_if_any()
    async with write_transaction(session):
        patient = Patient(first_name=first_name.strip(), last_name=last_name.strip())
        session.add(patient)
        await session.flush()
    return patient


async def update_patient(
    session: AsyncSession,
    patient_id: int,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    active: bool | None = None,
) -> Patient:
    errors = FieldErrors()
    _check_names(errors, first_name, last_name)
    errors.raise_if_any()
    async with write_transaction(session):
        patient = await session.get(Patient, patient_id)
        if patient is None:
            raise NotFound()
        if first_name is not None:
            patient.first_name = first_name.strip()
        if last_name is not None:
            patient.last_name = last_name.strip()
        if active is not None:
            patient.active = active
        await session.flush()
    return patient


async def get_provider(session: AsyncSession, provider_id: int) -> Provider:
    provider = await session.get(Provider, provider_id)
    if provider is None:
        raise NotFound()
    return provider


async def get_patient(session: AsyncSession, patient_id: int) -> Patient:
    patient = await session.get(Patient, patient_id)
    if patient is None:
        raise NotFound()
    return patient


async def list_people(
    session: AsyncSession,
    model: type[Person],
    *,
    page: PageRequest,
    active: bool | None = None,
    after_id: int | None = None,
    backward: bool = False,
) -> Page[Person]:
    """Providers or patients ordered by id; ``after_id`` gives keyset paging, ``backward``
    the other way (ids below ``after_id``, highest first)."""
    condition = [] if active is None else [model.active.is_(active)]
    total = (
        await session.execute(select(func.count()).select_from(model).where(*condition))
    ).scalar_one()
    stmt = (
        select(model)
        .where(*condition)
        .order_by(*keyset_order((model.id,), backward=backward))
        .limit(page.page_size)
    )
    if after_id is not None:
        stmt = stmt.where(keyset_past((model.id,), (after_id,), backward=backward))
    else:
        stmt = stmt.offset(page.offset)
    items = list((await session.execute(stmt)).scalars())
    return Page(items=items, total=total, page=page.page, page_size=page.page_size)
