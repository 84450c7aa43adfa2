"""The slot list's ``appointment_type`` filter: it filters, refuses unknown types, and
OpenAPI lists it."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import SLOTS, Factory, future


async def test_appointment_type_filters_the_list(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory
) -> None:
    provider = await factory.provider()
    therapy = await factory.slot(provider, start=future(24), appointment_type="therapy")
    await factory.slot(provider, start=future(26), appointment_type="consultation")
    any_type = await factory.slot(provider, start=future(28))

    response = await client.get(SLOTS, params={"appointment_type": "therapy"}, headers=auth)

    assert response.status_code == 200, response.text
    # A slot without a type takes any type, as in the search and in GraphQL.
    assert [slot["id"] for slot in response.json()] == [therapy.id, any_type.id]
    assert response.headers["x-total-count"] == "2"
    everything = await client.get(SLOTS, headers=auth)
    assert everything.headers["x-total-count"] == "3"


async def test_an_unknown_appointment_type_is_422(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory
) -> None:
    await factory.slot(appointment_type="therapy")

    response = await client.get(SLOTS, params={"appointment_type": "bogus"}, headers=auth)

    assert response.status_code == 422
    assert response.json() == {"errors": {"appointment_type": ["is not included in the list"]}}


def test_openapi_lists_the_filter(app: Any) -> None:
    operation = app.openapi()["paths"][SLOTS]["get"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert parameters["appointment_type"]["in"] == "query"
    assert "therapy" in parameters["appointment_type"]["schema"]["examples"]
