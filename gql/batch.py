"""Batch create and delete of one provider's slots, and slots grouped by provider."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from gql.context import Context
from gql.pagination import (
    After,
    Before,
    Connection,
    First,
    Last,
    connection,
    decode_id_cursor,
    page_window,
)
from gql.plan.rendered import rendered, rendered_picks
from gql.slots import AvailableSlotFilter, checked_filter
from gql.types import AvailableSlot, Provider
from models.platform.errors import FieldErrors
from models.scheduling import provider_slots_render
from models.scheduling.batch import BatchFailure, create_batch, delete_batch
from models.scheduling.provider_slots import (
    DEFAULT_SLOTS_PER_PROVIDER,
    MAX_SLOTS_PER_PROVIDER,
    ProviderSlots,
    list_provider_slots,
)


@strawberry.input(description="A slot of a batch create.")
class BatchSlotInput:
    start_time: datetime = strawberry.field(description="When the slot starts, in the future.")
    end_time: datetime = strawberry.field(description="When it ends, after its start.")
    appointment_type: str | None = strawberry.field(
        default=None, description="One of the clinic's appointment types; null: any."
    )
    capacity: int | None = strawberry.field(default=None, description="Seats, 1 to 100.")
    resource_kind: str | None = strawberry.field(
        default=None, description="The kind of an active resource the slot needs; null: none."
    )


@strawberry.input(description="Slots to create for one provider.")
class CreateAvailableSlotsInBatchInput:
    provider_id: int = strawberry.field(description="The provider, who must be active.")
    slots: list[BatchSlotInput] = strawberry.field(description="At most 500 slots.")


@strawberry.input(description="Slots of one provider to delete.")
class DeleteAvailableSlotsInBatchInput:
    provider_id: int = strawberry.field(description="The slots' provider.")
    slot_ids: list[int] = strawberry.field(description="At most 500 ids.")


@strawberry.type(description="A slot of the batch that was not created.")
class BatchSlotError:
    index: int = strawberry.field(description="Its position in the input list, from 0.")
    start_time: str | None = strawberry.field(description="The slot's start as sent.")
    errors: JSON = strawberry.field(
        description='A field map ({"start_time": ["must be in the future"]}) or a conflict '
        "message, as in REST."
    )

    @classmethod
    def from_failure(cls, failure: BatchFailure) -> BatchSlotError:
        return cls(index=failure.index, start_time=failure.start_time, errors=JSON(failure.errors))


@strawberry.type(description="A slot a dry run of a batch create would make.")
class BatchPlannedSlot:
    index: int = strawberry.field(description="Its position in the input list, from 0.")
    start_time: datetime = strawberry.field(description="When it would start.")
    end_time: datetime = strawberry.field(description="When it would end.")
    appointment_type: str | None = strawberry.field(description="Its appointment type.")


@strawberry.type(description="What a batch create made, and what it refused.")
class CreateAvailableSlotsInBatchPayload:
    dry_run: bool = strawberry.field(description="True: nothing was written.")
    created_slots: int = strawberry.field(description="How many slots were created.")
    failed_slots: int = strawberry.field(description="How many were refused.")
    slot_ids: list[int] = strawberry.field(description="Ids of the created slots.")
    errors: list[BatchSlotError] = strawberry.field(description="The refused slots, and why.")
    would_create: list[BatchPlannedSlot] = strawberry.field(
        description="With dryRun: the slots that would be created (nothing is written)."
    )


@strawberry.type(description="A slot of a batch delete that was not deleted.")
class BatchDeleteError:
    id: int = strawberry.field(description="The slot id sent.")
    errors: str = strawberry.field(description="Why it was not deleted.")


@strawberry.type(description="What a batch delete removed, and what it refused.")
class DeleteAvailableSlotsInBatchPayload:
    deleted_slots: int = strawberry.field(description="How many slots were deleted.")
    failed_slots: int = strawberry.field(description="How many were refused.")
    slot_ids: list[int] = strawberry.field(description="Ids of the deleted slots.")
    errors: list[BatchDeleteError] = strawberry.field(description="The refused ids, and why.")


@strawberry.type(description="A provider with their matching slots.")
class ProviderAvailableSlots:
    provider: Provider = strawberry.field(description="The provider.")
    available_slots: list[AvailableSlot] = strawberry.field(
        description="Their first matching slots, in time order."
    )

    @classmethod
    def from_group(cls, group: ProviderSlots) -> ProviderAvailableSlots:
        return cls(
            provider=Provider.from_row(group.provider),
            available_slots=[AvailableSlot.from_row(slot) for slot in group.slots],
        )


@strawberry.type
class BatchQuery:
    @strawberry.field(
        description="Slots grouped by provider (providers with a matching slot, by id); the "
        "connection pages providers. Each carries its first `slotsPerProvider` slots."
    )
    async def provider_available_slots(
        self,
        info: Info[Context, None],
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            AvailableSlotFilter | None,
            strawberry.argument(description="Which items; all when not given."),
        ] = None,
        slots_per_provider: Annotated[
            int,
            strawberry.argument(description=f"Slots per provider, 1 to {MAX_SLOTS_PER_PROVIDER}."),
        ] = DEFAULT_SLOTS_PER_PROVIDER,
    ) -> Connection[ProviderAvailableSlots]:
        await info.context.require_admin()
        settings = info.context.settings
        errors = FieldErrors()
        filters = await checked_filter(info.context.session, errors, filter, settings)
        if not 1 <= slots_per_provider <= MAX_SLOTS_PER_PROVIDER:
            errors.add(
                "slots_per_provider", f"must be less than or equal to {MAX_SLOTS_PER_PROVIDER}"
            )
        errors.raise_if_any()
        window = page_window(first, settings, after=after, last=last, before=before)
        after_provider_id = decode_id_cursor(window.cursor, window.cursor_field)
        if (picks := rendered_picks()) is not None:
            return await rendered(
                provider_slots_render.provider_slots_page_json(
                    info.context.session,
                    picks,
                    filters,
                    first=window.first,
                    zone=settings.clinic_zone,
                    slots_per_provider=slots_per_provider,
                    after_provider_id=after_provider_id,
                    backward=window.backward,
                )
            )
        page = await list_provider_slots(
            info.context.session,
            filters,
            page=window.request,
            zone=settings.clinic_zone,
            slots_per_provider=slots_per_provider,
            after_provider_id=after_provider_id,
            backward=window.backward,
        )
        return connection(
            page, window, ProviderAvailableSlots.from_group, lambda group: (group.provider.id,)
        )


@strawberry.type
class BatchMutation:
    @strawberry.mutation(
        description="Create slots for one provider; each is checked against stored slots and "
        "the batch's earlier slots, the good ones are created and the others reported."
    )
    async def create_available_slots_in_batch(
        self,
        info: Info[Context, None],
        input: Annotated[
            CreateAvailableSlotsInBatchInput,
            strawberry.argument(description="The fields to write."),
        ],
        dry_run: Annotated[
            bool, strawberry.argument(description="Check and report only; write nothing.")
        ] = False,
    ) -> CreateAvailableSlotsInBatchPayload:
        await info.context.require_admin()
        result = await create_batch(
            info.context.session,
            provider_id=input.provider_id,
            slots=[
                {
                    "start_time": slot.start_time,
                    "end_time": slot.end_time,
                    "appointment_type": slot.appointment_type,
                    "capacity": slot.capacity,
                    "resource_kind": slot.resource_kind,
                }
                for slot in input.slots
            ],
            max_batch_size=info.context.settings.max_batch_size,
            dry_run=dry_run,
        )
        return CreateAvailableSlotsInBatchPayload(
            dry_run=dry_run,
            created_slots=len(result.slot_ids),
            failed_slots=len(result.failures),
            slot_ids=result.slot_ids,
            errors=[BatchSlotError.from_failure(failure) for failure in result.failures],
            would_create=[
                BatchPlannedSlot(
                    index=slot.index,
                    start_time=slot.start,
                    end_time=slot.end,
                    appointment_type=slot.appointment_type,
                )
                for slot in result.would_create
            ],
        )

    @strawberry.mutation(
        description="Delete slots of one provider that have no active booking; the others "
        "(booked, unknown, another provider's) are reported."
    )
    async def delete_available_slots_in_batch(
        self,
        info: Info[Context, None],
        input: Annotated[
            DeleteAvailableSlotsInBatchInput,
            strawberry.argument(description="The fields to write."),
        ],
    ) -> DeleteAvailableSlotsInBatchPayload:
        await info.context.require_admin()
        result = await delete_batch(
            info.context.session,
            provider_id=input.provider_id,
            slot_ids=input.slot_ids,
            max_batch_size=info.context.settings.max_batch_size,
        )
        return DeleteAvailableSlotsInBatchPayload(
            deleted_slots=len(result.slot_ids),
            failed_slots=len(result.failures),
            slot_ids=result.slot_ids,
            errors=[
                BatchDeleteError(id=ident, errors=message) for ident, message in result.failures
            ],
        )
