"""Relay's refetch: ``node(nodeId:)`` and ``nodes(nodeIds:)`` over every record type.

A global id names its type and id (:func:`gql.types.encode_node_id`); each type is read
as its own root field reads it, for the same callers (admins). An id that is malformed,
of an unknown type or of a record that does not exist answers null.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from gql.bookings import Booking, selects_notes
from gql.context import Context
from gql.external_calendars import load_external_calendar
from gql.holds import Hold
from gql.recurrence import load_series
from gql.time_offs import load_time_off
from gql.types import AvailableSlot, Node, Patient, Provider, decode_node_id
from gql.webhooks import Webhook
from models.booking import bookings as booking_ops
from models.booking import holds as hold_ops
from models.integrations import webhooks as webhook_ops
from models.platform.audit import record_notes_read
from models.platform.errors import NotFound, ValidationFailed
from models.scheduling import people
from models.scheduling import slots as slot_ops

MAX_NODE_IDS = 100

Load = Callable[[Context, int], Awaitable[Any]]


async def _slot(context: Context, id: int) -> AvailableSlot:
    return AvailableSlot.from_row(await slot_ops.get_slot(context.session, id))


async def _provider(context: Context, id: int) -> Provider:
    return Provider.from_row(await people.get_provider(context.session, id))


async def _patient(context: Context, id: int) -> Patient:
    return Patient.from_row(await people.get_patient(context.session, id))


async def _booking(context: Context, id: int) -> Booking:
    return Booking.from_row(await booking_ops.get_booking(context.session, id))


async def _hold(context: Context, id: int) -> Hold:
    return Hold.from_row(await hold_ops.get_hold(context.session, id))


async def _webhook(context: Context, id: int) -> Webhook:
    return Webhook.from_row(await webhook_ops.get_webhook(context.session, id))


# Every type implementing Node, by its GraphQL name (tests check none is missing).
LOADERS: dict[str, Load] = {
    "AvailableSlot": _slot,
    "Provider": _provider,
    "Patient": _patient,
    "Booking": _booking,
    "Hold": _hold,
    "TimeOff": load_time_off,
    "SlotSeries": load_series,
    "Webhook": _webhook,
    "ExternalCalendar": load_external_calendar,
}


async def _load(context: Context, node_id: str) -> Node | None:
    decoded = decode_node_id(node_id)
    if decoded is None or decoded[0] not in LOADERS:
        return None
    type_name, ident = decoded
    try:
        node: Node = await LOADERS[type_name](context, ident)
    except NotFound:
        return None
    return node


async def _audit_notes(info: Info[Context, None], found: list[Node | None]) -> None:
    """Booking notes read through a node: one audit entry, as the booking fields do."""
    read = [node.id for node in found if isinstance(node, Booking)]
    if read and selects_notes(info):
        await record_notes_read(info.context.session, read)


@strawberry.type
class NodeQuery:
    @strawberry.field(description="Any record by its global id; null when there is none.")
    async def node(
        self,
        info: Info[Context, None],
        node_id: Annotated[strawberry.ID, strawberry.argument(description="A nodeId.")],
    ) -> Node | None:
        await info.context.require_admin()
        found = await _load(info.context, node_id)
        await _audit_notes(info, [found])
        return found

    @strawberry.field(
        description=f"Records by their global ids, in the order asked (at most {MAX_NODE_IDS}); "
        "null for an id that names none."
    )
    async def nodes(
        self,
        info: Info[Context, None],
        node_ids: Annotated[
            list[strawberry.ID],
            strawberry.argument(description=f"nodeIds, at most {MAX_NODE_IDS}."),
        ],
    ) -> list[Node | None]:
        await info.context.require_admin()
        if len(node_ids) > MAX_NODE_IDS:
            raise ValidationFailed.one("node_ids", f"must contain at most {MAX_NODE_IDS} ids")
        found = [await _load(info.context, node_id) for node_id in node_ids]
        await _audit_notes(info, found)
        return found
