from datetime import timedelta

from tests.factories import SLOTS, future, iso


async def test_create_then_get_slot(client, auth, factory, db_count):
    provider = await factory.provider()
    start = future(48)
    body = {
        "available_slot": {
            "provider_id": provider.id,
            "start_time": iso(start),
            "end_time": iso(start + timedelta(hours=1)),
            "appointment_type": "therapy",
        }
    }
    created = await client.post(SLOTS, json=body, headers=auth)
    assert created.status_code == 201, created.text
    slot = created.json()
    assert slot["start_time"] == iso(start)
    assert slot["provider"] == {"id": provider.id, "first_name": "Jane", "last_name": "Smith"}
    fetched = await client.get(f"{SLOTS}/{slot['id']}", headers=auth)
    assert fetched.json() == slot
    assert await db_count("available_slots") == 1
    clash = await client.post(SLOTS, json=body, headers=auth)
    assert clash.status_code == 409
    assert clash.json()["errors"] == "Time slot conflicts with existing availability"
