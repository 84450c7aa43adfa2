"""What the bench sends: one request builder per workload and target.

Targets: ``api`` (the real routes), ``floor`` (the same work under ``/floor``) and, for
the GraphQL list page, ``defaults`` (the schema with Strawberry's defaults). Reads rotate
over days, providers and ids; writes use providers created for the run, so every write
gets a free calendar window and none conflicts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import orjson

from bench.build_db import BenchData, add_booked_slots, add_open_slots, add_providers
from bench.load import Request, RequestBuilder

API_BASE = "/v1/admin/clinic/availability"
FLOOR_BASE = "/floor"
GRAPHQL = {"api": "/graphql", "defaults": "/graphql-defaults"}
GRAPHQL_ERROR = b'"errors":[{'
PAGE = 50
DAYS = 700
WRITERS = 100
BATCH = 500
# The most requests per second any target could sustain, to size the booking pool.
BOOKING_RATE_BOUND = 3000

SLOT_FIELDS = (
    "id providerId startTime endTime appointmentType available recurring recurrencePattern "
    "createdAt updatedAt provider { id firstName lastName }"
)
LIST_QUERY = (
    "query SlotPage($first: Int, $filter: AvailableSlotFilter) { "
    "availableSlots(first: $first, filter: $filter) { totalCount "
    "pageInfo { hasNextPage endCursor } edges { cursor node { " + SLOT_FIELDS + " } } } }"
)
SEARCH_QUERY = (
    "query Search($providerId: Int, $date: Date, $duration: Int, $first: Int) { "
    "searchAvailableSlots(providerId: $providerId, date: $date, duration: $duration, "
    "first: $first) { totalCount edges { cursor node { " + SLOT_FIELDS + " } } } }"
)


@dataclass(frozen=True)
class Plan:
    """How to drive one target: the builder, and how many indexes it can serve."""

    build: RequestBuilder
    limit: int | None = None
    error_marker: bytes | None = None


# (data, target, seconds the target will be driven for) -> plan
MakePlan = Callable[[BenchData, str, float], Awaitable[Plan | None]]


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    make: MakePlan
    targets: tuple[str, ...] = ("api", "floor")


def _base(target: str) -> str:
    return API_BASE if target == "api" else FLOOR_BASE


def _graphql(target: str, query: str, variables: Callable[[int], dict[str, Any]]) -> Plan:
    path = GRAPHQL.get(target)
    if path is None:
        raise ValueError(target)

    def build(index: int) -> Request:
        body = orjson.dumps({"query": query, "variables": variables(index)})
        return Request("POST", path, body)

    return Plan(build, error_marker=GRAPHQL_ERROR)


def week_of(data: BenchData, index: int) -> tuple[date, date]:
    start = data.first_day + timedelta(days=(index * 7) % DAYS)
    return start, start + timedelta(days=6)


def _search_args(data: BenchData, index: int) -> tuple[int, date]:
    return 1 + index % data.providers, data.first_day + timedelta(days=(index * 13) % DAYS)


def _stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _far_future(data: BenchData, years: int) -> datetime:
    return datetime.combine(data.first_day + timedelta(days=365 * years), time.min, tzinfo=UTC)


async def rest_list(data: BenchData, target: str, _duration: float) -> Plan | None:
    base = _base(target)

    def build(index: int) -> Request:
        start, end = week_of(data, index)
        query = f"page_size={PAGE}&start_date={start}&end_date={end}"
        return Request("GET", f"{base}/available_slots?{query}")

    return Plan(build)


async def graphql_list(data: BenchData, target: str, duration: float) -> Plan | None:
    if target == "floor":
        return await rest_list(data, target, duration)

    def variables(index: int) -> dict[str, Any]:
        start, end = week_of(data, index)
        return {"first": PAGE, "filter": {"startDate": str(start), "endDate": str(end)}}

    return _graphql(target, LIST_QUERY, variables)


async def rest_search(data: BenchData, target: str, _duration: float) -> Plan | None:
    base = _base(target)

    def build(index: int) -> Request:
        provider, day = _search_args(data, index)
        query = f"provider_id={provider}&date={day}&duration=30&page_size={PAGE}"
        return Request("GET", f"{base}/available_slots/search?{query}")

    return Plan(build)


async def graphql_search(data: BenchData, target: str, duration: float) -> Plan | None:
    if target == "floor":
        return await rest_search(data, target, duration)

    def variables(index: int) -> dict[str, Any]:
        provider, day = _search_args(data, index)
        return {"providerId": provider, "date": str(day), "duration": 30, "first": PAGE}

    return _graphql(target, SEARCH_QUERY, variables)


async def get_slot(data: BenchData, target: str, _duration: float) -> Plan | None:
    base = _base(target)
    return Plan(
        lambda index: Request("GET", f"{base}/available_slots/{1 + index * 7919 % data.slots}")
    )


ONE_SLOT_QUERY = "query OneSlot($id: Int!) { availableSlot(id: $id) { " + SLOT_FIELDS + " } }"


async def graphql_get_slot(data: BenchData, target: str, duration: float) -> Plan | None:
    """The slot ``get_slot`` reads, by id through GraphQL; its floor is ``get_slot``'s."""
    if target == "floor":
        return await get_slot(data, target, duration)
    return _graphql(target, ONE_SLOT_QUERY, lambda index: {"id": 1 + index * 7919 % data.slots})


async def provider_week(data: BenchData, target: str, _duration: float) -> Plan | None:
    """One provider's 7-day window: an answer of the same size whatever the table's."""
    base = _base(target)

    def build(index: int) -> Request:
        start, end = week_of(data, index)
        provider = 1 + (index * 37) % data.providers
        query = f"provider_id={provider}&page_size={PAGE}&start_date={start}&end_date={end}"
        return Request("GET", f"{base}/available_slots?{query}")

    return Plan(build)


async def create_slot(data: BenchData, target: str, _duration: float) -> Plan | None:
    base = _base(target)
    writers = await add_providers(data.target, WRITERS)
    origin = _far_future(data, 3)

    def build(index: int) -> Request:
        start = origin + timedelta(hours=index // WRITERS)
        fields = {
            "provider_id": writers[index % WRITERS],
            "start_time": _stamp(start),
            "end_time": _stamp(start + timedelta(hours=1)),
            "appointment_type": "therapy",
        }
        return Request("POST", f"{base}/available_slots", orjson.dumps({"available_slot": fields}))

    return Plan(build)


async def batch_create(data: BenchData, target: str, _duration: float) -> Plan | None:
    base = _base(target)
    writers = await add_providers(data.target, WRITERS)
    origin = _far_future(data, 3)

    def build(index: int) -> Request:
        window = origin + timedelta(hours=BATCH * (index // WRITERS))
        slots = [
            {
                "start_time": _stamp(window + timedelta(hours=n)),
                "end_time": _stamp(window + timedelta(hours=n, minutes=50)),
                "appointment_type": "consultation",
            }
            for n in range(BATCH)
        ]
        body = {"provider_id": writers[index % WRITERS], "slots": slots}
        path = f"{base}/providers/available_slots/create_in_batch"
        return Request("POST", path, orjson.dumps(body))

    return Plan(build)


async def weekly_series(data: BenchData, target: str, _duration: float) -> Plan | None:
    """A weekly slot for a year from tomorrow; each provider hosts one per hour of the week."""
    base = _base(target)
    writers = await add_providers(data.target, WRITERS)
    origin = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time.min, tzinfo=UTC)
    hours_in_week = 7 * 24

    def build(index: int) -> Request:
        start = origin + timedelta(hours=(index // WRITERS) % hours_in_week)
        fields = {
            "provider_id": writers[index % WRITERS],
            "start_time": _stamp(start),
            "end_time": _stamp(start + timedelta(minutes=45)),
            "appointment_type": "therapy",
            "recurring": True,
            "recurrence_pattern": "weekly",
            "recurrence_end_date": str(start.date() + timedelta(days=364)),
        }
        return Request("POST", f"{base}/available_slots", orjson.dumps({"available_slot": fields}))

    return Plan(build, limit=WRITERS * hours_in_week)


async def book_slot(data: BenchData, target: str, duration: float) -> Plan | None:
    writers = await add_providers(data.target, WRITERS)
    pool_size = int(BOOKING_RATE_BOUND * (duration + 1))
    pool = await add_open_slots(data.target, writers, pool_size, _far_future(data, 4))
    base = _base(target)

    def build(index: int) -> Request:
        fields = {
            "available_slot_id": pool[index],
            "patient_id": 1 + index % data.patients,
            "appointment_type": "therapy",
            "notes": "Booked by the benchmark",
        }
        return Request("POST", f"{base}/books", orjson.dumps({"book": fields}))

    return Plan(build, limit=len(pool))


async def reschedule(data: BenchData, target: str, duration: float) -> Plan | None:
    """Move a confirmed booking to an open slot of another provider."""
    writers = await add_providers(data.target, WRITERS)
    pool_size = int(BOOKING_RATE_BOUND * (duration + 1))
    origin = _far_future(data, 4)
    booked = await add_booked_slots(data.target, writers, pool_size, origin, data.patients)
    # The open slots start a year after the booked ones, so none overlaps them.
    free = await add_open_slots(data.target, writers, pool_size, origin + timedelta(days=366))
    base = _base(target)

    def build(index: int) -> Request:
        body = {"book": {"available_slot_id": free[index]}}
        return Request("POST", f"{base}/books/{booked[index]}/reschedule", orjson.dumps(body))

    return Plan(build, limit=pool_size)


async def list_books(data: BenchData, target: str, _duration: float) -> Plan | None:
    base = _base(target)
    pages = max(1, data.slots // 10 // PAGE)
    return Plan(
        lambda index: Request(
            "GET", f"{base}/books?page_size={PAGE}&page={1 + index % min(pages, 20)}"
        )
    )


async def find_earliest(data: BenchData, target: str, _duration: float) -> Plan | None:
    """The earliest 10 options of one type over 14 days, licensed in California."""
    base = _base(target)

    def build(index: int) -> Request:
        start, _end = week_of(data, index)
        end = start + timedelta(days=13)
        query = (
            f"appointment_type=therapy&start_date={start}&end_date={end}&licensed_state=CA&limit=10"
        )
        return Request("GET", f"{base}/find?{query}")

    return Plan(build)


WORKLOADS: tuple[Workload, ...] = (
    Workload("rest_list", "REST list page (50, with providers)", rest_list),
    Workload("gql_list", "GraphQL list page (50)", graphql_list, ("api", "floor", "defaults")),
    Workload("rest_search", "REST search provider/date/duration", rest_search),
    Workload("gql_search", "GraphQL search", graphql_search),
    Workload("get_slot", "REST get one slot", get_slot),
    Workload("gql_get_slot", "GraphQL one slot by id", graphql_get_slot),
    Workload("provider_week", "REST a provider's week (50)", provider_week),
    Workload("create_slot", "REST create one slot", create_slot),
    Workload("batch_500", "REST batch create 500 slots", batch_create),
    Workload("weekly_series", "REST weekly series, 1 year", weekly_series),
    Workload("book", "REST book a slot", book_slot),
    Workload("reschedule", "REST reschedule a booking", reschedule),
    Workload("list_books", "REST list books page (50)", list_books),
    Workload("find_earliest", "REST find: earliest 10, 14 days, licence", find_earliest),
)
