"""The bench leaves its database as it was built: every row a run adds is deleted again."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from bench.build_db import (
    Target,
    add_open_slots,
    add_providers,
    built_ids,
    prepare,
    sqlite_target,
)
from bench.restore import baseline, children_first, exclusive, restore
from bench.runner import Options, Runner

SLOTS = 300
TABLES = ("providers", "available_slots", "bookings", "slot_series", "audit_log", "patients")
WRITES = ("create_slot", "batch_500", "weekly_series", "book")


async def _counts(target: Target) -> dict[str, int]:
    if target.sqlite_path is not None:
        connection = sqlite3.connect(target.sqlite_path)
        try:
            return {
                table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in TABLES
            }
        finally:
            connection.close()
    pg = await asyncpg.connect(target.asyncpg_dsn)
    try:
        return {table: await pg.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES}
    finally:
        await pg.close()


async def _add_audit_entry(target: Target) -> None:
    sql = (
        "INSERT INTO audit_log (occurred_at, action, entity, changed_fields) "
        "VALUES ({p}, 'create', 'provider', '{{}}')"
    )
    now = datetime.now(UTC)
    if target.sqlite_path is not None:
        connection = sqlite3.connect(target.sqlite_path, isolation_level=None)
        try:
            connection.execute(sql.format(p="?"), (now.isoformat(" "),))
        finally:
            connection.close()
        return
    pg = await asyncpg.connect(target.asyncpg_dsn)
    try:
        await pg.execute(sql.format(p="$1"), now)
    finally:
        await pg.close()


def test_children_come_before_the_tables_they_reference() -> None:
    order = children_first(
        ["providers", "bookings", "available_slots", "slot_series", "audit_log"],
        [
            ("bookings", "available_slots"),
            ("available_slots", "providers"),
            ("available_slots", "slot_series"),
            ("slot_series", "providers"),
        ],
    )
    assert order.index("bookings") < order.index("available_slots")
    assert order.index("available_slots") < order.index("slot_series")
    assert order.index("slot_series") < order.index("providers")
    assert set(order) == {"providers", "bookings", "available_slots", "slot_series", "audit_log"}


async def test_restore_deletes_what_was_added_and_nothing_else(bench_target: Target) -> None:
    await prepare(bench_target, SLOTS)
    marks = await baseline(bench_target)
    built = await _counts(bench_target)
    writers = await add_providers(bench_target, 3)
    start = datetime.now(UTC) + timedelta(days=2000)
    await add_open_slots(bench_target, writers, 12, start)
    await _add_audit_entry(bench_target)
    grown = await _counts(bench_target)
    assert grown["providers"] == built["providers"] + 3
    assert grown["available_slots"] == built["available_slots"] + 12
    assert grown["audit_log"] == built["audit_log"] + 1

    deleted = await restore(bench_target, marks)

    assert deleted == {"providers": 3, "available_slots": 12, "audit_log": 1}
    assert await _counts(bench_target) == built
    # Ids continue where the build left them, and the marks survive a reuse.
    assert await add_providers(bench_target, 1) == [marks["providers"] + 1]
    again = await prepare(bench_target, SLOTS, rebuild=False)
    assert again.reused
    assert await baseline(bench_target) == marks
    assert await restore(bench_target, marks) == {"providers": 1}
    assert await restore(bench_target, marks) == {}


@pytest.mark.slow
async def test_a_run_of_the_write_workloads_keeps_the_size(
    bench_target: Target, tmp_path: Path
) -> None:
    await prepare(bench_target, SLOTS)
    built = await _counts(bench_target)
    options = Options(
        target=bench_target,
        slots=SLOTS,
        duration=0.3,
        warmup=0.1,
        single=0.1,
        concurrency=2,
        only=WRITES,
        rebuild=False,
        results=tmp_path / "results",
    )
    run = await Runner(options, lambda _line: None).run()

    assert [o.key for o in run.outcomes] == list(WRITES)
    for outcome in run.outcomes:
        assert outcome.measurements["api"].result.requests > 0, outcome.key
    assert run.data.reused
    assert run.restored["available_slots"] > 0 and run.restored["bookings"] > 0
    assert run.restored["slot_series"] > 0 and run.restored["providers"] > 0
    assert await _counts(bench_target) == built


async def test_a_database_built_before_marks_gets_the_build_s_own(bench_target: Target) -> None:
    await prepare(bench_target, SLOTS)
    built = await _counts(bench_target)
    writers = await add_providers(bench_target, 2)
    await add_open_slots(bench_target, writers, 5, datetime.now(UTC) + timedelta(days=2000))

    marks = await baseline(bench_target, built_ids(SLOTS))

    assert marks["providers"] == built["providers"]
    assert marks["available_slots"] == SLOTS
    assert await restore(bench_target, marks) == {"providers": 2, "available_slots": 5}
    assert await _counts(bench_target) == built


async def test_a_second_run_on_the_same_database_waits_for_the_first(tmp_path: Path) -> None:
    target = sqlite_target(tmp_path / "shared.db")
    said: list[str] = []
    order: list[str] = []

    async def second() -> None:
        async with exclusive(target, said.append):
            order.append("second")

    async with exclusive(target, said.append):
        waiting = asyncio.create_task(second())
        await asyncio.sleep(0.2)
        assert not waiting.done()
        order.append("first")
    await asyncio.wait_for(waiting, 5)

    assert order == ["first", "second"]
    assert said == [f"database: waiting for another bench run on {target.label}"]
