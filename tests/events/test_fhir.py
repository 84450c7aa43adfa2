"""The FHIR face: Schedule and Slot searchsets, bulk publish, OperationOutcome errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import orjson
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.slot import Slot

from clinic_availability.app import create_app
from common.settings import Settings
from tests.factories import BASE, BOOKS, future


def _bundle(body: dict[str, Any]) -> list[dict[str, Any]]:
    Bundle.model_validate(body)
    assert body["type"] == "searchset"
    resources = [entry["resource"] for entry in body["entry"]]
    for resource in resources:
        model: Any = {"Schedule": Schedule, "Slot": Slot}[resource["resourceType"]]
        model.model_validate(resource)
    return resources


async def _clinic(factory: Any, client: Any, auth: Any) -> dict[str, Any]:
    provider = await factory.provider()
    idle = await factory.provider("Idle")
    patient = await factory.patient(first_name="Zelda")
    start = future(24 * 3)
    free = await factory.slot(provider, start=start)
    busy = await factory.slot(provider, start=start + timedelta(hours=2))
    closed = await factory.slot(provider, start=start + timedelta(hours=4))
    later = await factory.slot(idle, start=start + timedelta(days=10))
    booked = await client.post(
        BOOKS,
        json={"book": {"available_slot_id": busy.id, "patient_id": patient.id, "notes": "flu"}},
        headers=auth,
    )
    assert booked.status_code == 201
    shut = await client.put(
        f"{BASE}/available_slots/{closed.id}",
        json={"available_slot": {"available": False}},
        headers=auth,
    )
    assert shut.status_code == 200
    return {
        "provider": provider,
        "idle": idle,
        "free": free,
        "busy": busy,
        "closed": closed,
        "later": later,
        "start": start,
    }


async def test_schedules_and_slots(client: Any, auth: Any, factory: Any):
    clinic = await _clinic(factory, client, auth)
    response = await client.get("/fhir/Schedule", headers=auth)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    schedules = _bundle(response.json())
    assert [s["actor"][0]["reference"] for s in schedules] == [
        f"Practitioner/{clinic['provider'].id}",
        f"Practitioner/{clinic['idle'].id}",
    ]
    provider_id = clinic["provider"].id
    everything = await client.get(
        "/fhir/Slot", params={"schedule": f"Schedule/{provider_id}"}, headers=auth
    )
    slots = _bundle(everything.json())
    assert {s["id"]: s["status"] for s in slots} == {
        str(clinic["free"].id): "free",
        str(clinic["busy"].id): "busy",
        str(clinic["closed"].id): "busy-unavailable",
    }
    assert all(s["schedule"]["reference"] == f"Schedule/{provider_id}" for s in slots)
    assert "Zelda" not in everything.text and "flu" not in everything.text
    day = clinic["start"].date()
    free = await client.get(
        "/fhir/Slot",
        params={"schedule": f"Schedule/{provider_id}", "start": f"ge{day}", "status": "free"},
        headers=auth,
    )
    assert [s["id"] for s in _bundle(free.json())] == [str(clinic["free"].id)]
    several = await client.get(
        "/fhir/Slot", params={"status": "busy,busy-unavailable"}, headers=auth
    )
    assert {s["id"] for s in _bundle(several.json())} == {
        str(clinic["busy"].id),
        str(clinic["closed"].id),
    }
    window = await client.get(
        "/fhir/Slot",
        params=[
            ("start", f"ge{day + timedelta(days=5)}"),
            ("start", f"lt{day + timedelta(days=30)}"),
        ],
        headers=auth,
    )
    assert [s["id"] for s in _bundle(window.json())] == [str(clinic["later"].id)]
    paged = (await client.get("/fhir/Slot", params={"_count": 2}, headers=auth)).json()
    assert paged["total"] == 4 and len(paged["entry"]) == 2
    assert any(link["relation"] == "next" for link in paged["link"])


async def test_bulk_publish(client: Any, auth: Any, factory: Any):
    clinic = await _clinic(factory, client, auth)
    manifest = (await client.get("/fhir/$bulk-publish", headers=auth)).json()
    assert {item["type"] for item in manifest["output"]} == {"Schedule", "Slot"}
    assert manifest["error"] == [] and manifest["transactionTime"]
    found: dict[str, list[dict[str, Any]]] = {}
    for item in manifest["output"]:
        response = await client.get(item["url"].replace("http://testserver", ""), headers=auth)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/fhir+ndjson")
        lines = [orjson.loads(line) for line in response.text.splitlines() if line]
        for line in lines:
            model: Any = {"Schedule": Schedule, "Slot": Slot}[item["type"]]
            model.model_validate(line)
        found[item["type"]] = lines
    assert len(found["Schedule"]) == 2
    assert {s["id"] for s in found["Slot"]} == {
        str(clinic[name].id) for name in ("free", "busy", "closed", "later")
    }


async def test_errors_are_operation_outcomes(client: Any, auth: Any, factory: Any):
    provider_token = await factory.token(role="provider")
    cases = [
        ("/fhir/Schedule", {}, 401),
        ("/fhir/Slot", {"X-User-Token": provider_token}, 403),
        ("/fhir/Slot?status=maybe", auth, 400),
        ("/fhir/Slot?start=xx2027-01-01", auth, 400),
        ("/fhir/Slot?schedule=Practitioner/1", auth, 400),
        ("/fhir/Schedule/999999", auth, 404),
    ]
    for url, headers, status in cases:
        response = await client.get(url, headers=headers)
        assert response.status_code == status, (url, response.text)
        OperationOutcome.model_validate(response.json())
        assert response.json()["issue"][0]["severity"] == "error"


async def test_public_feed_needs_no_token(database_url: str, factory: Any):
    await factory.provider()
    app = create_app(Settings(database_url=database_url, fhir_public=True))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/fhir/Schedule")
    await app.state.engine.dispose()
    assert response.status_code == 200 and len(_bundle(response.json())) == 1
