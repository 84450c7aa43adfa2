"""Providers and patients through GraphQL."""

from __future__ import annotations

from models.platform.entities import Patient, Provider
from tests.graphql.helpers import extensions, gql, stored

PROVIDER_FIELDS = "id firstName lastName timeZone active"
PATIENT_FIELDS = "id firstName lastName active createdAt"


async def test_create_provider_as_the_contract_names_it(client, auth, session):
    body = await gql(
        client,
        "mutation($input: CreateProviderInput!) {"
        " createProvider(input: $input) { id firstName lastName timeZone } }",
        {"input": {"firstName": " Dr. Jane ", "lastName": "Smith", "timeZone": "America/New_York"}},
        auth,
    )
    provider = body["data"]["createProvider"]
    assert provider["firstName"] == "Dr. Jane"
    assert provider["timeZone"] == "America/New_York"
    row = await stored(session, Provider, provider["id"])
    assert row is not None and (row.last_name, row.time_zone) == ("Smith", "America/New_York")


async def test_provider_time_zone_defaults_to_the_clinic_zone(client, auth):
    body = await gql(
        client,
        'mutation { createProvider(input: {firstName: "A", lastName: "B"}) { timeZone } }',
        None,
        auth,
    )
    assert body["data"]["createProvider"]["timeZone"] == "UTC"


async def test_create_provider_rejects_bad_fields_and_stores_nothing(client, auth, db_count):
    body = await gql(
        client,
        'mutation { createProvider(input: {firstName: " ", lastName: "B", timeZone: "Mars/Base"})'
        " { id } }",
        None,
        auth,
    )
    ext = extensions(body)
    assert ext["code"] == "VALIDATION_FAILED" and ext["status"] == 422
    assert ext["errors"] == {"first_name": ["can't be blank"], "time_zone": ["is invalid"]}
    assert await db_count("providers") == 0


async def test_provider_get_update_deactivate(client, auth, factory, session):
    provider_id = (await factory.provider()).id
    got = await gql(
        client, f"{{ provider(id: {provider_id}) {{ {PROVIDER_FIELDS} }} }}", None, auth
    )
    assert got["data"]["provider"] == {
        "id": provider_id,
        "firstName": "Jane",
        "lastName": "Smith",
        "timeZone": "UTC",
        "active": True,
    }
    updated = await gql(
        client,
        "mutation($id: Int!, $input: UpdateProviderInput!) {"
        f" updateProvider(id: $id, input: $input) {{ {PROVIDER_FIELDS} }} }}",
        {"id": provider_id, "input": {"lastName": "Doe", "timeZone": "Europe/Paris"}},
        auth,
    )
    assert updated["data"]["updateProvider"] == {
        "id": provider_id,
        "firstName": "Jane",
        "lastName": "Doe",
        "timeZone": "Europe/Paris",
        "active": True,
    }
    gone = await gql(
        client, f"mutation {{ deactivateProvider(id: {provider_id}) {{ active }} }}", None, auth
    )
    assert gone["data"]["deactivateProvider"] == {"active": False}
    row = await stored(session, Provider, provider_id)
    assert row is not None and (row.last_name, row.active) == ("Doe", False)


async def test_inactive_provider_takes_no_new_slots(client, auth, factory):
    provider_id = (await factory.provider()).id
    await gql(client, f"mutation {{ deactivateProvider(id: {provider_id}) {{ id }} }}", None, auth)
    body = await gql(
        client,
        "mutation($input: CreateAvailableSlotInput!) { createAvailableSlot(input: $input) { id } }",
        {
            "input": {
                "providerId": provider_id,
                "startTime": "2100-01-01T10:00:00Z",
                "endTime": "2100-01-01T11:00:00Z",
            }
        },
        auth,
    )
    assert extensions(body)["errors"] == {"provider_id": ["is inactive"]}


async def test_providers_pages_and_filters(client, auth, factory):
    created = [(await factory.provider(f"P{i}", "X")).id for i in range(5)]
    await gql(client, f"mutation {{ deactivateProvider(id: {created[1]}) {{ id }} }}", None, auth)
    query = """query($first: Int, $after: String, $active: Boolean) {
      providers(first: $first, after: $after, active: $active) {
        totalCount pageInfo { hasNextPage endCursor } nodes { id } } }"""
    seen: list[int] = []
    after = None
    while True:
        body = await gql(client, query, {"first": 2, "after": after}, auth)
        connection = body["data"]["providers"]
        assert connection["totalCount"] == 5
        seen += [node["id"] for node in connection["nodes"]]
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
    assert seen == created
    active = await gql(client, query, {"active": True}, auth)
    assert [n["id"] for n in active["data"]["providers"]["nodes"]] == [
        created[0],
        *created[2:],
    ]
    inactive = await gql(client, query, {"active": False}, auth)
    assert inactive["data"]["providers"]["totalCount"] == 1


async def test_create_patient_as_the_contract_names_it(client, auth, session):
    body = await gql(
        client,
        'mutation { createPatient(input: {firstName: "Alex", lastName: "Rivera"})'
        f" {{ {PATIENT_FIELDS} }} }}",
        None,
        auth,
    )
    patient = body["data"]["createPatient"]
    assert (patient["firstName"], patient["lastName"], patient["active"]) == (
        "Alex",
        "Rivera",
        True,
    )
    assert patient["createdAt"].endswith("Z")
    row = await stored(session, Patient, patient["id"])
    assert row is not None and row.first_name == "Alex"


async def test_patient_get_update_deactivate(client, auth, factory, session):
    patient_id = (await factory.patient()).id
    got = await gql(client, f"{{ patient(id: {patient_id}) {{ id firstName }} }}", None, auth)
    assert got["data"]["patient"] == {"id": patient_id, "firstName": "Alex"}
    updated = await gql(
        client,
        "mutation($id: Int!, $input: UpdatePatientInput!) {"
        " updatePatient(id: $id, input: $input) { firstName lastName } }",
        {"id": patient_id, "input": {"firstName": "Sam"}},
        auth,
    )
    assert updated["data"]["updatePatient"] == {"firstName": "Sam", "lastName": "Rivera"}
    gone = await gql(
        client, f"mutation {{ deactivatePatient(id: {patient_id}) {{ active }} }}", None, auth
    )
    assert gone["data"]["deactivatePatient"] == {"active": False}
    row = await stored(session, Patient, patient_id)
    assert row is not None and (row.first_name, row.active) == ("Sam", False)


async def test_update_patient_rejects_a_blank_name(client, auth, factory, session):
    patient_id = (await factory.patient()).id
    body = await gql(
        client,
        f'mutation {{ updatePatient(id: {patient_id}, input: {{lastName: ""}}) {{ id }} }}',
        None,
        auth,
    )
    assert extensions(body)["errors"] == {"last_name": ["can't be blank"]}
    row = await stored(session, Patient, patient_id)
    assert row is not None and row.last_name == "Rivera"


async def test_patients_pages(client, auth, factory):
    created = [(await factory.patient(f"P{i}", "Y")).id for i in range(4)]
    query = """query($after: String) { patients(first: 3, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id } } } }"""
    first = (await gql(client, query, {}, auth))["data"]["patients"]
    assert [e["node"]["id"] for e in first["edges"]] == created[:3]
    assert first["pageInfo"]["hasNextPage"] is True
    second = (await gql(client, query, {"after": first["pageInfo"]["endCursor"]}, auth))["data"][
        "patients"
    ]
    assert [e["node"]["id"] for e in second["edges"]] == created[3:]
    assert second["pageInfo"] == {
        "hasNextPage": False,
        "endCursor": second["edges"][-1]["cursor"],
    }


async def test_unknown_people_are_not_found(client, auth):
    for operation in (
        "{ provider(id: 999) { id } }",
        "{ patient(id: 999) { id } }",
        'mutation { updateProvider(id: 999, input: {firstName: "A"}) { id } }',
        "mutation { deactivateProvider(id: 999) { id } }",
        'mutation { updatePatient(id: 999, input: {firstName: "A"}) { id } }',
        "mutation { deactivatePatient(id: 999) { id } }",
    ):
        ext = extensions(await gql(client, operation, None, auth))
        assert ext == {"code": "NOT_FOUND", "status": 404, "errors": "Not found"}, operation
