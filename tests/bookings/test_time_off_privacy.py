"""A time off's reason is health-adjacent: like notes, it never reaches a log or an error.

The bookings conftest watches every log record (service loggers at their most verbose)
for the canary, here sent as the reason.
"""

from __future__ import annotations

from datetime import timedelta

from tests.bookings.conftest import CANARY
from tests.factories import BASE, future, iso

TIME_OFFS = f"{BASE}/time_offs"


def _body(provider_id: object, hours: int, reason: object) -> dict[str, object]:
    start = future(48)
    return {
        "time_off": {
            "provider_id": provider_id,
            "start_time": iso(start),
            "end_time": iso(start + timedelta(hours=hours)),
            "reason": reason,
        }
    }


async def test_reason_is_never_logged_nor_echoed(http, auth, factory):
    provider = (await factory.provider()).id
    created = await http.post(TIME_OFFS, json=_body(provider, 4, CANARY), headers=auth)
    assert created.status_code == 201 and created.json()["reason"] == CANARY
    for body in (
        _body(provider, -1, CANARY),
        _body(999999, 4, CANARY),
        _body(provider, 4, CANARY * 20),
        _body("x", 4, CANARY),
    ):
        response = await http.post(TIME_OFFS, json=body, headers=auth)
        assert response.status_code == 422, response.text
        assert CANARY not in response.text
    deleted = await http.delete(f"{TIME_OFFS}/{created.json()['id']}", headers=auth)
    assert deleted.status_code == 204
