"""One strictness on every route: JSON integers in bodies, plainly written ids in paths."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from common import strict_numbers
from common.settings import Settings
from common.strict_numbers import plain_id
from tests.factories import BASE, BOOKS, SLOTS, future, iso
from tests.scheduling.helpers import HOLDS, TIME_OFFS

HOOKS = f"{BASE}/webhooks"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, token_cache_seconds=0, webhook_allow_private_targets=True
    )


# Written forms of the id 1 that are not plain: each names no record.
UNPLAIN = ("01", "+1", "1.0", "%201", "1%20", "%2B1", "1e0", "\u0661", "0x1", "-1")


def _routes(routes: Any, prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    for route in routes:
        if hasattr(route, "original_router"):
            context = route.include_context
            yield from _routes(
                route.original_router.routes, prefix + getattr(context, "prefix", "")
            )
        elif isinstance(route, APIRoute):
            yield prefix + route.path, route


def _is_path_id(field: Any) -> bool:
    return any(
        getattr(item, "func", None) is strict_numbers._path_id for item in field.field_info.metadata
    )


def _loose_ints(annotation: Any, strict: bool = False) -> bool:
    """Whether ``annotation`` takes an int that is not strict (``"5"``, ``true``, ``5.0``)."""
    if annotation is int:
        return not strict
    if typing.get_origin(annotation) is typing.Annotated:
        inner, *metadata = typing.get_args(annotation)
        marked = any(getattr(item, "strict", False) for item in metadata)
        return _loose_ints(inner, strict or marked)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return any(_field_is_loose(field) for field in annotation.model_fields.values())
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list, dict):
        return any(_loose_ints(arg, strict) for arg in typing.get_args(annotation))
    return False


def _field_is_loose(field: FieldInfo) -> bool:
    strict = any(getattr(item, "strict", False) for item in field.metadata)
    return _loose_ints(field.annotation, strict)


def test_every_route_reads_ids_and_numbers_by_the_one_rule(app: Any) -> None:
    checked = 0
    for path, route in _routes(app.routes):
        for param in route.dependant.path_params:
            if path.startswith("/fhir/"):
                continue  # FHIR's own ids: read with plain_id (tested in test_fhir_ids below)
            assert _is_path_id(param), (path, param.name)
            checked += 1
        body = route.body_field
        if body is not None:
            assert not _loose_ints(body.field_info.annotation), path
    assert checked >= 14


def test_plain_ids() -> None:
    assert [plain_id(text) for text in ("1", "10", "2147483647")] == [1, 10, 2**31 - 1]
    for text in ("0", "010", "+1", "-1", " 1", "1 ", "1_0", "1.0", "\u0661", "2147483648", ""):
        assert plain_id(text) is None, text


async def _records(client: Any, auth: Any, factory: Any) -> dict[str, str]:
    provider = await factory.provider()
    slot = await factory.slot(provider)
    other = await factory.slot(provider, start=future(48))
    patient = (await factory.patient()).id
    book = await client.post(
        BOOKS, json={"book": {"available_slot_id": slot.id, "patient_id": patient}}, headers=auth
    )
    hold = await client.post(HOLDS, json={"hold": {"available_slot_id": other.id}}, headers=auth)
    start = future(24 * 20)
    time_off = await client.post(
        TIME_OFFS,
        json={
            "time_off": {
                "provider_id": provider.id,
                "start_time": iso(start),
                "end_time": iso(start + timedelta(hours=1)),
            }
        },
        headers=auth,
    )
    hook = await client.post(
        HOOKS, json={"webhook": {"url": "http://127.0.0.1:9/h", "events": ["*"]}}, headers=auth
    )
    for response in (book, hold, time_off, hook):
        assert response.status_code == 201, response.text
        assert response.json()["id"] == 1
    assert slot.id == provider.id == 1
    return {
        "slot": f"{SLOTS}/{{}}",
        "book": f"{BOOKS}/{{}}",
        "hold": f"{HOLDS}/{{}}",
        "time off": f"{TIME_OFFS}/{{}}",
        "webhook": f"{HOOKS}/{{}}",
        "deliveries": f"{HOOKS}/{{}}/deliveries",
        "calendar": f"{BASE}/providers/{{}}/calendar.ics",
        "fhir schedule": "/fhir/Schedule/{}",
    }


async def test_path_ids_not_plainly_written_are_404_on_every_route(
    client: Any, auth: Any, factory: Any
) -> None:
    templates = await _records(client, auth, factory)
    for name, template in templates.items():
        found = await client.get(template.format(1), headers=auth)
        assert found.status_code == 200, (name, found.text)
        for text in UNPLAIN:
            response = await client.get(template.format(text), headers=auth)
            assert response.status_code == 404, (name, text, response.status_code)
    # Writes too: nothing is released, cancelled or deleted through another spelling.
    for text in UNPLAIN:
        for template in (templates["hold"], templates["time off"], templates["webhook"]):
            response = await client.delete(template.format(text), headers=auth)
            assert response.status_code == 404, (template, text)
        response = await client.put(
            templates["slot"].format(text), json={"available_slot": {}}, headers=auth
        )
        assert response.status_code == 404, text
        response = await client.post(f"{HOOKS}/{text}/rotate_secret", headers=auth)
        assert response.status_code == 404, text
    assert (await client.get(f"{HOLDS}/1", headers=auth)).json()["status"] == "held"
    assert (await client.get(f"{TIME_OFFS}/1", headers=auth)).status_code == 200
    assert (await client.get(f"{HOOKS}/1", headers=auth)).status_code == 200


BAD_NUMBERS = (True, False, "5", "1", 1.0, 1e2, "1E2", [1], {"n": 1})


@pytest.mark.parametrize("value", BAD_NUMBERS, ids=repr)
async def test_body_ids_and_durations_refuse_other_json_types(
    client: Any, auth: Any, factory: Any, db_count: Any, value: Any
) -> None:
    provider = await factory.provider()
    slot = await factory.slot(provider)
    start = future(24 * 20)
    window = {"start_time": iso(start), "end_time": iso(start + timedelta(hours=1))}
    cases = [
        (HOLDS, {"hold": {"available_slot_id": value}}, "available_slot_id"),
        (HOLDS, {"hold": {"available_slot_id": slot.id, "patient_id": value}}, "patient_id"),
        (HOLDS, {"hold": {"available_slot_id": slot.id, "duration_seconds": value}}, None),
        (TIME_OFFS, {"time_off": {"provider_id": value, **window}}, "provider_id"),
    ]
    for path, body, field in cases:
        response = await client.post(path, json=body, headers=auth)
        assert response.status_code == 422, (path, body, response.text)
        errors = response.json()["errors"]
        field = field or "duration_seconds"
        assert errors == {field: ["is invalid"]}, (body, errors)
    assert await db_count("holds") == 0
    assert await db_count("time_offs") == 0
