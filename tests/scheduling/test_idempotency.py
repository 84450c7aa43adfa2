"""Idempotency-Key on the new POSTs: a retried hold or time off is made once."""

from __future__ import annotations

from datetime import timedelta

from tests.factories import future
from tests.scheduling.helpers import HOLDS, TIME_OFFS, hold_body, time_off_body


async def test_a_retried_hold_takes_one_seat(client, auth, factory, db_count):
    slot = await factory.slot(capacity=3)
    headers = {**auth, "Idempotency-Key": "hold-1"}
    first = await client.post(HOLDS, json=hold_body(slot.id), headers=headers)
    again = await client.post(HOLDS, json=hold_body(slot.id), headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert await db_count("holds") == 1


async def test_a_retried_time_off_is_stored_once(client, auth, factory, db_count):
    provider = (await factory.provider()).id
    start = future(48)
    body = time_off_body(provider, start, start + timedelta(hours=8), "Vacation")
    headers = {**auth, "Idempotency-Key": "time-off-1"}
    first = await client.post(TIME_OFFS, json=body, headers=headers)
    again = await client.post(TIME_OFFS, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert await db_count("time_offs") == 1
