"""The calendar feed and FHIR exactly as outside tools read them: group slots, SMART
Scheduling Links, FHIR errors and search rules, HEAD, absolute URLs and DTSTAMP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import icalendar
import orjson
import vobject
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.slot import Slot

from clinic_availability.app import create_app
from common.settings import Settings
from tests.events.fhir_schema import schema_errors
from tests.factories import BASE, future

FHIR_MODELS: dict[str, Any] = {
    "Bundle": Bundle,
    "CapabilityStatement": CapabilityStatement,
    "OperationOutcome": OperationOutcome,
    "Schedule": Schedule,
    "Slot": Slot,
}


def feed(provider_id: int) -> str:
    return f"{BASE}/providers/{provider_id}/calendar.ics"


async def _group_slot(factory: Any, booked: int, capacity: int = 3) -> Any:
    provider = await factory.provider()
    slot = await factory.slot(provider, start=future(48), capacity=capacity)
    for _ in range(booked):
        await factory.booking(slot, await factory.patient())
    return provider, slot


def _events(text: str) -> dict[str, Any]:
    calendar = icalendar.Calendar.from_ical(text)
    return {str(event["UID"]): event for event in calendar.walk("VEVENT")}


async def _fhir_slot(client: Any, auth: Any, slot_id: int) -> dict[str, Any]:
    response = await client.get(f"/fhir/Slot/{slot_id}", headers=auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    Slot.model_validate(body)
    return body


async def test_group_slot_with_an_open_seat_is_free(client: Any, auth: Any, factory: Any):
    provider, slot = await _group_slot(factory, booked=2)
    uid = f"slot-{slot.id}@clinic-availability"
    event = _events((await client.get(feed(provider.id), headers=auth)).text)[uid]
    assert (str(event["SUMMARY"]), str(event["TRANSP"])) == ("Booked 2 of 3", "TRANSPARENT")
    assert (await _fhir_slot(client, auth, slot.id))["status"] == "free"
    free = await client.get("/fhir/Slot", params={"status": "free"}, headers=auth)
    assert [e["resource"]["id"] for e in free.json()["entry"]] == [str(slot.id)]

    await factory.booking(slot, await factory.patient())
    event = _events((await client.get(feed(provider.id), headers=auth)).text)[uid]
    assert (str(event["SUMMARY"]), str(event["TRANSP"])) == ("Booked 3 of 3", "OPAQUE")
    assert (await _fhir_slot(client, auth, slot.id))["status"] == "busy"
    busy = await client.get("/fhir/Slot", params={"status": "busy"}, headers=auth)
    assert [e["resource"]["id"] for e in busy.json()["entry"]] == [str(slot.id)]


async def test_bulk_files_say_only_free_or_busy_and_schedules_name_their_types(
    client: Any, auth: Any, factory: Any
):
    provider = await factory.provider()
    start = future(30)
    await factory.slot(provider, start=start, appointment_type="consultation")
    await factory.slot(provider, start=start + timedelta(hours=2), appointment_type="follow_up")
    closed = await factory.slot(provider, start=start + timedelta(hours=4))
    shut = await client.put(
        f"{BASE}/available_slots/{closed.id}",
        json={"available_slot": {"available": False}},
        headers=auth,
    )
    assert shut.status_code == 200
    manifest = (await client.get("/fhir/$bulk-publish", headers=auth)).json()
    assert set(manifest) == {"transactionTime", "request", "output", "error"}
    assert manifest["request"] == "http://testserver/fhir/$bulk-publish"
    files = {item["type"]: item["url"] for item in manifest["output"]}
    slots_file = await client.get(files["Slot"].removeprefix("http://testserver"), headers=auth)
    slots = [orjson.loads(line) for line in slots_file.text.splitlines()]
    assert {s["id"]: s["status"] for s in slots}[str(closed.id)] == "busy"
    assert {s["status"] for s in slots} <= {"free", "busy"}
    schedules_file = await client.get(
        files["Schedule"].removeprefix("http://testserver"), headers=auth
    )
    [schedule] = [orjson.loads(line) for line in schedules_file.text.splitlines()]
    Schedule.model_validate(schedule)
    assert [kind["text"] for kind in schedule["serviceType"]] == ["consultation", "follow_up"]
    assert schema_errors([*slots, schedule]) == [[]] * (len(slots) + 1)


async def test_every_fhir_error_is_an_operation_outcome(client: Any, auth: Any, factory: Any):
    _provider, slot = await _group_slot(factory, booked=0)
    cases = [
        ("GET", "/fhir/Slot/999999", {}, 404),
        ("GET", "/fhir/Slot/abc", {}, 404),
        ("GET", "/fhir/Patient", {}, 404),
        ("GET", "/fhir/Patient/1", {}, 404),
        ("GET", "/fhir/$bulk-publish/Patient.ndjson", {}, 404),
        ("POST", "/fhir/Slot", {}, 405),
        ("GET", f"/fhir/Slot/{slot.id}", {"accept": "application/fhir+xml"}, 406),
        ("GET", "/fhir/Slot?_format=xml", {}, 406),
        ("GET", "/fhir/Schedule", {"accept": "application/xml"}, 406),
    ]
    outcomes = []
    for method, url, headers, status in cases:
        response = await client.request(method, url, headers={**auth, **headers})
        assert response.status_code == status, (url, response.text)
        assert response.headers["content-type"].startswith("application/fhir+json"), url
        body = response.json()
        OperationOutcome.model_validate(body)
        assert body["issue"][0]["severity"] == "error"
        outcomes.append(body)
    assert schema_errors(outcomes) == [[]] * len(outcomes)
    for accept in ("application/fhir+json", "application/json", "*/*"):
        fine = await client.get(f"/fhir/Slot/{slot.id}", headers={**auth, "accept": accept})
        assert fine.status_code == 200, accept


async def test_repeated_parameters_are_combined_with_and(client: Any, auth: Any, factory: Any):
    one = await factory.slot(await factory.provider(), start=future(30))
    two = await factory.slot(await factory.provider("Ann"), start=future(31))
    first, second = f"Schedule/{one.provider_id}", f"Schedule/{two.provider_id}"

    async def ids(params: list[tuple[str, str]]) -> set[str]:
        response = await client.get("/fhir/Slot", params=params, headers=auth)
        assert response.status_code == 200, response.text
        return {entry["resource"]["id"] for entry in response.json()["entry"]}

    assert await ids([("schedule", first), ("schedule", second)]) == set()
    assert await ids([("schedule", f"{first},{second}")]) == {str(one.id), str(two.id)}
    assert await ids([("schedule", first), ("schedule", first)]) == {str(one.id)}
    assert await ids([("status", "free"), ("status", "busy")]) == set()
    assert await ids([("status", "free,busy")]) == {str(one.id), str(two.id)}


async def test_metadata_is_a_capability_statement(client: Any, factory: Any):
    response = await client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    CapabilityStatement.model_validate(body)
    [rest] = body["rest"]
    assert {r["type"] for r in rest["resource"]} == {"Schedule", "Slot"}
    slot = next(r for r in rest["resource"] if r["type"] == "Slot")
    assert {p["name"] for p in slot["searchParam"]} >= {"schedule", "start", "status"}
    assert schema_errors([body]) == [[]]


async def test_fhir_searches_validate_against_the_official_schema(
    client: Any, auth: Any, factory: Any
):
    _provider, slot = await _group_slot(factory, booked=1)
    bundles = [
        (await client.get(url, headers=auth)).json()
        for url in ("/fhir/Schedule", "/fhir/Slot", f"/fhir/Slot?schedule=Schedule/{_provider.id}")
    ]
    for bundle in bundles:
        Bundle.model_validate(bundle)
    read = await _fhir_slot(client, auth, slot.id)
    assert schema_errors([*bundles, read]) == [[]] * 4


async def test_feed_answers_head_with_the_documented_cache_rule(
    client: Any, auth: Any, factory: Any
):
    provider, _slot = await _group_slot(factory, booked=1)
    got = await client.get(feed(provider.id), headers=auth)
    head = await client.head(feed(provider.id), headers=auth)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == str(len(got.content))
    assert got.headers["cache-control"] == "no-store"
    assert head.headers["cache-control"] == "no-store"
    refused = await client.head(feed(provider.id))
    assert refused.status_code == 401


async def test_dtstamp_is_when_the_feed_was_made(client: Any, auth: Any, factory: Any):
    provider, slot = await _group_slot(factory, booked=0)
    before = datetime.now(UTC).replace(microsecond=0)
    text = (await client.get(feed(provider.id), headers=auth)).text
    event = _events(text)[f"slot-{slot.id}@clinic-availability"]
    stamped = event.decoded("DTSTAMP")
    assert stamped >= before
    assert event.decoded("LAST-MODIFIED") <= stamped
    parsed = vobject.readOne(text)
    [other] = parsed.vevent_list
    assert other.uid.value == f"slot-{slot.id}@clinic-availability"
    assert other.summary.value == "Open"
    assert other.dtstart.value == slot.start_time.astimezone(UTC)


FEED_MUTATION = "mutation($p: Int!) { providerCalendarFeed(providerId: $p) { key url } }"


async def _feed_url(http: Any, auth: Any, provider_id: int) -> tuple[str, str]:
    response = await http.post(
        "/graphql", json={"query": FEED_MUTATION, "variables": {"p": provider_id}}, headers=auth
    )
    data = response.json()["data"]["providerCalendarFeed"]
    return data["key"], data["url"]


async def test_feed_url_is_absolute(client: Any, auth: Any, factory: Any, database_url: str):
    provider = await factory.provider()
    key, url = await _feed_url(client, auth, provider.id)
    assert url == f"http://testserver{feed(provider.id)}?key={key}"
    opened = await client.get(url.removeprefix("http://testserver"))
    assert opened.status_code == 200

    settings = Settings(
        database_url=database_url,
        token_cache_seconds=0,
        public_base_url="https://clinic.example.org/api/",
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://internal") as http:
            key, url = await _feed_url(http, auth, provider.id)
            assert url == f"https://clinic.example.org/api{feed(provider.id)}?key={key}"
            manifest = (await http.get("/fhir/$bulk-publish", headers=auth)).json()
            assert manifest["request"] == "https://clinic.example.org/api/fhir/$bulk-publish"
    finally:
        await app.state.engine.dispose()
