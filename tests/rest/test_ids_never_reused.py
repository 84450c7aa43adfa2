"""An id once used is never given to another record, on either database."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.factories import SLOTS, Factory, future, iso


async def test_deleted_newest_slot_id_is_not_given_again(
    client: httpx.AsyncClient, auth: dict[str, str], factory: Factory
) -> None:
    provider = await factory.provider()
    ids = []
    for hours in (24, 48):
        start = future(hours)
        body = {
            "available_slot": {
                "provider_id": provider.id,
                "start_time": iso(start),
                "end_time": iso(start + timedelta(hours=1)),
            }
        }
        created = await client.post(SLOTS, json=body, headers=auth)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
        if len(ids) == 1:
            deleted = await client.delete(f"{SLOTS}/{ids[0]}", headers=auth)
            assert deleted.status_code == 204

    assert ids[1] > ids[0]
    assert (await client.get(f"{SLOTS}/{ids[0]}", headers=auth)).status_code == 404
