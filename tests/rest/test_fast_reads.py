"""The fast lane for slot reads answers byte for byte as the full stack does, and takes
only what it reads exactly; everything else still reaches the framework."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from common.settings import Settings
from tests.factories import SLOTS, Factory, future
from tests.find.helpers import FIND
from tests.lanes import comparable, lane_and_full, send


@pytest.fixture
async def apps(settings: Settings) -> AsyncIterator[tuple[Any, Any]]:
    """Two servers over one database: the fast lane on, and off (tokens cached in both)."""
    async with lane_and_full(settings, token_cache_seconds=5.0) as both:
        yield both


async def _get(app: Any, url: str, headers: dict[str, str]) -> httpx.Response:
    return await send(app, "GET", url, headers=headers)


async def _seed(factory: Factory) -> dict[str, Any]:
    first = await factory.provider("Ada", "Lovelace")
    second = await factory.provider("Grace", "Hopper", time_zone="America/New_York")
    slots = [await factory.slot(first, start=future(24 + h)) for h in range(6)]
    slots += [await factory.slot(second, start=future(30 + h), minutes=30) for h in range(4)]
    await factory.booking(slots[1])
    await factory.slot(first, start=future(60), available=False)
    return {"first": first.id, "second": second.id, "slot": slots[0].id, "day": future(30).date()}


def _urls(seed: dict[str, Any]) -> list[str]:
    day = seed["day"].isoformat()
    after = (seed["day"]).replace(year=seed["day"].year + 2).isoformat()
    return [
        SLOTS,
        f"{SLOTS}?page=1&page_size=3",
        f"{SLOTS}?page=2&page_size=3",
        f"{SLOTS}?page=99&page_size=3",
        f"{SLOTS}?provider_id={seed['first']}",
        f"{SLOTS}?provider_id={seed['second']}&start_date={day}&end_date={day}",
        f"{SLOTS}?available=true&page_size=2",
        f"{SLOTS}?available=false",
        f"{SLOTS}?start_date={day}&end_date=2019-01-01",  # end before start: 422
        f"{SLOTS}?start_date={day}&end_date={after}",  # range too wide: 422
        f"{SLOTS}?start_date=2024-02-30",  # no such day: 422
        f"{SLOTS}?provider_id=999999",
        f"{SLOTS}?page_size=101",  # beyond the maximum: the full stack's 422
        f"{SLOTS}?page=0",
        f"{SLOTS}?page=",
        f"{SLOTS}?page=1&page=2",
        f"{SLOTS}?available=yes",
        f"{SLOTS}?unknown=1",
        f"{SLOTS}?appointment_type=therapy",
        f"{SLOTS}?appointment_type=bogus",  # not a type: 422
        f"{SLOTS}?provider_id=%00",
        f"{SLOTS}?page=007",
        f"{SLOTS}/search",
        f"{SLOTS}/search?provider_id={seed['first']}&duration=30&page_size=2",
        f"{SLOTS}/search?provider_id={seed['second']}&date={day}",
        f"{SLOTS}/search?appointment_type=in_person",
        f"{SLOTS}/search?appointment_type=teleport",  # not a type: 422
        f"{SLOTS}/search?duration=0",
        f"{SLOTS}/search?date=yesterday",
        f"{SLOTS}/{seed['slot']}",
        f"{SLOTS}/{seed['slot']}?page=1",
        f"{SLOTS}/999999",  # 404
        f"{SLOTS}/0",
        f"{SLOTS}/abc",
        f"{SLOTS}/99999999999",
        f"{SLOTS}/{seed['slot']}/",
        f"{FIND}?appointment_type=therapy&start_date={day}&end_date={day}",
        f"{FIND}?appointment_type=consultation&start_date={day}&end_date={day}&limit=2"
        "&explain=true&licensed_state=ca",
        f"{FIND}?appointment_type=therapy&start_date={day}&end_date={day}"
        f"&provider_ids={seed['first']}&spread=true&language=es-MX&mode=video",
        f"{FIND}?appointment_type=therapy&start_date={day}&end_date={day}"
        f"&provider_ids={seed['first']}&provider_ids={seed['second']}",
        f"{FIND}?appointment_type=bogus&start_date={day}&end_date={day}",  # 422
        f"{FIND}?appointment_type=therapy&start_date={day}&end_date={after}",  # 422
        f"{FIND}?start_date={day}&licensed_state=ZZ",  # 422, every problem
        f"{FIND}?appointment_type=therapy&start_date={day}&end_date={day}&limit=0",
        f"{FIND}?appointment_type=therapy&start_date={day}&end_date={day}&explain=1",
    ]


async def test_the_lane_answers_as_the_full_stack(apps: tuple[Any, Any], factory: Factory) -> None:
    lane, full = apps
    seed = await _seed(factory)
    admin = {"X-User-Token": await factory.token()}
    patient = {"X-User-Token": await factory.token(role="patient")}
    bearer = {"Authorization": f"Bearer {await factory.token()}"}
    everyone: tuple[dict[str, str], ...] = (admin, patient, bearer, {}, {"X-User-Token": "x"})
    for headers in (*everyone, {"Authorization": "Bearer not-a-token"}):
        for url in _urls(seed):
            # Twice: the first lookup fills the token cache, the second can take the lane.
            for _ in range(2):
                expected = comparable(await _get(full, url, headers))
                answered = comparable(await _get(lane, url, headers))
                assert answered == expected, (url, headers)


async def test_plain_reads_never_reach_the_framework(
    apps: tuple[Any, Any], factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    lane, _full = apps
    seed = await _seed(factory)
    admin = {"X-User-Token": await factory.token()}
    assert (await _get(lane, SLOTS, admin)).status_code == 200  # the token is now cached

    reached: list[str] = []
    handle = APIRoute.handle

    async def counted(route: APIRoute, scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await handle(route, scope, receive, send)

    monkeypatch.setattr(APIRoute, "handle", counted)
    day = seed["day"].isoformat()
    plain = [
        f"{SLOTS}?page=1&page_size=3&provider_id={seed['first']}",
        f"{SLOTS}?start_date={day}&end_date={day}&available=true",
        f"{SLOTS}/search?provider_id={seed['first']}&duration=30",
        f"{SLOTS}/{seed['slot']}",
        f"{SLOTS}/999999",
        f"{SLOTS}?start_date={day}&end_date=2019-01-01",
        f"{SLOTS}?appointment_type=therapy&provider_id={seed['first']}",
        f"{SLOTS}?appointment_type=bogus",
        f"{FIND}?appointment_type=therapy&start_date={day}&end_date={day}&licensed_state=CA",
        f"{FIND}?appointment_type=bogus&start_date={day}&end_date={day}",
    ]
    statuses = [(await _get(lane, url, admin)).status_code for url in plain]
    assert statuses == [200, 200, 200, 200, 404, 422, 200, 422, 200, 422]
    bearer = {"Authorization": f"Bearer {admin['X-User-Token']}"}
    assert (await _get(lane, f"{SLOTS}?appointment_type=therapy", bearer)).status_code == 200
    assert reached == []
    # Not read by the lane: the full stack answers it.
    assert (await _get(lane, f"{SLOTS}?page=1&page=2", admin)).status_code == 200
    assert reached == [SLOTS]


async def test_a_token_revoked_here_leaves_the_lane_at_once(
    apps: tuple[Any, Any], factory: Factory
) -> None:
    """Revoking on this process clears its cache: the lane no longer takes the token."""
    from models.platform.users import revoke_token

    lane, _full = apps
    token = await factory.token()
    assert (await _get(lane, SLOTS, {"X-User-Token": token})).status_code == 200
    assert (await _get(lane, SLOTS, {"X-User-Token": token})).status_code == 200
    await revoke_token(factory.session, token=token)
    assert (await _get(lane, SLOTS, {"X-User-Token": token})).status_code == 401
