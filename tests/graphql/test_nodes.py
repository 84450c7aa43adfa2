"""Global ids: every record type is a Node; ``node``/``nodes`` refetch any record."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from gql.nodes import LOADERS
from gql.schema import build_schema
from models.integrations import webhooks as webhook_ops
from models.integrations.calendar_secrets import SecretBox
from models.integrations.external_calendars import (
    ExternalCalendarInput,
    create_external_calendar,
)
from tests.factories import Factory, future, iso
from tests.graphql.helpers import extensions, gql

NODE = """query($id: ID!) { node(nodeId: $id) {
  __typename nodeId
  ... on AvailableSlot { id startTime recurrencePattern provider { nodeId id } }
  ... on Provider { id firstName }
  ... on Patient { id lastName }
  ... on Booking { id status notes }
  ... on Hold { id holdStatus: status }
  ... on TimeOff { id blockedSlotIds }
  ... on SlotSeries { id pattern: recurrencePattern recurrenceEndDate upcomingSlots { id } }
  ... on Webhook { id url }
  ... on ExternalCalendar { id url }
} }"""


def node_id(type_name: str, ident: int) -> str:
    return base64.b64encode(f"{type_name}:{ident}".encode()).decode()


def test_every_node_type_can_be_refetched():
    schema = build_schema()._schema
    implementing = {
        name
        for name, type_ in schema.type_map.items()
        if any(interface.name == "Node" for interface in getattr(type_, "interfaces", ()))
    }
    assert implementing == set(LOADERS)
    assert {"AvailableSlot", "Provider", "Booking", "SlotSeries"} <= implementing


async def _records(client, auth, factory: Factory) -> dict[str, int]:
    provider = await factory.provider()
    slot = await factory.slot(provider)
    booking = await factory.booking(await factory.slot(provider, start=future(50)), notes="n")
    held = await factory.slot(provider, start=future(70))
    hold = await gql(
        client,
        "mutation($s: Int!) { createHold(input: {availableSlotId: $s}) { id } }",
        {"s": held.id},
        auth,
    )
    start = future(24 * 9)
    end = start + timedelta(hours=1)
    time_off = await gql(
        client,
        "mutation($i: CreateTimeOffInput!) { createTimeOff(input: $i) { id } }",
        {"i": {"providerId": provider.id, "startTime": iso(start), "endTime": iso(end)}},
        auth,
    )
    first = future(24 * 20)
    series = await gql(
        client,
        "mutation($i: CreateAvailableSlotInput!) { createAvailableSlot(input: $i) { seriesId } }",
        {
            "i": {
                "providerId": provider.id,
                "startTime": iso(first),
                "endTime": iso(first + timedelta(hours=1)),
                "recurring": True,
                "recurrencePattern": "WEEKLY",
                "recurrenceEndDate": (first + timedelta(weeks=2)).date().isoformat(),
            }
        },
        auth,
    )
    webhook, _secret = await webhook_ops.create_webhook(
        factory.session, url="http://127.0.0.1:9/hook", events=["*"], allow_private=True
    )
    calendar = await create_external_calendar(
        factory.session,
        provider.id,
        ExternalCalendarInput(kind="caldav", url="http://127.0.0.1:9/cal/"),
        box=SecretBox("node-test-key"),
        allow_private=True,
    )
    return {
        "AvailableSlot": slot.id,
        "Provider": provider.id,
        "Patient": booking.patient_id,
        "Booking": booking.id,
        "Hold": hold["data"]["createHold"]["id"],
        "TimeOff": time_off["data"]["createTimeOff"]["id"],
        "SlotSeries": series["data"]["createAvailableSlot"]["seriesId"],
        "Webhook": webhook.id,
        "ExternalCalendar": calendar.id,
    }


async def test_node_refetches_every_record_type(client, auth, factory: Factory, db_count):
    records = await _records(client, auth, factory)
    assert set(records) == set(LOADERS)
    for type_name, ident in records.items():
        body = await gql(client, NODE, {"id": node_id(type_name, ident)}, auth)
        assert "errors" not in body, body
        found = body["data"]["node"]
        assert found["__typename"] == type_name
        assert found["nodeId"] == node_id(type_name, ident)
        assert found["id"] == ident
    slot = await gql(client, NODE, {"id": node_id("AvailableSlot", records["AvailableSlot"])}, auth)
    provider_id = records["Provider"]
    assert slot["data"]["node"]["provider"] == {
        "nodeId": node_id("Provider", provider_id),
        "id": provider_id,
    }
    series = await gql(client, NODE, {"id": node_id("SlotSeries", records["SlotSeries"])}, auth)
    assert series["data"]["node"]["pattern"] == "WEEKLY"
    assert len(series["data"]["node"]["recurrenceEndDate"]) == 10
    # The same record through its own root field carries the same nodeId.
    own = await gql(
        client,
        "query($id: Int!) { availableSlot(id: $id) { nodeId } }",
        {"id": records["AvailableSlot"]},
        auth,
    )
    assert own["data"]["availableSlot"]["nodeId"] == node_id(
        "AvailableSlot", records["AvailableSlot"]
    )


async def test_the_encoding_is_base64_of_type_and_id(client, auth, factory: Factory):
    slot = await factory.slot()
    body = await gql(
        client, "query($id: Int!) { availableSlot(id: $id) { nodeId } }", {"id": slot.id}, auth
    )
    assert (
        base64.b64decode(body["data"]["availableSlot"]["nodeId"])
        == f"AvailableSlot:{slot.id}".encode()
    )


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "@@@",
        node_id("AvailableSlot", 424242),  # no such record
        node_id("Nothing", 1),  # no such type
        node_id("AvailableSlotConnection", 1),  # a type, but not a Node
        base64.b64encode(b"AvailableSlot:01").decode(),  # not the record's spelling
        base64.b64encode(b"AvailableSlot:-1").decode(),
        base64.b64encode(b"AvailableSlot").decode(),
        base64.urlsafe_b64encode(b"AvailableSlot:1??").decode(),
        "QXZhaWxhYmxlU2xvdDox\n",
    ],
)
async def test_an_id_that_names_no_record_is_null(client, auth, factory: Factory, bad):
    await factory.slot()
    body = await gql(client, NODE, {"id": bad}, auth)
    assert body == {"data": {"node": None}}


async def test_nodes_answer_in_order_with_nulls(client, auth, factory: Factory):
    provider = await factory.provider()
    slot = await factory.slot(provider)
    ids = [
        node_id("Provider", provider.id),
        "junk",
        node_id("AvailableSlot", slot.id),
        node_id("Patient", 999999),
    ]
    body = await gql(
        client,
        "query($ids: [ID!]!) { nodes(nodeIds: $ids) { __typename nodeId } }",
        {"ids": ids},
        auth,
    )
    assert body["data"]["nodes"] == [
        {"__typename": "Provider", "nodeId": ids[0]},
        None,
        {"__typename": "AvailableSlot", "nodeId": ids[2]},
        None,
    ]


async def test_nodes_are_bounded(client, auth, factory: Factory):
    provider = await factory.provider()
    query = "query($ids: [ID!]!) { nodes(nodeIds: $ids) { nodeId } }"
    hundred = await gql(client, query, {"ids": [node_id("Provider", provider.id)] * 100}, auth)
    assert len(hundred["data"]["nodes"]) == 100
    body = await gql(client, query, {"ids": [node_id("Provider", provider.id)] * 101}, auth)
    assert extensions(body) == {
        "code": "VALIDATION_FAILED",
        "status": 422,
        "errors": {"node_ids": ["must contain at most 100 ids"]},
    }


@pytest.mark.parametrize("role", ["provider", "patient"])
async def test_only_admins_read_nodes(client, factory: Factory, role):
    slot = await factory.slot()
    headers = {"X-User-Token": await factory.token(role=role)}
    for query in (
        f'{{ node(nodeId: "{node_id("AvailableSlot", slot.id)}") {{ nodeId }} }}',
        f'{{ nodes(nodeIds: ["{node_id("AvailableSlot", slot.id)}"]) {{ nodeId }} }}',
    ):
        body = await gql(client, query, None, headers)
        assert body["data"] is None
        assert extensions(body)["code"] == "FORBIDDEN"
    anonymous = await gql(
        client, f'{{ node(nodeId: "{node_id("AvailableSlot", slot.id)}") {{ nodeId }} }}'
    )
    assert extensions(anonymous)["code"] == "UNAUTHENTICATED"


async def test_notes_read_through_nodes_are_audited_once(client, auth, factory: Factory, db_count):
    first = await factory.booking(notes="private")
    second = await factory.booking(notes="private")
    ids = [node_id("Booking", first.id), node_id("Booking", second.id)]
    before = await db_count("audit_log", "action = 'read_notes'")
    plain = await gql(
        client, "query($ids: [ID!]!) { nodes(nodeIds: $ids) { nodeId } }", {"ids": ids}, auth
    )
    assert len(plain["data"]["nodes"]) == 2
    assert await db_count("audit_log", "action = 'read_notes'") == before
    body = await gql(
        client,
        "query($ids: [ID!]!) { nodes(nodeIds: $ids) { ... on Booking { notes } } }",
        {"ids": ids},
        auth,
    )
    assert body["data"]["nodes"] == [{"notes": "private"}, {"notes": "private"}]
    assert await db_count("audit_log", "action = 'read_notes'") == before + 1
