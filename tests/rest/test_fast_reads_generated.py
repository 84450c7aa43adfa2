"""Generated slot reads against the full stack, the REST fast lanes on and off.

Every request (list, search and get, with plainly written parameters or anything else,
under several tokens) goes to an application whose lanes are on and whose token cache
holds the admin tokens, and to one with ``FAST_LANE=false``: status, headers (but the
request id) and body bytes must be the same, on both databases. A read the lane claims
(a cached admin token, parameters it reads exactly) must be answered by the lane itself:
if it silently handed the request on to the framework, the answer would still match and
only its counters would tell.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from common.settings import Settings
from models.platform.entities import APPOINTMENT_TYPES, MAX_ID
from models.platform.pagination import MAX_PAGE_SIZE
from tests.factories import SLOTS, Factory, future
from tests.lanes import comparable, lane_and_full, send

# Hypothesis's own example database (failures found once are tried first next time), and
# a random search on every run, CI included (whose default profile would derandomize).
EXAMPLES = settings(
    max_examples=int(os.environ.get("LANE_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=False,
    database=DirectoryBasedExampleDatabase(
        Path(__file__).resolve().parents[2] / ".hypothesis" / "examples"
    ),
)
TOKEN_CACHE_SECONDS = 3600.0


@dataclass
class Seeded:
    providers: list[int]
    slots: list[int]
    days: list[date]
    tokens: dict[str, str] = field(default_factory=dict)


async def _seed(factory: Factory) -> Seeded:
    first = await factory.provider("Ada", "Lovelace")
    second = await factory.provider("Grace", "Hopper", time_zone="America/New_York")
    types = iter(APPOINTMENT_TYPES * 4)
    slots = [
        await factory.slot(first, start=future(24 + 7 * h), appointment_type=next(types))
        for h in range(6)
    ]
    slots += [
        await factory.slot(second, start=future(30 + 11 * h), minutes=30, capacity=2)
        for h in range(4)
    ]
    slots.append(await factory.slot(first, start=future(60), available=False))
    await factory.booking(slots[1])
    await factory.booking(slots[7])
    days = sorted({future(24 + 7 * h).date() for h in range(8)})
    seeded = Seeded([first.id, second.id], [slot.id for slot in slots], days)
    seeded.tokens = {
        "admin": await factory.token(),
        "second admin": await factory.token(),
        "patient": await factory.token(role="patient"),
        "expired admin": await factory.token(expires_in=timedelta(seconds=-1)),
    }
    await factory.session.commit()
    return seeded


# Tokens the lane may take (admins whose lookup is cached), and every other kind.
CACHED_ADMINS = ("admin", "second admin")
OTHER_TOKENS = ("patient", "expired admin", "unknown", "none", "twice")


def _headers(seeded: Seeded, kind: str) -> list[tuple[str, str]]:
    if kind == "none":
        return []
    if kind == "unknown":
        return [("X-User-Token", "not-a-token")]
    if kind == "twice":
        return [("X-User-Token", seeded.tokens["admin"])] * 2
    return [("X-User-Token", seeded.tokens[kind])]


def _plain_values(seeded: Seeded) -> dict[str, st.SearchStrategy[str]]:
    """Values written as the lane reads them: it must take these itself."""
    small = st.integers(1, 12)
    day = st.one_of(
        st.sampled_from(seeded.days),
        st.dates(date(2019, 1, 1), date(2040, 12, 31)),
    ).map(date.isoformat)
    return {
        "page": st.one_of(small, st.integers(1, 1_000_000)).map(str),
        "page_size": st.one_of(small, st.integers(1, MAX_PAGE_SIZE)).map(str),
        "provider_id": st.one_of(st.sampled_from(seeded.providers), st.integers(1, MAX_ID)).map(
            str
        ),
        # Well-formed but no such day (the handler's 422, from the lane too).
        "start_date": st.one_of(day, st.just("2024-02-30")),
        "end_date": day,
        "date": st.one_of(day, st.just("2031-13-01")),
        "available": st.sampled_from(("true", "false")),
        "duration": st.one_of(st.sampled_from((15, 30, 60, 90)), st.integers(1, 44640)).map(str),
        "appointment_type": st.sampled_from((*APPOINTMENT_TYPES, "teleport", "x_y")),
    }


ROUTE_PARAMS = {
    "list": ("page", "page_size", "provider_id", "start_date", "end_date", "available"),
    "search": ("provider_id", "date", "duration", "appointment_type", "page", "page_size"),
    "get": (),
}
ODD_VALUES = st.one_of(
    st.sampled_from(
        ("", "0", "-1", "+1", " 1", "1.0", "1e3", "99999999999", "2147483648", "TRUE", "yes")
    ),
    st.sampled_from(("%00", "%ZZ", "caf%C3%A9", "%FF", "a+b", "2030-1-01", "2030-01-01T00:00")),
    st.text(alphabet="0123456789-_aeZ %+&=", max_size=8).map(lambda text: quote(text, safe="%+")),
)
ODD_NAMES = ("Page", "page_size ", "unknown", "provider_id[]", "available_slot")


@dataclass(frozen=True)
class Read:
    url: str
    token: str
    claimed: bool


@st.composite
def reads(draw: st.DrawFn, seeded: Seeded) -> Read:
    route = draw(st.sampled_from(tuple(ROUTE_PARAMS)))
    plain = draw(st.booleans())
    token = draw(st.sampled_from(CACHED_ADMINS if draw(st.booleans()) else OTHER_TOKENS))
    values = _plain_values(seeded)
    if route == "get":
        if plain:
            slot_id = str(draw(st.one_of(st.sampled_from(seeded.slots), st.integers(1, MAX_ID))))
        else:
            slot_id = draw(st.sampled_from(("0", "abc", "01x", "99999999999", "1/")))
        query = ""
        if not plain and draw(st.booleans()):
            query = "page=1"
        path = f"{SLOTS}/{slot_id}"
    else:
        names = draw(st.lists(st.sampled_from(ROUTE_PARAMS[route]), unique=True, max_size=4))
        pairs = [(name, draw(values[name])) for name in names]
        query = urlencode(pairs)
        if not plain:
            # At least one thing the lane does not read: the full stack answers it.
            odd = draw(st.sampled_from(("value", "name", "repeat", "other route's")))
            if odd == "value" or not pairs:
                name = draw(st.sampled_from(ROUTE_PARAMS[route]))
                extra = f"{name}={draw(ODD_VALUES)}"
            elif odd == "name":
                extra = f"{quote(draw(st.sampled_from(ODD_NAMES)))}=1"
            elif odd == "repeat":
                extra = urlencode([draw(st.sampled_from(pairs))])
            else:
                other = "search" if route == "list" else "list"
                foreign = [n for n in ROUTE_PARAMS[other] if n not in ROUTE_PARAMS[route]]
                name = draw(st.sampled_from(foreign))
                extra = urlencode([(name, draw(values[name]))])
            query = "&".join(part for part in (query, extra) if part)
        path = SLOTS if route == "list" else f"{SLOTS}/search"
    url = f"{path}?{query}" if query else path
    return Read(url=url, token=token, claimed=plain and token in CACHED_ADMINS)


class LaneAndFull:
    """The two applications over one database, driven from an event loop of their own."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.stack = AsyncExitStack()
        self.lane, self.full = self.loop.run_until_complete(
            self.stack.enter_async_context(
                lane_and_full(settings, token_cache_seconds=TOKEN_CACHE_SECONDS)
            )
        )

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    def close(self) -> None:
        self.run(self.stack.aclose())
        self.loop.close()


@pytest.fixture
def apps(settings: Settings) -> Iterator[LaneAndFull]:
    served = LaneAndFull(settings)
    yield served
    served.close()


def test_generated_reads_answer_alike_and_the_lane_takes_what_it_claims(
    apps: LaneAndFull,
) -> None:
    async def seed() -> Seeded:
        async with apps.lane.state.sessionmaker() as session:
            return await _seed(Factory(session))

    seeded = apps.run(seed())

    async def both(read: Read) -> tuple[Any, Any]:
        headers = _headers(seeded, read.token)
        expected = comparable(await send(apps.full, "GET", read.url, headers=headers))
        answered = comparable(await send(apps.lane, "GET", read.url, headers=headers))
        return expected, answered

    # The first look-up of each token takes the full path and fills the token cache.
    for kind in (*CACHED_ADMINS, *OTHER_TOKENS):
        apps.run(both(Read(SLOTS, kind, claimed=False)))
    lanes = apps.lane.state.slot_reads
    seen = {"claimed": 0, "other": 0}

    @EXAMPLES
    @given(read=reads(seeded))
    def compare(read: Read) -> None:
        answered_before, handed_on_before = lanes.answered, lanes.handed_on
        expected, answered = apps.run(both(read))
        assert answered == expected, read
        if read.claimed:
            assert (lanes.answered, lanes.handed_on) == (answered_before + 1, handed_on_before), (
                f"the lane handed on a read it claims: {read}"
            )
        elif read.token not in CACHED_ADMINS:
            assert lanes.answered == answered_before, f"the lane took {read}"
        seen["claimed" if read.claimed else "other"] += 1

    compare()
    # Both kinds were generated, and what the lanes answered had the full stack's bytes.
    assert seen["claimed"] > 0 and seen["other"] > 0, seen
