"""The provider's .ics feed: admin token or feed key, one VEVENT per slot, no patient data."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import icalendar

from tests.factories import BASE, BOOKS, future


def feed(provider_id: int) -> str:
    return f"{BASE}/providers/{provider_id}/calendar.ics"


async def _clinic(factory: Any, client: Any, auth: Any) -> dict[str, Any]:
    provider = await factory.provider()
    patient = await factory.patient(first_name="Zelda", last_name="Quill")
    start = future(30)
    open_slot = await factory.slot(provider, start=start)
    booked = await factory.slot(provider, start=start + timedelta(hours=2))
    closed = await factory.slot(provider, start=start + timedelta(hours=4))
    beyond = await factory.slot(provider, start=start + timedelta(days=120))
    response = await client.post(
        BOOKS,
        json={"book": {"available_slot_id": booked.id, "patient_id": patient.id, "notes": "flu"}},
        headers=auth,
    )
    assert response.status_code == 201
    shut = await client.put(
        f"{BASE}/available_slots/{closed.id}",
        json={"available_slot": {"available": False}},
        headers=auth,
    )
    assert shut.status_code == 200
    return {
        "provider": provider,
        "open": open_slot,
        "booked": booked,
        "closed": closed,
        "beyond": beyond,
    }


async def test_feed_lists_each_slot_with_its_state(client: Any, auth: Any, factory: Any):
    clinic = await _clinic(factory, client, auth)
    response = await client.get(feed(clinic["provider"].id), headers=auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    assert response.headers["cache-control"] == "no-store"
    assert "Zelda" not in response.text and "flu" not in response.text
    calendar = icalendar.Calendar.from_ical(response.text)
    events = {str(event["UID"]): event for event in calendar.walk("VEVENT")}
    assert set(events) == {
        f"slot-{clinic[name].id}@clinic-availability" for name in ("open", "booked", "closed")
    }
    expected = {
        "open": ("Open", "TRANSPARENT"),
        "booked": ("Booked 1 of 1", "OPAQUE"),
        "closed": ("Closed", "TRANSPARENT"),
    }
    for name, (summary, transp) in expected.items():
        slot = clinic[name]
        event = events[f"slot-{slot.id}@clinic-availability"]
        assert (str(event["SUMMARY"]), str(event["TRANSP"])) == (summary, transp)
        assert event.decoded("DTSTART") == slot.start_time.astimezone(UTC)
        assert event.decoded("DTEND") == slot.end_time.astimezone(UTC)
        assert event.decoded("DTSTART").tzinfo is not None
    wide = await client.get(
        feed(clinic["provider"].id),
        params={"start_date": str(future(0).date()), "end_date": str(future(24 * 130).date())},
        headers=auth,
    )
    assert len(icalendar.Calendar.from_ical(wide.text).walk("VEVENT")) == 4
    # The same request twice: the same UIDs (calendar apps update events in place).
    again = await client.get(feed(clinic["provider"].id), headers=auth)
    assert [str(e["UID"]) for e in icalendar.Calendar.from_ical(again.text).walk("VEVENT")] == [
        str(e["UID"]) for e in calendar.walk("VEVENT")
    ]


async def test_feed_key_is_issued_and_revoked_through_graphql(client: Any, auth: Any, factory: Any):
    provider = await factory.provider()
    other = await factory.provider("Other")
    await factory.slot(provider)
    issued = await client.post(
        "/graphql",
        json={
            "query": "mutation($id: Int!) { providerCalendarFeed(providerId: $id) { key url } }",
            "variables": {"id": provider.id},
        },
        headers=auth,
    )
    data = issued.json()["data"]["providerCalendarFeed"]
    by_key = await client.get(data["url"])
    assert by_key.status_code == 200
    # Kept by no cache: the URL holds the key, and the feed changes with every booking.
    assert by_key.headers["cache-control"] == "no-store"
    assert len(icalendar.Calendar.from_ical(by_key.text).walk("VEVENT")) == 1
    # The key opens its own provider's feed only.
    assert (await client.get(feed(other.id), params={"key": data["key"]})).status_code == 401
    revoked = await client.post(
        "/graphql",
        json={
            "query": "mutation($id: Int!) { revokeProviderCalendarFeed(providerId: $id) }",
            "variables": {"id": provider.id},
        },
        headers=auth,
    )
    assert revoked.json()["data"]["revokeProviderCalendarFeed"] == 1
    assert (await client.get(data["url"])).status_code == 401


async def test_feed_refuses_anyone_else(client: Any, auth: Any, factory: Any):
    provider = await factory.provider()
    provider_token = await factory.token(role="provider")
    url = feed(provider.id)
    assert (await client.get(url)).status_code == 401
    assert (await client.get(url, params={"key": "guess"})).status_code == 401
    # Only an admin token or the feed key opens the feed: a non-admin's token is a 401 too.
    for refused in (
        await client.get(url),
        await client.get(url, params={"key": "guess"}),
        await client.get(url, headers={"X-User-Token": provider_token}),
        await client.get(url, params={"key": "guess"}, headers={"X-User-Token": provider_token}),
    ):
        assert refused.status_code == 401
        assert refused.json() == {"errors": "Authentication required"}
    assert (await client.get(feed(999_999), headers=auth)).status_code == 404
    bad = await client.get(url, params={"start_date": "someday"}, headers=auth)
    assert bad.status_code == 422
