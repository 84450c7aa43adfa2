"""Quick reads (a few rows by key) of a SQLite file run on the event loop's thread; the
answers are those of the worker threads, and a locked file sends them there."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest

from models.platform.db import READER, Reader
from models.platform.loop_reads import LoopReader
from tests.factories import SLOTS, future
from tests.graphql.helpers import gql

pytestmark = pytest.mark.usefixtures("only_sqlite")

ONE_SLOT = "query($id: Int!) { availableSlot(id: $id) { id startTime available provider { id } } }"


@pytest.fixture
def only_sqlite(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("quick reads on the loop's thread are SQLite's")


def _reader(app: Any) -> Reader:
    reader: Reader = app.state.sessionmaker.kw["info"][READER]
    return reader


def _loop(app: Any) -> LoopReader:
    loop_reader = _reader(app).loop_reader
    assert loop_reader is not None
    return loop_reader


@contextmanager
def on_worker_threads(app: Any) -> Iterator[None]:
    reader = _reader(app)
    kept, reader.loop_reader = reader.loop_reader, None
    try:
        yield
    finally:
        reader.loop_reader = kept


@pytest.fixture
async def slots(factory: Any) -> list[Any]:
    provider = await factory.provider()
    start = future(48).replace(hour=9)
    made = [await factory.slot(provider, start=start + timedelta(hours=n)) for n in range(3)]
    await factory.booking(made[1], await factory.patient())
    return made


async def test_one_slot_is_read_on_the_loop_and_answers_as_the_workers(app, client, auth, slots):
    loop_reader = _loop(app)
    for slot in slots:
        before = loop_reader.reads
        on_loop = await client.get(f"{SLOTS}/{slot.id}", headers=auth)
        assert loop_reader.reads == before + 1
        with on_worker_threads(app):
            on_workers = await client.get(f"{SLOTS}/{slot.id}", headers=auth)
        assert loop_reader.reads == before + 1
        assert on_loop.status_code == on_workers.status_code == 200
        assert on_loop.content == on_workers.content


async def test_graphql_records_and_a_providers_day_are_quick(app, client, auth, slots):
    loop_reader = _loop(app)
    before = loop_reader.reads
    body = await gql(client, ONE_SLOT, {"id": slots[0].id}, auth)
    assert body["data"]["availableSlot"]["id"] == slots[0].id
    assert loop_reader.reads == before + 1
    day = slots[0].start_time.date().isoformat()
    search = {"provider_id": slots[0].provider_id, "date": day, "duration": 30}
    on_loop = await client.get(f"{SLOTS}/search", params=search, headers=auth)
    assert loop_reader.reads == before + 2
    with on_worker_threads(app):
        on_workers = await client.get(f"{SLOTS}/search", params=search, headers=auth)
    assert on_loop.status_code == 200 and on_loop.content == on_workers.content
    assert [item["id"] for item in on_loop.json()] == [slots[0].id, slots[2].id]
    # A provider's week is few rows; every provider's day grows with the clinic.
    week = {"provider_id": slots[0].provider_id, "start_date": day, "end_date": day}
    listed = await client.get(SLOTS, params=week, headers=auth)
    assert listed.status_code == 200 and len(listed.json()) == 3
    assert loop_reader.reads == before + 3
    wide = await client.get(f"{SLOTS}/search", params={"date": day}, headers=auth)
    assert wide.status_code == 200 and loop_reader.reads == before + 3


async def test_a_broken_loop_connection_sends_reads_to_the_workers(app, client, auth, slots):
    loop_reader = _loop(app)
    first = await client.get(f"{SLOTS}/{slots[0].id}", headers=auth)
    assert first.status_code == 200
    connection = loop_reader._connection
    assert connection is not None
    # It never waits for a lock: a locked file is the workers' to wait for.
    assert connection.execute("PRAGMA busy_timeout").fetchone() == (0,)
    connection.close()
    before = loop_reader.reads
    response = await client.get(f"{SLOTS}/{slots[0].id}", headers=auth)
    assert response.status_code == 200 and response.content == first.content
    assert loop_reader.reads == before
    again = await client.get(f"{SLOTS}/{slots[0].id}", headers=auth)
    assert again.content == first.content and loop_reader.reads == before + 1


def test_a_reader_serves_only_the_thread_that_first_read(tmp_path):
    path = tmp_path / "plain.db"
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE t (x)")
        setup.execute("INSERT INTO t VALUES (7)")
    reader = LoopReader(str(path), lambda _connection: None)
    assert reader.rows("SELECT x FROM t", ()) == [(7,)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as other:
        assert other.submit(reader.rows, "SELECT x FROM t", ()).result() is None
    assert reader.rows("SELECT x FROM t", ()) == [(7,)] and reader.reads == 2
    reader.close()
