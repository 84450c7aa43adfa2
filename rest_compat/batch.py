"""Batch create and batch delete of one provider's slots."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from common.deps import AdminDep, SessionDep, SettingsDep
from models.platform.timeutil import format_timestamp
from models.scheduling.batch import BatchCreation, BatchDeletion, create_batch, delete_batch
from rest_compat.responses import JSONBody
from rest_compat.schemas import (
    AUTH_ERRORS,
    ID_SCHEMA,
    TIMESTAMP_EXAMPLE,
    Capacity,
    OptionalAppointmentType,
    OptionalText,
    error_responses,
)
from rest_compat.series import DryRunParam

router = APIRouter(prefix="/providers/available_slots", tags=["Provider available slots"])


class BatchSlotIn(BaseModel):
    start_time: str = Field(examples=[TIMESTAMP_EXAMPLE])
    end_time: str = Field(examples=["2030-10-27T15:00:00.000Z"])
    appointment_type: OptionalAppointmentType = None
    capacity: Capacity = Field(default=None, description="Seats, 1 to 100 (default 1)")
    resource_kind: OptionalText = Field(
        default=None, description="The kind of an active resource the slot needs; null: none"
    )


class BatchCreateBody(BaseModel):
    """Loose on purpose: each slot is checked on its own and reported by index."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "required": ["provider_id", "slots"],
            "example": {
                "provider_id": 456,
                "slots": [
                    {
                        "start_time": "2030-10-27T09:00:00.000Z",
                        "end_time": "2030-10-27T10:00:00.000Z",
                        "appointment_type": "therapy",
                    },
                    {
                        "start_time": "2030-10-27T10:00:00.000Z",
                        "end_time": "2030-10-27T11:00:00.000Z",
                        "appointment_type": "therapy",
                    },
                ],
            },
        },
    )

    provider_id: Any = Field(default=None, json_schema_extra=ID_SCHEMA)
    slots: Any = Field(
        default=None,
        description="At most 500 slots (setting max_batch_size).",
        json_schema_extra={"type": "array", "items": BatchSlotIn.model_json_schema()},
    )


class BatchDeleteBody(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "required": ["provider_id", "slot_ids"],
            "example": {"provider_id": 456, "slot_ids": [789, 790]},
        },
    )

    provider_id: Any = Field(default=None, json_schema_extra=ID_SCHEMA)
    slot_ids: Any = Field(
        default=None, json_schema_extra={"type": "array", "items": {"type": "integer"}}
    )


class BatchErrorOut(BaseModel):
    index: int
    start_time: str | None
    errors: dict[str, list[str]] | str


class BatchCreateOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"created_slots": 2, "failed_slots": 0, "slot_ids": [789, 790], "errors": []}
        }
    )

    created_slots: int
    failed_slots: int
    slot_ids: list[int]
    errors: list[BatchErrorOut]


class PlannedBatchSlotOut(BaseModel):
    index: int
    start_time: str
    end_time: str
    appointment_type: str | None


class BatchPreviewOut(BatchCreateOut):
    dry_run: bool
    would_create: list[PlannedBatchSlotOut]


class BatchDeleteErrorOut(BaseModel):
    id: Any
    errors: str


class BatchDeleteOut(BaseModel):
    deleted_slots: int
    failed_slots: int
    slot_ids: list[int]
    errors: list[BatchDeleteErrorOut]


def batch_create_json(result: BatchCreation) -> dict[str, Any]:
    body: dict[str, Any] = {
        "created_slots": len(result.slot_ids),
        "failed_slots": len(result.failures),
        "slot_ids": result.slot_ids,
        "errors": [failure.summary() for failure in result.failures],
    }
    if result.dry_run:
        body["dry_run"] = True
        body["created_slots"] = 0
        body["would_create"] = [
            {
                "index": slot.index,
                "start_time": format_timestamp(slot.start),
                "end_time": format_timestamp(slot.end),
                "appointment_type": slot.appointment_type,
            }
            for slot in result.would_create
        ]
    return body


def batch_delete_json(result: BatchDeletion) -> dict[str, Any]:
    return {
        "deleted_slots": len(result.slot_ids),
        "failed_slots": len(result.failures),
        "slot_ids": result.slot_ids,
        "errors": [{"id": ident, "errors": message} for ident, message in result.failures],
    }


@router.post(
    "/create_in_batch",
    status_code=201,
    response_model=BatchCreateOut,
    responses={
        200: {"model": BatchPreviewOut, "description": "dry_run=true: nothing was written"},
        **error_responses(*AUTH_ERRORS, 422),
    },
    summary="Create slots for one provider in a batch; the good ones are created",
    description="Each slot is checked against the provider's stored slots and the earlier "
    "slots of the batch. Failed slots are listed in `errors` by their `index`. With "
    "`dry_run=true` nothing is written and the reply (200) adds `would_create`.",
)
async def create_in_batch(
    body: BatchCreateBody,
    _admin: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    dry_run: DryRunParam = False,
) -> Response:
    result = await create_batch(
        session,
        provider_id=body.provider_id,
        slots=body.slots,
        max_batch_size=settings.max_batch_size,
        dry_run=dry_run,
    )
    return JSONBody(batch_create_json(result), status_code=200 if dry_run else 201)


@router.delete(
    "/destroy_in_batch",
    response_model=BatchDeleteOut,
    responses=error_responses(*AUTH_ERRORS, 409, 422),
    summary="Delete slots of one provider in a batch; booked slots are kept",
    description="JSON body `provider_id`, `slot_ids`. Ids of another provider's slots, or "
    "unknown ids, fail as `Not found`; slots with an active booking are not deleted.",
)
async def destroy_in_batch(
    body: BatchDeleteBody, _admin: AdminDep, session: SessionDep, settings: SettingsDep
) -> Response:
    result = await delete_batch(
        session,
        provider_id=body.provider_id,
        slot_ids=body.slot_ids,
        max_batch_size=settings.max_batch_size,
    )
    return JSONBody(batch_delete_json(result))
