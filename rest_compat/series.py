"""REST shapes of recurring-slot replies: scoped changes and create previews."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from models.platform.timeutil import format_timestamp
from models.scheduling.recurrence import Occurrence
from models.scheduling.series import CreationPreview
from models.scheduling.series_changes import ScopedChange
from rest_compat.render import slot_json
from rest_compat.schemas import ScopeQuery

ScopeParam = Annotated[
    ScopeQuery,
    Query(
        description="single (default): this slot only; following: this occurrence and the "
        "later ones of its series; series: every occurrence not started yet. Occurrences "
        "with an active booking are kept as they are and listed in kept_slots."
    ),
]
DryRunParam = Annotated[
    bool,
    Query(
        description="Check and report what would be created and what would clash; "
        "write nothing (reply 200)."
    ),
]


def _planned(preview: CreationPreview, occurrence: Occurrence) -> dict[str, Any]:
    valid = preview.valid
    return {
        "provider_id": valid.provider_id,
        "start_time": format_timestamp(occurrence.start),
        "end_time": format_timestamp(occurrence.end),
        "appointment_type": valid.appointment_type,
        "available": valid.available,
        "recurring": valid.recurring,
        "recurrence_pattern": valid.recurrence_pattern,
    }


def preview_json(preview: CreationPreview) -> dict[str, Any]:
    return {
        "dry_run": True,
        "would_create": [_planned(preview, occurrence) for occurrence in preview.fits],
        "would_clash": [
            {
                **_planned(preview, clash.occurrence),
                "conflicts": [stored.summary() for stored in clash.conflicts],
            }
            for clash in preview.clashes
        ],
        "conflicts": preview.conflicts,
    }


def scoped_update_json(change: ScopedChange) -> dict[str, Any]:
    assert change.slot is not None
    return {
        "scope": change.scope.value,
        "series_id": change.series_id,
        "updated_slots": len(change.slot_ids),
        "slot_ids": change.slot_ids,
        "kept_slots": [kept.summary() for kept in change.kept],
        "available_slot": slot_json(change.slot),
    }


def scoped_delete_json(change: ScopedChange) -> dict[str, Any]:
    return {
        "scope": change.scope.value,
        "series_id": change.series_id,
        "deleted_slots": len(change.slot_ids),
        "slot_ids": change.slot_ids,
        "kept_slots": [kept.summary() for kept in change.kept],
    }
