"""What a provider is matched on, set and read through GraphQL."""

from __future__ import annotations

from sqlalchemy import select

from models.platform.entities import AuditEntry, Provider
from tests.graphql.helpers import extensions, gql, stored

MATCHING = "id appointmentTypeKeys licensedStates languages"


async def test_create_and_update_set_the_lists(client, auth, session):
    body = await gql(
        client,
        f"""mutation {{ createProvider(input: {{firstName: "Ana", lastName: "Ruiz",
            appointmentTypeKeys: ["therapy", "therapy", "assessment"],
            licensedStates: ["ca", "NY"], languages: ["es-MX", "en"]}}) {{ {MATCHING} }} }}""",
        None,
        auth,
    )
    created = body["data"]["createProvider"]
    assert created["appointmentTypeKeys"] == ["therapy", "assessment"]
    assert created["licensedStates"] == ["CA", "NY"]
    assert created["languages"] == ["es-MX", "en"]
    row = await stored(session, Provider, created["id"])
    assert row is not None and row.licensed_states == ["CA", "NY"]

    body = await gql(
        client,
        f"""mutation($id: Int!) {{ updateProvider(id: $id, input: {{licensedStates: ["TX"],
            appointmentTypeKeys: null}})
            {{ {MATCHING} bookingRules {{ maxBookingsPerDay }} }} }}""",
        {"id": created["id"]},
        auth,
    )
    updated = body["data"]["updateProvider"]
    assert updated["licensedStates"] == ["TX"]
    assert updated["appointmentTypeKeys"] == []  # every type
    assert updated["languages"] == ["es-MX", "en"]  # not sent: unchanged

    read = await gql(client, f"{{ provider(id: {created['id']}) {{ {MATCHING} }} }}", None, auth)
    assert read["data"]["provider"] == {k: v for k, v in updated.items() if k != "bookingRules"}
    await session.rollback()
    fields = (
        await session.execute(
            select(AuditEntry.changed_fields).where(
                AuditEntry.entity == "provider",
                AuditEntry.entity_id == created["id"],
                AuditEntry.action == "update",
            )
        )
    ).scalar_one()
    assert set(fields) == {"licensed_states", "appointment_type_keys"}


async def test_bad_lists_are_refused_and_change_nothing(client, auth, factory, session):
    provider = await factory.provider()
    provider_id = provider.id
    body = await gql(
        client,
        """mutation($id: Int!) { updateProvider(id: $id, input: {licensedStates: ["ZZ"],
            appointmentTypeKeys: ["nope"], languages: ["not a tag"]}) { id } }""",
        {"id": provider_id},
        auth,
    )
    assert extensions(body)["errors"] == {
        "appointment_type_keys": ["is not included in the list"],
        "licensed_states": ["is not included in the list"],
        "languages": ["is invalid"],
    }
    row = await stored(session, Provider, provider_id)
    assert row is not None
    assert (row.appointment_type_keys, row.licensed_states, row.languages) == ([], [], [])


async def test_a_slots_provider_reads_the_lists_in_one_batch(client, auth, factory):
    first = await factory.provider()
    second = await factory.provider("Li", "Wei")
    await factory.slot(first)
    await factory.slot(second)
    await gql(
        client,
        f"""mutation {{ updateProvider(id: {second.id}, input: {{languages: ["zh-Hant"]}})
            {{ id }} }}""",
        None,
        auth,
    )
    body = await gql(
        client,
        "{ availableSlots { nodes { provider { id languages licensedStates } } } }",
        None,
        auth,
    )
    providers = [node["provider"] for node in body["data"]["availableSlots"]["nodes"]]
    assert providers == [
        {"id": first.id, "languages": [], "licensedStates": []},
        {"id": second.id, "languages": ["zh-Hant"], "licensedStates": []},
    ]
