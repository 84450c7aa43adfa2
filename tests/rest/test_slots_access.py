"""Who may call the slot routes, and what a bad path id gives."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from models.platform.entities import AvailableSlot
from models.platform.users import revoke_token
from tests.factories import SLOTS, Factory, future, iso

UNAUTHENTICATED = {"errors": "Authentication required"}
FORBIDDEN = {"errors": "Admin access required"}
NOT_FOUND = {"errors": "Not found"}

# (method, path; "{id}" is an existing slot)
ROUTES = [
    ("GET", SLOTS),
    ("GET", f"{SLOTS}/search"),
    ("POST", SLOTS),
    ("GET", f"{SLOTS}/{{id}}"),
    ("PUT", f"{SLOTS}/{{id}}"),
    ("DELETE", f"{SLOTS}/{{id}}"),
]


async def snapshot(session) -> list[tuple]:
    await session.rollback()
    rows = await session.execute(select(AvailableSlot).order_by(AvailableSlot.id))
    return [
        (s.id, s.start_time, s.end_time, s.appointment_type, s.updated_at) for s in rows.scalars()
    ]


async def call(client, method: str, path: str, slot_id: int, provider_id: int, headers):
    start = future(24 * 5)
    payload = {
        "available_slot": {
            "provider_id": provider_id,
            "start_time": iso(start),
            "end_time": iso(start + timedelta(hours=1)),
            "appointment_type": "consultation",
        }
    }
    return await client.request(
        method,
        path.format(id=slot_id),
        json=payload if method in ("POST", "PUT") else None,
        headers=headers,
    )


async def bad_tokens(factory: Factory, session) -> dict[str, str | None]:
    revoked = await factory.token()
    await revoke_token(session, token=revoked)
    return {
        "missing": None,
        "empty": "",
        "unknown": "not-a-token-anyone-was-given",
        "too long": "x" * 5000,
        "expired": await factory.token(expires_in=timedelta(seconds=-1)),
        "revoked": revoked,
    }


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_every_route_needs_a_valid_token(client, factory: Factory, session, method, path):
    provider = await factory.provider()
    slot = await factory.slot(provider)
    slot_id, provider_id = slot.id, provider.id
    tokens = await bad_tokens(factory, session)
    before = await snapshot(session)

    for name, token in tokens.items():
        headers = {} if token is None else {"X-User-Token": token}
        response = await call(client, method, path, slot_id, provider_id, headers)
        assert response.status_code == 401, (name, response.text)
        assert response.json() == UNAUTHENTICATED, name

    assert await snapshot(session) == before


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("role", ["patient", "provider"])
async def test_only_admins_may_call(client, factory: Factory, session, method, path, role):
    provider = await factory.provider()
    slot = await factory.slot(provider)
    slot_id, provider_id = slot.id, provider.id
    token = await factory.token(role=role)
    before = await snapshot(session)

    response = await call(client, method, path, slot_id, provider_id, {"X-User-Token": token})

    assert response.status_code == 403, response.text
    assert response.json() == FORBIDDEN
    assert await snapshot(session) == before


async def test_a_token_works_until_it_is_revoked(client, factory: Factory, session):
    token = await factory.token()
    headers = {"X-User-Token": token}
    assert (await client.get(SLOTS, headers=headers)).status_code == 200
    await revoke_token(session, token=token)
    response = await client.get(SLOTS, headers=headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHENTICATED


async def test_a_token_with_time_left_works(client, factory: Factory):
    token = await factory.token(expires_in=timedelta(hours=1))
    assert (await client.get(SLOTS, headers={"X-User-Token": token})).status_code == 200


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize(
    "slot_id", ["abc", "1.5", "0", "-1", "999999", str(2**63), "9" * 40, "%20"]
)
async def test_bad_or_unknown_ids_are_404(client, auth, factory: Factory, session, method, slot_id):
    provider = await factory.provider()
    await factory.slot(provider)
    before = await snapshot(session)
    payload = {"available_slot": {"appointment_type": "therapy"}}

    response = await client.request(
        method,
        f"{SLOTS}/{slot_id}",
        json=payload if method == "PUT" else None,
        headers=auth,
    )

    assert response.status_code == 404, response.text
    assert response.json() == NOT_FOUND
    assert await snapshot(session) == before


async def test_unknown_routes_and_methods(client, auth):
    missing = await client.get(f"{SLOTS}/1/nothing", headers=auth)
    assert missing.status_code == 404
    assert missing.json() == NOT_FOUND
    patch = await client.patch(SLOTS, headers=auth)
    assert patch.status_code == 405
    assert patch.json() == {"errors": "Method not allowed"}


@pytest.mark.parametrize("method", ["POST", "PUT"])
async def test_malformed_json_from_a_non_admin_is_still_refused(
    client, factory: Factory, session, method
):
    slot_id = (await factory.slot()).id
    patient = await factory.token(role="patient")
    before = await snapshot(session)
    path = SLOTS if method == "POST" else f"{SLOTS}/{slot_id}"

    for headers, status, expected in (
        ({}, 401, UNAUTHENTICATED),
        ({"X-User-Token": "nobody"}, 401, UNAUTHENTICATED),
        ({"X-User-Token": patient}, 403, FORBIDDEN),
    ):
        response = await client.request(
            method,
            path,
            content=b'{"available_slot": {',
            headers={**headers, "Content-Type": "application/json"},
        )
        assert response.status_code == status, response.text
        assert response.json() == expected
    assert await snapshot(session) == before
