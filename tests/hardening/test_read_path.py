"""The read path: token last use off the request, one retry of a read on a dead
connection, SQLite writers queued in process."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

import models.platform.db
from models.platform.base import UTCDateTime
from models.platform.db import READER, Reader, create_engine, writer_lock
from models.platform.driver_reads import RetryOnEngine, driver_rows, plan_for
from models.platform.entities import ApiToken, AvailableSlot
from models.platform.record_render import Pick, page_params
from models.platform.users import flush_last_use, hash_token
from models.scheduling.slot_documents import _document_statement, _rule_page_statement
from models.scheduling.slot_render import _page_statement
from models.scheduling.slots import _SLOT_BY_ID, SlotFilters, SlotShape, get_slot, slot_query
from tests.factories import SLOTS, Factory, future, iso


async def last_used(session: AsyncSession, token: str) -> Any:
    await session.rollback()
    stmt = select(ApiToken.last_used_at).where(ApiToken.token_hash == hash_token(token))
    return (await session.execute(stmt)).scalar_one()


async def test_token_last_use_is_written_in_the_background(
    client: httpx.AsyncClient, factory: Factory, session: AsyncSession
) -> None:
    first, second = await factory.token(), await factory.token()
    for token in (first, second, first):
        response = await client.get(SLOTS, headers={"X-User-Token": token})
        assert response.status_code == 200
    # Not on the request's path: nothing written yet.
    assert await last_used(session, first) is None
    await flush_last_use()  # what shutdown (or the timer) does
    assert await last_used(session, first) is not None
    assert await last_used(session, second) is not None


async def test_a_read_on_a_dead_connection_is_retried_once(
    app: Any, factory: Factory, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    slot = await factory.slot()
    reader: Reader | None = session.info.get(READER)
    if reader is None:
        pytest.skip("no separate read engine")
    # The worker threads' path (a quick read on a SQLite file would be the loop's).
    monkeypatch.setattr(reader, "loop_reader", None)
    real = Reader._rows
    calls: list[str] = []

    async def driver_dies(*_args: Any) -> Any:
        calls.append("driver")
        raise RetryOnEngine()

    async def engine_dies(self: Reader, stmt: Any, params: Any, *, times: int) -> Any:
        calls.append("engine")
        if calls.count("engine") <= times:
            error = DBAPIError("SELECT", {}, Exception("server closed the connection"))
            error.connection_invalidated = True
            raise error
        return await real(self, stmt, params)

    # The driver connection is found dead: once more through the engine, fresh.
    monkeypatch.setattr(models.platform.db, "driver_rows", driver_dies)
    monkeypatch.setattr(Reader, "_rows", lambda self, s, p: engine_dies(self, s, p, times=0))
    assert (await get_slot(session, slot.id)).id == slot.id
    assert calls == ["driver", "engine"]

    calls.clear()
    monkeypatch.setattr(Reader, "_rows", lambda self, s, p: engine_dies(self, s, p, times=1))
    with pytest.raises(DBAPIError):
        await get_slot(session, slot.id)
    assert calls == ["driver", "engine"]  # never a third attempt

    # A statement only the engine can run: the engine's own attempt, and one retry.
    monkeypatch.setattr(Reader, "_rows", lambda self, s, p: engine_dies(self, s, p, times=1))
    monkeypatch.setattr(models.platform.db, "plan_for", lambda *_: None)
    reader._plans.clear()
    calls.clear()
    assert (await get_slot(session, slot.id)).id == slot.id
    assert calls == ["engine", "engine"]
    calls.clear()
    monkeypatch.setattr(Reader, "_rows", lambda self, s, p: engine_dies(self, s, p, times=2))
    with pytest.raises(DBAPIError):
        await get_slot(session, slot.id)
    assert calls == ["engine", "engine"]


async def test_driver_reads_equal_engine_reads(
    app: Any, factory: Factory, session: AsyncSession
) -> None:
    """The same statement read through the driver and through the engine: equal rows."""
    reader: Reader | None = session.info.get(READER)
    if reader is None:
        pytest.skip("no separate read engine")
    provider = await factory.provider()
    slots = [await factory.slot(provider, start=future(24 + h)) for h in range(3)]
    plan = plan_for(reader.engine, _SLOT_BY_ID)
    assert plan is not None
    for slot in slots:
        params = {"slot_id": slot.id}
        through_driver = await driver_rows(reader.engine, plan, params)
        through_engine = await reader._rows(_SLOT_BY_ID, params)
        assert [tuple(r) for r in through_driver] == [tuple(r) for r in through_engine]
        assert through_driver[0]._mapping == through_engine[0]._mapping
        assert through_driver[0].start_time == slot.start_time


async def test_sqlite_writers_queue_on_one_lock_per_database(
    backend: str,
    app: Any,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    factory: Factory,
    session: AsyncSession,
) -> None:
    lock = writer_lock(app.state.engine)
    if backend != "sqlite":
        assert lock is None
        return
    assert lock is not None and lock is writer_lock(app.state.engine)
    provider = await factory.provider()
    start = future(24)

    async def create(n: int) -> int:
        slot_start = start + timedelta(hours=n)
        body = {
            "available_slot": {
                "provider_id": provider.id,
                "start_time": iso(slot_start),
                "end_time": iso(slot_start + timedelta(minutes=30)),
            }
        }
        return (await client.post(SLOTS, json=body, headers=auth)).status_code

    assert await asyncio.gather(*(create(n) for n in range(20))) == [201] * 20
    await session.rollback()
    stored = (await session.execute(select(AvailableSlot.id))).scalars().all()
    assert len(stored) == 20
    assert not lock.locked()


async def test_reads_survive_a_server_side_disconnect(
    backend: str,
    database_url: str,
    client: httpx.AsyncClient,
    auth: dict[str, str],
    factory: Factory,
) -> None:
    if backend != "postgresql":
        pytest.skip("kills PostgreSQL backends")
    slot = await factory.slot()
    assert (await client.get(f"{SLOTS}/{slot.id}", headers=auth)).status_code == 200
    admin = create_engine(database_url)
    try:
        async with admin.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            await conn.commit()
    finally:
        await admin.dispose()
    # The pooled read connections are dead: each read is retried once on a fresh one.
    for _ in range(3):
        response = await client.get(f"{SLOTS}/{slot.id}", headers=auth)
        assert response.status_code == 200, response.text
        assert response.json()["id"] == slot.id


async def _search_of_a_day(
    session: AsyncSession, factory: Factory
) -> tuple[Reader, SlotShape, dict[str, Any]]:
    """The read engine's reader, and a search's shape and parameters (one provider's day)."""
    reader: Reader | None = session.info.get(READER)
    if reader is None:
        pytest.skip("no separate read engine")
    provider = await factory.provider()
    on_day = future(48).date()
    shape, params = slot_query(
        SlotFilters(provider_id=provider.id, start_date=on_day, end_date=on_day, available=True),
        ZoneInfo("UTC"),
        future_after=future(0),
        min_duration=30,
        rules=True,
    )
    return reader, shape, params


async def test_a_search_statement_takes_its_arguments_from_positions(
    session: AsyncSession, factory: Factory
) -> None:
    """The search's "now", written in each rule's subquery, is one parameter to the
    position table (not a fallback to ``construct_params``), and gives the same values."""
    reader, shape, params = await _search_of_a_day(session, factory)
    params.update(page_limit=25, page_offset=0, availability_now=future(0))
    statement = _document_statement(shape, reader.engine.dialect.name)
    plan = plan_for(reader.engine, statement)
    assert plan is not None and plan.positions is not None
    # SQLite's parameters are positional: one per place it is written.
    expected_places = 1 if reader.engine.dialect.name == "postgresql" else 2
    assert plan.names.count("availability_now") >= expected_places
    expected = plan._constructed(params)
    assert plan.arguments(params) == expected
    # Not given: the parameters' own function, called once for every position of it.
    del params["availability_now"]
    values = plan.arguments(params)
    nows = {values[i] for i, name in enumerate(plan.names) if name == "availability_now"}
    assert len(nows) == 1


async def test_a_search_gives_its_rules_the_instant_its_future_begins(
    session: AsyncSession, factory: Factory
) -> None:
    """The search's "now" and the rules' are one instant, written as one text."""
    reader, shape, params = await _search_of_a_day(session, factory)
    assert params["availability_now"] is params["now"]
    params.update(page_limit=25, page_offset=0)
    dialect = reader.engine.dialect
    plan = plan_for(reader.engine, _rule_page_statement(shape, dialect.name))
    assert plan is not None and plan.positions is not None
    values = plan.arguments(params)
    assert values == plan._constructed(params)
    instants = {values[i] for i, name in enumerate(plan.names) if name.endswith("now")}
    assert len(instants) == 1
    if dialect.name == "sqlite":
        # One processor for every instant of the dialect: the plan processes it once.
        assert UTCDateTime().bind_processor(dialect) is UTCDateTime().bind_processor(dialect)


async def test_a_rendered_page_takes_its_arguments_from_positions(
    session: AsyncSession, factory: Factory
) -> None:
    """A GraphQL page's statement writes its page size in several places (the edges, the
    end cursor, hasNextPage): one parameter of one type, read from the position table."""
    reader: Reader | None = session.info.get(READER)
    if reader is None:
        pytest.skip("no separate read engine")
    provider = await factory.provider()
    day = future(48).date()
    node = (Pick("id", "id"), Pick("startTime", "start_time"))
    picks = (
        Pick("totalCount", "total_count"),
        Pick("pageInfo", "page_info", sub=(Pick("h", "has_next_page"), Pick("e", "end_cursor"))),
        Pick("edges", "edges", sub=(Pick("cursor", "cursor"), Pick("node", "node", sub=node))),
    )
    shape, params = slot_query(
        SlotFilters(provider_id=provider.id, start_date=day, end_date=day), ZoneInfo("UTC")
    )
    statement = _page_statement(picks, shape, reader.engine.dialect.name)
    plan = plan_for(reader.engine, statement)
    assert plan is not None and plan.positions is not None
    assert plan.names.count("page_first") >= (
        1 if reader.engine.dialect.name == "postgresql" else 3
    )
    params = page_params(params, 7)
    assert plan.arguments(params) == plan._constructed(params)


def test_asyncpg_keeps_rendered_statements_prepared() -> None:
    """asyncpg keeps no statement over 15 kB prepared by default; a rendered GraphQL search
    (about 19 kB) was planned again on every run: 5 ms of planning for 0.5 ms of work."""
    from sqlalchemy.dialects import postgresql

    from models.platform.db import MAX_CACHED_STATEMENT, _asyncpg_arguments

    shape, _params = slot_query(
        SlotFilters(provider_id=1, start_date=future(48).date(), end_date=future(48).date()),
        ZoneInfo("UTC"),
        future_after=future(0),
        min_duration=30,
        rules=True,
    )
    statement = _document_statement(shape, "postgresql")
    size = len(str(statement.compile(dialect=postgresql.dialect())))
    arguments = _asyncpg_arguments(make_url("postgresql+asyncpg://db.example/clinic"))
    assert arguments["max_cacheable_statement_size"] == MAX_CACHED_STATEMENT
    assert MAX_CACHED_STATEMENT >= 10 * size and MAX_CACHED_STATEMENT >= 10 * 20 * 1024


def test_driver_arguments_place_each_value_at_every_position() -> None:
    """A value used at several positions is read and processed once; the statement's own
    values stay, unless the call gives one anew (then as ``construct_params`` gives it)."""
    from sqlalchemy import Integer, bindparam, literal_column
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine("sqlite+aiosqlite://")
    own = bindparam("own", 5, type_=Integer)
    given = bindparam("given", type_=Integer)
    statement = select(
        (given + own + given + literal_column("1")).label("a"), (own * given).label("b")
    )
    plan = plan_for(engine, statement)
    assert plan is not None and plan.positions is not None
    assert plan.names == ("given", "own", "given", "own", "given")
    assert plan.arguments({"given": 3}) == (3, 5, 3, 5, 3) == plan._constructed({"given": 3})
    assert plan.arguments({"given": 3, "own": 9}) == (3, 9, 3, 9, 3)
    assert plan.arguments({"given": 3, "own": 9}) == plan._constructed({"given": 3, "own": 9})
    with pytest.raises(Exception, match="given"):
        plan.arguments({})  # a required value left out: as the engine refuses it
