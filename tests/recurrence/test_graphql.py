"""The GraphQL face of recurrence, scopes, previews, batches and the grouped list."""

from __future__ import annotations

from datetime import timedelta

from tests.factories import Factory, future, iso
from tests.graphql.helpers import extensions, gql
from tests.graphql.plan_switch import (  # noqa: F401  (rendered, plan, graphql-core)
    no_rendering_fallback,
    plan_settings,
)

CREATE = """mutation($input: CreateAvailableSlotInput!) {
  createAvailableSlot(input: $input) { id seriesId startTime recurring recurrencePattern }
}"""
SERIES = """query($id: Int!) {
  slotSeries(id: $id, upcoming: 10) {
    id timeZone startLocal recurrenceRule durationMinutes exhausted occurrencesCreated
    skippedConflicts generatedUntil upcomingSlots { id startTime seriesId }
  }
}"""
PREVIEW = """query($input: CreateAvailableSlotInput!) {
  availableSlotPreview(input: $input) {
    wouldCreate { startTime endTime }
    wouldClash { startTime conflicts { id } }
    conflicts { id startTime endTime }
    recurrenceRule
  }
}"""
UPDATE = """mutation($id: Int!, $scope: SlotScope!, $input: UpdateAvailableSlotInput!) {
  updateAvailableSlotWithScope(id: $id, scope: $scope, input: $input) {
    scope seriesId slot { id appointmentType } updatedSlots { id appointmentType }
    keptSlots { id reason }
  }
}"""
DELETE = """mutation($id: Int!, $scope: SlotScope!) {
  deleteAvailableSlotWithScope(id: $id, scope: $scope) {
    scope seriesId deletedSlotIds keptSlots { id reason }
  }
}"""
BATCH = """mutation($input: CreateAvailableSlotsInBatchInput!, $dryRun: Boolean!) {
  createAvailableSlotsInBatch(input: $input, dryRun: $dryRun) {
    dryRun createdSlots failedSlots slotIds errors { index startTime errors }
    wouldCreate { index startTime }
  }
}"""
BATCH_DELETE = """mutation($input: DeleteAvailableSlotsInBatchInput!) {
  deleteAvailableSlotsInBatch(input: $input) {
    deletedSlots failedSlots slotIds errors { id errors }
  }
}"""
GROUPED = """query($first: Int, $after: String, $filter: AvailableSlotFilter) {
  providerAvailableSlots(first: $first, after: $after, filter: $filter) {
    totalCount pageInfo { hasNextPage endCursor }
    nodes { provider { id firstName } availableSlots { id startTime } }
  }
}"""


def weekly_input(provider_id: int, start, weeks: int) -> dict:
    return {
        "providerId": provider_id,
        "startTime": iso(start),
        "endTime": iso(start + timedelta(hours=1)),
        "appointmentType": "therapy",
        "recurring": True,
        "recurrencePattern": "WEEKLY",
        "recurrenceEndDate": (start + timedelta(weeks=weeks - 1)).date().isoformat(),
    }


async def test_series_preview_scope_and_delete(client, auth, factory: Factory, db_count):
    provider = await factory.provider(time_zone="Europe/London")
    # Mid-morning: the series moved three hours later below stays on the same days.
    start = future(24 * 3).replace(hour=9)
    blocker = await factory.slot(provider, start=start + timedelta(weeks=1))
    blocker_id = blocker.id
    data = weekly_input(provider.id, start, weeks=4)

    preview = (await gql(client, PREVIEW, {"input": data}, auth))["data"]["availableSlotPreview"]
    assert [item["startTime"] for item in preview["wouldCreate"]] == [
        iso(start),
        iso(start + timedelta(weeks=2)),
        iso(start + timedelta(weeks=3)),
    ]
    assert preview["wouldClash"][0]["conflicts"] == [{"id": blocker_id}]
    assert preview["recurrenceRule"] == "FREQ=WEEKLY"
    assert await db_count("available_slots") == 1

    clash = await gql(client, CREATE, {"input": data}, auth)
    assert extensions(clash)["code"] == "CONFLICT"
    assert extensions(clash)["conflicts"][0]["id"] == blocker_id
    assert await db_count("slot_series") == 0

    data["startTime"] = iso(start + timedelta(hours=3))
    data["endTime"] = iso(start + timedelta(hours=4))
    created = (await gql(client, CREATE, {"input": data}, auth))["data"]["createAvailableSlot"]
    assert created["recurring"] and created["seriesId"]
    series = (await gql(client, SERIES, {"id": created["seriesId"]}, auth))["data"]["slotSeries"]
    assert series["timeZone"] == "Europe/London" and series["exhausted"]
    assert series["occurrencesCreated"] == 4 and len(series["upcomingSlots"]) == 4
    slot_ids = [slot["id"] for slot in series["upcomingSlots"]]

    changed = await gql(
        client,
        UPDATE,
        {"id": slot_ids[1], "scope": "FOLLOWING", "input": {"appointmentType": "follow_up"}},
        auth,
    )
    payload = changed["data"]["updateAvailableSlotWithScope"]
    assert payload["scope"] == "FOLLOWING" and payload["seriesId"] == created["seriesId"]
    assert [slot["id"] for slot in payload["updatedSlots"]] == slot_ids[1:]
    assert {slot["appointmentType"] for slot in payload["updatedSlots"]} == {"follow_up"}

    bad = await gql(
        client, UPDATE, {"id": slot_ids[0], "scope": "SERIES", "input": {"providerId": 1}}, auth
    )
    assert extensions(bad)["code"] == "VALIDATION_FAILED"
    assert "provider_id" in extensions(bad)["errors"]

    removed = await gql(client, DELETE, {"id": slot_ids[0], "scope": "SERIES"}, auth)
    deleted = removed["data"]["deleteAvailableSlotWithScope"]
    assert deleted["deletedSlotIds"] == slot_ids and deleted["keptSlots"] == []
    assert await db_count("available_slots") == 1


async def test_batch_create_delete_and_grouped_list(client, auth, factory: Factory, db_count):
    provider = await factory.provider("Ada", "Lovelace")
    provider_id = provider.id
    start = future(24 * 2)
    slots = [
        {"startTime": iso(start), "endTime": iso(start + timedelta(hours=1))},
        {
            "startTime": iso(start + timedelta(minutes=30)),
            "endTime": iso(start + timedelta(hours=2)),
        },
        {"startTime": iso(future(-2)), "endTime": iso(future(-1))},
        {
            "startTime": iso(start + timedelta(hours=3)),
            "endTime": iso(start + timedelta(hours=4)),
            "appointmentType": "therapy",
        },
    ]
    variables = {"input": {"providerId": provider_id, "slots": slots}, "dryRun": True}

    dry = (await gql(client, BATCH, variables, auth))["data"]["createAvailableSlotsInBatch"]
    assert (
        dry["dryRun"]
        and dry["slotIds"] == []
        and [w["index"] for w in dry["wouldCreate"]] == [0, 3]
    )
    assert await db_count("available_slots") == 0

    variables["dryRun"] = False
    done = (await gql(client, BATCH, variables, auth))["data"]["createAvailableSlotsInBatch"]
    assert done["createdSlots"] == 2 and done["failedSlots"] == 2
    assert done["errors"] == [
        {
            "index": 1,
            "startTime": iso(start + timedelta(minutes=30)),
            "errors": "Time slot conflicts with another slot of this batch",
        },
        {
            "index": 2,
            "startTime": iso(future(-2)),
            "errors": {"start_time": ["must be in the future"]},
        },
    ]
    assert await db_count("available_slots") == 2

    grouped = (await gql(client, GROUPED, {"first": 5}, auth))["data"]["providerAvailableSlots"]
    assert grouped["totalCount"] == 1 and not grouped["pageInfo"]["hasNextPage"]
    [group] = grouped["nodes"]
    assert group["provider"] == {"id": provider_id, "firstName": "Ada"}
    assert [slot["id"] for slot in group["availableSlots"]] == done["slotIds"]

    too_many = await gql(
        client,
        BATCH,
        {"input": {"providerId": provider_id, "slots": [slots[0]] * 501}, "dryRun": False},
        auth,
    )
    assert extensions(too_many)["errors"] == {"slots": ["is too long (maximum is 500 slots)"]}

    removed = await gql(
        client,
        BATCH_DELETE,
        {"input": {"providerId": provider_id, "slotIds": [*done["slotIds"], 99999]}},
        auth,
    )
    payload = removed["data"]["deleteAvailableSlotsInBatch"]
    assert payload["deletedSlots"] == 2 and payload["errors"] == [
        {"id": 99999, "errors": "Not found"}
    ]
    assert await db_count("available_slots") == 0


async def test_graphql_needs_an_admin(client, factory: Factory):
    token = await factory.token(role="patient")
    body = await gql(client, SERIES, {"id": 1}, {"X-User-Token": token})
    assert extensions(body)["code"] == "FORBIDDEN"
