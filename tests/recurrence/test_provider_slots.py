"""GET /providers/available_slots: the slot list grouped by provider, paged by provider."""

from __future__ import annotations

from datetime import timedelta

from tests.factories import BASE, Factory, future, iso

LIST = f"{BASE}/providers/available_slots"


async def test_grouped_by_provider_and_paged_by_provider(client, auth, factory: Factory):
    providers = [await factory.provider(f"Dr {n}", "Who") for n in range(3)]
    start = future(24)
    made: dict[int, list[int]] = {}
    for index, provider in enumerate(providers[:2]):
        for hour in range(3):
            slot = await factory.slot(
                provider,
                start=start + timedelta(hours=hour + 5 * index),
                appointment_type="therapy" if hour < 2 else "assessment",
            )
            made.setdefault(provider.id, []).append(slot.id)

    response = await client.get(f"{LIST}?page_size=1", headers=auth)

    assert response.status_code == 200, response.text
    assert response.headers["X-Total-Count"] == "2"  # providers with slots, not slots
    assert response.headers["X-Total-Pages"] == "2"
    assert 'rel="next"' in response.headers["Link"]
    [group] = response.json()
    first = providers[0]
    assert group["provider"] == {"id": first.id, "first_name": "Dr 0", "last_name": "Who"}
    assert [slot["id"] for slot in group["available_slots"]] == made[first.id]
    assert group["available_slots"][0]["start_time"] == iso(start)
    assert set(group["available_slots"][0]) >= {"id", "provider_id", "start_time", "provider"}

    second = await client.get(f"{LIST}?page_size=1&page=2", headers=auth)
    assert [g["provider"]["id"] for g in second.json()] == [providers[1].id]

    typed = await client.get(
        f"{LIST}?appointment_type=assessment&provider_id={providers[1].id}", headers=auth
    )
    assert [[s["id"] for s in g["available_slots"]] for g in typed.json()] == [
        [made[providers[1].id][2]]
    ]
    capped = await client.get(f"{LIST}?slots_per_provider=2", headers=auth)
    assert [len(g["available_slots"]) for g in capped.json()] == [2, 2]
    none = await client.get(f"{LIST}?provider_id={providers[2].id}", headers=auth)
    assert none.json() == [] and none.headers["X-Total-Count"] == "0"


async def test_filters_are_checked(client, auth):
    response = await client.get(f"{LIST}?appointment_type=yoga&start_date=2030-02-31", headers=auth)
    assert response.status_code == 422
    assert response.json() == {
        "errors": {
            "start_date": ["is invalid (expected YYYY-MM-DD)"],
            "appointment_type": ["is not included in the list"],
        }
    }
    too_big = await client.get(f"{LIST}?page_size=101", headers=auth)
    assert too_big.json() == {"errors": {"page_size": ["must be less than or equal to 100"]}}
    unauthenticated = await client.get(LIST)
    assert unauthenticated.status_code == 401
