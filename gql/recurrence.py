"""Recurring series: the series itself, create previews, and update/delete with a scope."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Annotated

import strawberry
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from strawberry.types import Info

from common.settings import limits_of
from gql.context import Context
from gql.plan.rendered import rendered, rendered_picks
from gql.slots import CreateAvailableSlotInput, UpdateAvailableSlotInput, slot_input
from gql.types import AvailableSlot, Node, RecurrencePattern, enum_text
from models.platform.entities import AvailableSlot as SlotRow
from models.platform.entities import SlotSeries as SeriesRow
from models.platform.errors import ValidationFailed
from models.platform.timeutil import now_utc
from models.scheduling import series_render
from models.scheduling.bulk import StoredInterval
from models.scheduling.recurrence import Occurrence
from models.scheduling.series import CreationPreview, get_series, preview_creation
from models.scheduling.series_changes import KeptSlot as KeptRow
from models.scheduling.series_changes import Scope, ScopedChange, delete_scoped, update_scoped

MAX_UPCOMING = 100
DEFAULT_UPCOMING = 25


async def load_series(context: Context, id: int, upcoming: int = DEFAULT_UPCOMING) -> SlotSeries:
    """A series with its next ``upcoming`` occurrences (the caller checked the caller)."""
    session = context.session
    series = await get_series(session, id)
    rows = await session.execute(
        select(SlotRow)
        .options(joinedload(SlotRow.provider))
        .where(SlotRow.series_id == id, SlotRow.start_time > now_utc())
        .order_by(SlotRow.start_time, SlotRow.id)
        .limit(upcoming)
    )
    return SlotSeries.from_row(series, list(rows.scalars()))


@strawberry.enum(description="Which occurrences of a recurring series a change applies to.")
class SlotScope(enum.Enum):
    SINGLE = strawberry.enum_value("single", description="The slot addressed only.")
    FOLLOWING = strawberry.enum_value(
        "following", description="The slot and the later occurrences of its series."
    )
    SERIES = strawberry.enum_value("series", description="Every occurrence of its series.")


@strawberry.type(description="A slot a change would clash with, or clashed with.")
class ConflictingSlot:
    id: int = strawberry.field(description="The stored slot's id.")
    start_time: datetime = strawberry.field(description="When it starts.")
    end_time: datetime = strawberry.field(description="When it ends.")

    @classmethod
    def from_stored(cls, stored: StoredInterval) -> ConflictingSlot:
        return cls(id=stored.id, start_time=stored.start_time, end_time=stored.end_time)


@strawberry.type(description="A slot a create would make, and what it would clash with.")
class PlannedSlot:
    start_time: datetime = strawberry.field(description="When it would start.")
    end_time: datetime = strawberry.field(description="When it would end.")
    conflicts: list[ConflictingSlot] = strawberry.field(
        description="Stored slots it would overlap."
    )

    @classmethod
    def of(cls, occurrence: Occurrence, conflicts: list[StoredInterval]) -> PlannedSlot:
        return cls(
            start_time=occurrence.start,
            end_time=occurrence.end,
            conflicts=[ConflictingSlot.from_stored(item) for item in conflicts],
        )


@strawberry.type(
    description="What createAvailableSlot would do, written nothing. A series is created "
    "whole or not at all: with any clash the real create fails with CONFLICT."
)
class SlotCreationPreview:
    would_create: list[PlannedSlot] = strawberry.field(description="Slots that fit, in time order.")
    would_clash: list[PlannedSlot] = strawberry.field(
        description="Slots that would overlap a stored slot, with what they overlap."
    )
    conflicts: list[ConflictingSlot] = strawberry.field(
        description="Every stored slot clashed with, once, in time order."
    )
    recurrence_rule: str | None = strawberry.field(
        description="The RRULE the pattern expands to; null for a one-off slot."
    )

    @classmethod
    def from_preview(cls, preview: CreationPreview) -> SlotCreationPreview:
        unique: dict[int, StoredInterval] = {}
        for clash in preview.clashes:
            for stored in clash.conflicts:
                unique.setdefault(stored.id, stored)
        return cls(
            would_create=[PlannedSlot.of(occurrence, []) for occurrence in preview.fits],
            would_clash=[PlannedSlot.of(c.occurrence, c.conflicts) for c in preview.clashes],
            conflicts=[
                ConflictingSlot.from_stored(item)
                for item in sorted(unique.values(), key=lambda item: (item.start_time, item.id))
            ],
            recurrence_rule=preview.rule,
        )


@strawberry.type(description="A recurring availability rule; its occurrences are slots.")
class SlotSeries(Node):
    id: int = strawberry.field(description="The series' id.")
    provider_id: int = strawberry.field(description="The provider's id.")
    recurrence_pattern: RecurrencePattern = strawberry.field(description="How the series repeats.")
    recurrence_rule: str = strawberry.field(description="The RFC 5545 RRULE expanded.")
    time_zone: str = strawberry.field(description="IANA zone the rule is expanded in.")
    start_local: str = strawberry.field(
        description="First occurrence as local wall-clock time: 2030-10-04T09:00:00."
    )
    duration_minutes: int = strawberry.field(description="Length of each occurrence.")
    appointment_type: str | None = strawberry.field(
        description="The occurrences' appointment type; null: any."
    )
    recurrence_end_date: date | None = strawberry.field(
        description="Last day of the series (inclusive); null: no end."
    )
    generated_until: datetime = strawberry.field(
        description="Occurrences exist up to this instant (the rolling horizon)."
    )
    exhausted: bool = strawberry.field(description="True once the rule has nothing left.")
    occurrences_created: int = strawberry.field(description="Occurrences created so far.")
    skipped_conflicts: int = strawberry.field(
        description="Occurrences the horizon extension skipped: another slot held the time."
    )
    upcoming_slots: list[AvailableSlot] = strawberry.field(
        description="Occurrences not started yet, in time order (as many as slotSeries' "
        "`upcoming` asks)."
    )

    @classmethod
    def from_row(cls, row: SeriesRow, upcoming: list[SlotRow]) -> SlotSeries:
        return cls(
            id=row.id,
            provider_id=row.provider_id,
            recurrence_pattern=RecurrencePattern(row.recurrence_pattern),
            recurrence_rule=row.recurrence_rule,
            time_zone=row.time_zone,
            start_local=row.dtstart_local.isoformat(),
            duration_minutes=row.duration_minutes,
            appointment_type=row.appointment_type,
            recurrence_end_date=row.recurrence_end_date,
            generated_until=row.generated_until,
            exhausted=row.exhausted,
            occurrences_created=row.occurrences_created,
            skipped_conflicts=row.skipped_conflicts,
            upcoming_slots=[AvailableSlot.from_row(slot) for slot in upcoming],
        )


@strawberry.type(description="An occurrence a scoped change left as it was, and why.")
class KeptSlot:
    id: int = strawberry.field(description="The slot's id.")
    start_time: datetime = strawberry.field(description="When it starts.")
    end_time: datetime = strawberry.field(description="When it ends.")
    reason: str = strawberry.field(description="Why it was kept, such as `booked`.")

    @classmethod
    def from_kept(cls, kept: KeptRow) -> KeptSlot:
        return cls(
            id=kept.id, start_time=kept.start_time, end_time=kept.end_time, reason=kept.reason
        )


@strawberry.type(description="What a scoped update changed and kept.")
class ScopedUpdatePayload:
    scope: SlotScope = strawberry.field(description="The scope applied.")
    series_id: int | None = strawberry.field(description="The series; null for a one-off slot.")
    slot: AvailableSlot = strawberry.field(description="The slot addressed, after the change.")
    updated_slots: list[AvailableSlot] = strawberry.field(
        description="Every slot changed, the addressed one included, in time order."
    )
    kept_slots: list[KeptSlot] = strawberry.field(
        description="Occurrences with an active booking: never moved by a scoped change."
    )

    @classmethod
    def from_change(cls, change: ScopedChange) -> ScopedUpdatePayload:
        assert change.slot is not None
        return cls(
            scope=SlotScope(change.scope.value),
            series_id=change.series_id,
            slot=AvailableSlot.from_row(change.slot),
            updated_slots=[AvailableSlot.from_row(row) for row in change.slots],
            kept_slots=[KeptSlot.from_kept(kept) for kept in change.kept],
        )


@strawberry.type(description="What a scoped delete removed and kept.")
class ScopedDeletePayload:
    scope: SlotScope = strawberry.field(description="The scope applied.")
    series_id: int | None = strawberry.field(description="The series; null for a one-off slot.")
    deleted_slot_ids: list[int] = strawberry.field(description="Ids of the slots removed.")
    kept_slots: list[KeptSlot] = strawberry.field(
        description="Occurrences with an active booking: never removed by a scoped delete."
    )


@strawberry.type
class RecurrenceQuery:
    @strawberry.field(description="A recurring series by id, with its next occurrences.")
    async def slot_series(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The series' id.")],
        upcoming: Annotated[
            int, strawberry.argument(description=f"How many upcoming slots, 0 to {MAX_UPCOMING}.")
        ] = DEFAULT_UPCOMING,
    ) -> SlotSeries:
        await info.context.require_admin()
        if not 0 <= upcoming <= MAX_UPCOMING:
            raise ValidationFailed.one("upcoming", f"must be less than or equal to {MAX_UPCOMING}")
        if (picks := rendered_picks()) is not None:
            text = series_render.series_json(info.context.session, picks, id, upcoming=upcoming)
            return await rendered(text)  # type: ignore[no-any-return]
        return await load_series(info.context, id, upcoming)

    @strawberry.field(
        description="Dry run of createAvailableSlot: the slots it would create (every "
        "occurrence for a recurring one) and what they would clash with. Writes nothing."
    )
    async def available_slot_preview(
        self,
        info: Info[Context, None],
        input: Annotated[
            CreateAvailableSlotInput, strawberry.argument(description="The fields to write.")
        ],
    ) -> SlotCreationPreview:
        await info.context.require_admin()
        preview = await preview_creation(
            info.context.session, slot_input(input), limits=limits_of(info.context.settings)
        )
        return SlotCreationPreview.from_preview(preview)


@strawberry.type
class RecurrenceMutation:
    @strawberry.mutation(
        description="Update a slot; with scope FOLLOWING or SERIES also the other occurrences "
        "of its series (a time change shifts each by the same local wall-clock amount). "
        "All or nothing: CONFLICT if any moved occurrence would clash."
    )
    async def update_available_slot_with_scope(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The slot addressed.")],
        input: Annotated[
            UpdateAvailableSlotInput, strawberry.argument(description="The fields to write.")
        ],
        scope: Annotated[
            SlotScope, strawberry.argument(description="Which occurrences change.")
        ] = SlotScope.SINGLE,
    ) -> ScopedUpdatePayload:
        await info.context.require_admin()
        change = await update_scoped(
            info.context.session, id, slot_input(input), scope=Scope(enum_text(scope))
        )
        return ScopedUpdatePayload.from_change(change)

    @strawberry.mutation(
        description="Delete a slot; with scope FOLLOWING or SERIES also the other occurrences "
        "of its series, which then stops generating. Booked occurrences are kept."
    )
    async def delete_available_slot_with_scope(
        self,
        info: Info[Context, None],
        id: Annotated[int, strawberry.argument(description="The slot addressed.")],
        scope: Annotated[
            SlotScope, strawberry.argument(description="Which occurrences go.")
        ] = SlotScope.SINGLE,
    ) -> ScopedDeletePayload:
        await info.context.require_admin()
        change = await delete_scoped(info.context.session, id, scope=Scope(enum_text(scope)))
        return ScopedDeletePayload(
            scope=SlotScope(change.scope.value),
            series_id=change.series_id,
            deleted_slot_ids=change.slot_ids,
            kept_slots=[KeptSlot.from_kept(kept) for kept in change.kept],
        )
