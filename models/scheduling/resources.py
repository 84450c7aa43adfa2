"""Resources: the rooms and equipment a slot may need (``resource_kind``).

A resource has a ``name``, a ``kind`` (the text a slot's ``resource_kind`` names) and
``active``; there is no delete (``active: false`` retires one: it is assigned no more,
and slots keeping it keep it). Which slot keeps which resource is the booking area's
business (models.booking.resources); this module holds the catalog and the SQL that
says whether a resource is free for an interval, which slot moves and find use too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from models.platform.db import read_rows, write_transaction
from models.platform.entities import AvailableSlot, Hold, HoldStatus, Resource
from models.platform.errors import FieldErrors, NotFound, ResourceInUse, ValidationFailed

RESOURCE_OVERLAP_CONSTRAINT = "ex_available_slots_resource_overlap"
KIND_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
NAME_MAX = 100
FIELDS = ("name", "kind", "active")


def check_kind_text(errors: FieldErrors, name: str, value: Any) -> str | None:
    """A kind's shape: lower-case letters, digits and _, at most 40."""
    if not isinstance(value, str) or not KIND_PATTERN.fullmatch(value):
        errors.add(name, "is invalid")
        return None
    return value


async def check_resource_kind(
    session: AsyncSession, errors: FieldErrors, value: Any, name: str = "resource_kind"
) -> None:
    """A slot's ``resource_kind`` (when given): the kind of an active resource."""
    if value is None:
        return
    if isinstance(value, str) and not value.strip():
        errors.add(name, "is invalid")
        return
    if check_kind_text(errors, name, value) is None:
        return
    found = await read_rows(
        session,
        select(Resource.id).where(Resource.kind == value, Resource.active.is_(True)).limit(1),
    )
    if not found:
        errors.add(name, "is not included in the list")


async def active_kinds(session: AsyncSession) -> frozenset[str]:
    """The kinds of the active resources."""
    rows = await read_rows(
        session, select(Resource.kind).where(Resource.active.is_(True)).distinct()
    )
    return frozenset(row[0] for row in rows)


def check_kind_in(errors: FieldErrors, value: Any, kinds: frozenset[str]) -> None:
    """A ``resource_kind`` (when given) among ``kinds``, as :func:`check_resource_kind`."""
    if value is None:
        return
    if isinstance(value, str) and not value.strip():
        errors.add("resource_kind", "is invalid")
    elif check_kind_text(errors, "resource_kind", value) is not None and value not in kinds:
        errors.add("resource_kind", "is not included in the list")


def _check(errors: FieldErrors, values: Mapping[str, Any], *, creating: bool) -> None:
    if creating or "name" in values:
        name = values.get("name")
        if name is None or (isinstance(name, str) and not name.strip()):
            errors.add("name", "can't be blank")
        elif not isinstance(name, str):
            errors.add("name", "is invalid")
        elif len(name.strip()) > NAME_MAX:
            errors.add("name", f"is too long (maximum is {NAME_MAX} characters)")
    if creating or "kind" in values:
        kind = values.get("kind")
        if kind is None or (isinstance(kind, str) and not kind.strip()):
            errors.add("kind", "can't be blank")
        else:
            check_kind_text(errors, "kind", kind)
    if "active" in values and not isinstance(values["active"], bool):
        errors.add("active", "is invalid")


async def list_resources(
    session: AsyncSession, *, kind: str | None = None, active: bool | None = None
) -> list[Resource]:
    stmt = select(Resource).order_by(Resource.id)
    if kind is not None:
        stmt = stmt.where(Resource.kind == kind)
    if active is not None:
        stmt = stmt.where(Resource.active.is_(active))
    return list((await session.execute(stmt)).scalars())


async def get_resource(session: AsyncSession, resource_id: int) -> Resource:
    found = await session.get(Resource, resource_id, populate_existing=True)
    if found is None:
        raise NotFound()
    return found


async def create_resource(session: AsyncSession, values: Mapping[str, Any]) -> Resource:
    """A new resource from the fields given (``active`` defaults to true)."""
    errors = FieldErrors()
    _check(errors, values, creating=True)
    errors.raise_if_any()
    async with write_transaction(session):
        row = Resource(
            name=values["name"].strip(),
            kind=values["kind"],
            active=values.get("active", True) if values.get("active") is not None else True,
        )
        session.add(row)
        await session.flush()
    return row


async def update_resource(
    session: AsyncSession, resource_id: int, values: Mapping[str, Any]
) -> Resource:
    """Change the fields given. A kind may change only while no slot keeps the resource."""
    errors = FieldErrors()
    _check(errors, values, creating=False)
    if "active" in values and values["active"] is None:
        errors.add("active", "can't be blank")
    async with write_transaction(session):
        row = await session.get(Resource, resource_id, with_for_update=True, populate_existing=True)
        if row is None:
            raise NotFound()
        if (
            "kind" in values
            and values["kind"] != row.kind
            and not errors.has("kind")
            and await _kept_by_a_slot(session, resource_id)
        ):
            errors.add("kind", "can't be changed while a slot keeps the resource")
        errors.raise_if_any()
        for name in FIELDS:
            if name in values:
                value = values[name]
                setattr(row, name, value.strip() if name == "name" else value)
        await session.flush()
    return row


async def _kept_by_a_slot(session: AsyncSession, resource_id: int) -> bool:
    stmt = select(exists().where(AvailableSlot.resource_id == resource_id))
    return bool((await session.execute(stmt)).scalar())


def slot_in_use(slot: Any, now: Any) -> ColumnElement[bool]:
    """The slot (a slots table or alias) has an active booking or an unexpired hold: it
    keeps its resource. One with neither keeps it only until another slot needs it."""
    return or_(
        slot.booked_count > 0,
        exists()
        .where(
            Hold.available_slot_id == slot.id,
            Hold.status == HoldStatus.HELD,
            Hold.expires_at > now,
        )
        .correlate_except(Hold),
    )


def resource_busy(
    resource_id: Any, start: Any, end: Any, *, except_slot: Any, now: Any
) -> ColumnElement[bool]:
    """Another slot in use keeps the resource during ``[start, end)``."""
    other = aliased(AvailableSlot)
    return (
        exists()
        .where(
            other.resource_id == resource_id,
            other.id != except_slot,
            other.start_time < end,
            other.end_time > start,
            slot_in_use(other, now),
        )
        .correlate_except(other)
    )


def kind_has_free_resource(
    kind: Any, start: Any, end: Any, *, except_slot: Any, now: Any
) -> ColumnElement[bool]:
    """An active resource of ``kind`` is free for ``[start, end)``."""
    return (
        exists()
        .where(
            Resource.kind == kind,
            Resource.active.is_(True),
            ~resource_busy(Resource.id, start, end, except_slot=except_slot, now=now),
        )
        .correlate_except(Resource)
    )


def no_free_resource(now: Any) -> ColumnElement[bool]:
    """The slot (``AvailableSlot``) needs a resource, keeps none, and every active one of
    its kind is kept by another slot in use at an overlapping time: a claim would be
    refused. A slot keeping its resource is not concerned (it stays open while seats
    remain). Where no resource exists at all (a clinic without rooms), an uncorrelated test
    the database evaluates once per statement answers first."""
    any_resource = exists(select(literal(1)).select_from(Resource).correlate(None))
    return and_(
        any_resource,
        AvailableSlot.resource_kind.is_not(None),
        AvailableSlot.resource_id.is_(None),
        ~kind_has_free_resource(
            AvailableSlot.resource_kind,
            AvailableSlot.start_time,
            AvailableSlot.end_time,
            except_slot=AvailableSlot.id,
            now=now,
        ),
    )


async def keep_resource_through_change(
    session: AsyncSession,
    slot: AvailableSlot,
    kind: str | None,
    start: datetime,
    end: datetime,
    now: datetime,
) -> None:
    """A slot change (new kind or times; the slot locked) and the resource it keeps.

    A slot keeping its resource unused gives it back. One in use (a hold: booked slots do
    not move) keeps its kind (422 on ``resource_kind``) and moves only to a time when no
    other slot keeps the resource (409 ``ResourceInUse``).
    """
    if slot.resource_id is None:
        return
    stmt = select(exists().where(AvailableSlot.id == slot.id, slot_in_use(AvailableSlot, now)))
    if not (await session.execute(stmt)).scalar():
        slot.resource_id = None
        return
    if kind != slot.resource_kind:
        raise ValidationFailed.one(
            "resource_kind", "can't be changed while the slot keeps a resource"
        )
    if (start, end) == (slot.start_time, slot.end_time):
        return
    # Claims of the resource queue on its row lock (models.booking.resources): so does this.
    await session.execute(
        select(Resource.id).where(Resource.id == slot.resource_id).with_for_update()
    )
    clash = select(
        exists().where(
            AvailableSlot.resource_id == slot.resource_id,
            AvailableSlot.id != slot.id,
            AvailableSlot.start_time < end,
            AvailableSlot.end_time > start,
        )
    )
    if (await session.execute(clash)).scalar():
        raise ResourceInUse()
