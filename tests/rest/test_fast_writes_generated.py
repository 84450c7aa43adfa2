"""Generated hot writes against the full stack, the REST write lane on and off.

Each example builds two identical small worlds (providers, slots, a patient, a booking;
same times, different providers), sends one generated write (a booking, a reschedule or
a new slot; plain, or with anything odd: fields of the wrong type, unknown keys, text
escapes, another content type, an idempotency key, a query string, no or another token)
to the application with its lanes on for one world and to the one with
``FAST_LANE=false`` for the other. Status, headers (but the request id and the length)
and the body must be the same once each world's ids are named alike and the times the
write stamps are set aside, on both databases. A write the lane claims must be answered
by the lane itself (its counters tell if it silently handed it on).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from models.platform.entities import APPOINTMENT_TYPES
from tests.factories import BOOKS, SLOTS, Factory, future
from tests.lanes import send
from tests.rest.test_fast_reads_generated import EXAMPLES, LaneAndFull, apps  # noqa: F401

# Times the write takes from the clock.
STAMPED = frozenset({"created_at", "updated_at", "pending_expires_at"})
PLACES = ("@slot", "@target", "@patient", "@booking", "@provider")


@dataclass(frozen=True)
class Write:
    route: str
    book_id: Any
    fields: dict[str, Any]
    raw: bytes | None
    content_type: str | None
    idempotent: bool
    query: str
    token: str
    claimed: bool


# Ids no world has (or of the wrong type): the same answer in both worlds.
ODD_IDS: st.SearchStrategy[Any] = st.sampled_from(
    (0, -1, "12", None, True, 99_999_999_999, 2**70, 1.5, [], {})
)


def _id(place: str, plain: bool, draw: st.DrawFn) -> Any:
    return place if plain or draw(st.booleans()) else draw(ODD_IDS)


# Values of the field's type (the lane takes them), and of another (the model refuses).
TEXTS = st.one_of(st.none(), st.sampled_from(("", "Initial visit", "caf\u00e9", "a" * 2001)))
TYPES = st.one_of(st.none(), st.sampled_from((*APPOINTMENT_TYPES, "teleport", "")))
WRONG = st.sampled_from((7, True, 1.5))
FLAGS = st.sampled_from((None, False, True, "yes", 0))


@st.composite
def writes(draw: st.DrawFn) -> Write:
    route = draw(st.sampled_from(("book", "reschedule", "slot")))
    plain = draw(st.booleans())
    fields: dict[str, Any]
    if route == "book":
        fields = {
            "available_slot_id": _id("@slot", plain, draw),
            "patient_id": _id("@patient", plain, draw),
        }
        for name, values in (("notes", TEXTS), ("appointment_type", TYPES)):
            if draw(st.booleans()):
                fields[name] = draw(values if plain else st.one_of(values, WRONG))
        if not plain and draw(st.booleans()):
            fields[draw(st.sampled_from(("override_rules", "hold_id", "status")))] = draw(
                st.sampled_from((None, False, True, "pending", 3))
            )
    elif route == "reschedule":
        fields = {"available_slot_id": _id("@target", plain, draw)}
        if not plain and draw(st.booleans()):
            fields["override_rules"] = draw(FLAGS)
    else:
        start = future(500)
        end = start + timedelta(minutes=30 if plain else draw(st.sampled_from((30, 60, -30))))
        fields = {
            "provider_id": _id("@provider", plain, draw),
            "start_time": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "end_time": end.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        }
        typed: tuple[tuple[str, st.SearchStrategy[Any]], ...] = (
            ("appointment_type", TYPES),
            ("capacity", st.integers(-1, 120)),
        )
        for name, values in typed:
            if draw(st.booleans()):
                fields[name] = draw(values if plain else st.one_of(values, WRONG))
        if not plain and draw(st.booleans()):
            fields["recurring"] = draw(FLAGS)
    raw: bytes | None = None
    content_type: str | None = "application/json"
    idempotent, query = False, ""
    book_id: Any = "@booking"
    token = "admin"
    odd = (
        None
        if plain
        else draw(
            st.sampled_from(
                ("fields", "unknown key", "escape", "raw", "type", "key", "query", "token", "id")
            )
        )
    )
    if odd == "unknown key":
        fields["colour"] = "blue"
    elif odd == "escape":
        fields["notes" if route == "book" else "appointment_type"] = "caf\\u00e9"
    elif odd == "raw":
        raw = draw(st.sampled_from((b"", b"{", b"[]", b'{"book": 1}', b"null", b'{"book": {}}')))
    elif odd == "type":
        content_type = draw(
            st.sampled_from((None, "text/plain", "application/json; charset=utf-8"))
        )
    elif odd == "key":
        idempotent = True
    elif odd == "query":
        query = draw(st.sampled_from(("dry_run=true", "x=1")))
    elif odd == "token":
        token = draw(st.sampled_from(("patient", "unknown", "none")))
    elif odd == "id":
        book_id = draw(st.sampled_from(("0", "abc", "99999999999", "-1", "1.0")))
    claimed = plain and token == "admin"
    return Write(route, book_id, fields, raw, content_type, idempotent, query, token, claimed)


@dataclass
class World:
    ids: dict[str, int]


async def _world(factory: Factory, index: int) -> World:
    hours = 30 + 5 * index
    provider = await factory.provider("Ada", "Lovelace")
    other = await factory.provider("Bo", "Marsh")
    ids = {"@provider": provider.id}
    ids["@slot"] = (await factory.slot(provider, start=future(hours), capacity=2)).id
    ids["@target"] = (await factory.slot(other, start=future(hours + 1))).id
    patient = await factory.patient("Cy", "Nash")
    ids["@patient"] = patient.id
    booked = await factory.slot(provider, start=future(hours + 2))
    ids["@booking"] = (await factory.booking(booked, patient)).id
    await factory.session.commit()
    return World(ids)


def _fill(value: Any, world: World) -> Any:
    if isinstance(value, str) and value in world.ids:
        return world.ids[value]
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    return value


def _named(value: Any, names: dict[int, str], key: str = "") -> Any:
    """A reply's ids named by their place in the world, stamped times set aside."""
    if isinstance(value, dict):
        return {k: ("<stamp>" if k in STAMPED else _named(v, names, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_named(v, names, key) for v in value]
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and (key == "id" or key.endswith("_id"))
    ):
        return names.get(value, "<new>")
    return value


def _request(write: Write, world: World, tokens: dict[str, str]) -> tuple[str, dict[str, Any]]:
    headers: dict[str, str] = {}
    if write.content_type is not None:
        headers["content-type"] = write.content_type
    if write.token != "none":
        headers["x-user-token"] = tokens.get(write.token, "not-a-token")
    if write.idempotent:
        headers["idempotency-key"] = uuid.uuid4().hex
    root = "available_slot" if write.route == "slot" else "book"
    # The stdlib encoder: it writes integers of any size, as a client may send them.
    body = (
        write.raw
        if write.raw is not None
        else json.dumps({root: _fill(write.fields, world)}, ensure_ascii=False).encode()
    )
    if write.route == "book":
        url = BOOKS
    elif write.route == "slot":
        url = SLOTS
    else:
        url = f"{BOOKS}/{_fill(write.book_id, world)}/reschedule"
    if write.query:
        url = f"{url}?{write.query}"
    return url, {"content": body, "headers": headers}


def _comparable(response: Any, world: World) -> tuple[int, list[tuple[str, str]], Any]:
    headers = [
        (k, v)
        for k, v in response.headers.multi_items()
        if k not in ("x-request-id", "content-length")
    ]
    try:
        body: Any = _named(orjson.loads(response.content), {v: k for k, v in world.ids.items()})
    except orjson.JSONDecodeError:
        body = response.content
    return response.status_code, headers, body


def test_generated_writes_answer_alike_and_the_lane_takes_what_it_claims(
    apps: LaneAndFull,  # noqa: F811
) -> None:
    async def tokens() -> dict[str, str]:
        async with apps.lane.state.sessionmaker() as session:
            factory = Factory(session)
            made = {"admin": await factory.token(), "patient": await factory.token(role="patient")}
            await session.commit()
            return made

    known = apps.run(tokens())
    counter = iter(range(1_000_000))

    async def both(write: Write) -> tuple[Any, Any]:
        index = next(counter)
        async with apps.lane.state.sessionmaker() as session:
            factory = Factory(session)
            full_world = await _world(factory, index)
            lane_world = await _world(factory, index)
        url, kwargs = _request(write, full_world, known)
        expected = _comparable(await send(apps.full, "POST", url, **kwargs), full_world)
        url, kwargs = _request(write, lane_world, known)
        answered = _comparable(await send(apps.lane, "POST", url, **kwargs), lane_world)
        return expected, answered

    # The first look-up of each token takes the full path and fills the token cache.
    for token in ("admin", "patient"):
        apps.run(both(Write("book", "@booking", {}, b"{}", None, False, "", token, False)))
    seen = {"claimed": 0, "other": 0}

    @EXAMPLES
    @given(write=writes())
    def compare(write: Write) -> None:
        lane = apps.lane.state.hot_writes
        answered_before, handed_on_before = lane.answered, lane.handed_on
        expected, answered = apps.run(both(write))
        assert answered == expected, write
        if write.claimed:
            assert (lane.answered, lane.handed_on) == (answered_before + 1, handed_on_before), (
                f"the lane handed on a write it claims: {write}"
            )
        elif write.token != "admin" or write.idempotent or write.query:
            assert lane.answered == answered_before, f"the lane took {write}"
        seen["claimed" if write.claimed else "other"] += 1

    compare()
    assert seen["claimed"] > 0 and seen["other"] > 0, seen
