"""The JSON the databases render is the same bytes on PostgreSQL and SQLite (the REST
pages and the GraphQL renderings), and the same as Python's (orjson) rendering."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import update

from gql.pagination import encode_time_id_cursor
from models.platform.db import create_engine
from models.platform.entities import AvailableSlot
from models.platform.pagination import PageRequest
from models.platform.record_render import Pick
from models.platform.sessions import create_sessionmaker
from models.scheduling import people
from models.scheduling.slot_documents import slot_document
from models.scheduling.slot_render import slot_json, slot_page_json
from models.scheduling.slots import SlotFilters, SlotInput, create_single_slot, list_slots
from rest_compat.render import slot_json as rest_slot_json
from tests.conftest import reset_postgres

ZONE = ZoneInfo("UTC")
START = datetime(2031, 3, 4, 10, 0, 0, 123456, tzinfo=UTC)
STAMP = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
NODE = (
    Pick("id", "id"),
    Pick("t", "", '"AvailableSlot"'),
    Pick("startTime", "start_time"),
    Pick("available", "available"),
    Pick("appointmentType", "appointment_type"),
    Pick("createdAt", "created_at"),
    Pick(
        "provider",
        "provider",
        sub=(
            Pick("lastName", "last_name"),
            Pick("active", "active"),
            Pick("rules", "booking_rules", sub=(Pick("m", "minimum_notice_minutes"),)),
        ),
    ),
)
PAGE = (
    Pick("totalCount", "total_count"),
    Pick("pageInfo", "page_info", sub=(Pick("h", "has_next_page"), Pick("e", "end_cursor"))),
    Pick("edges", "edges", sub=(Pick("cursor", "cursor"), Pick("node", "node", sub=NODE))),
    Pick("nodes", "nodes", sub=NODE),
)


async def renderings(url: str) -> tuple[list[bytes], list[Any]]:
    """The same slots written to the database at ``url``, rendered every way."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            jane = await people.create_provider(
                session, first_name="Jané", last_name='O"Neil \\ \t\u2028 😀'
            )
            for index in range(4):
                begin = START + timedelta(hours=index, microseconds=-123456 * (index % 2))
                await create_single_slot(
                    session,
                    SlotInput(
                        provider_id=jane.id,
                        start_time=begin,
                        end_time=begin + timedelta(minutes=30),
                        **({"appointment_type": "therapy"} if index % 2 else {}),
                    ),
                )
            await session.execute(update(AvailableSlot).values(created_at=STAMP, updated_at=STAMP))
            await session.commit()
            page = PageRequest(1, 3)
            rows = await list_slots(session, SlotFilters(), page=page, zone=ZONE)
            document = await slot_document(session, SlotFilters(), page=page, zone=ZONE)
            rendered = await slot_page_json(session, PAGE, SlotFilters(), first=3, zone=ZONE)
            one = await slot_json(session, NODE, 2)
            python = orjson.dumps([rest_slot_json(row) for row in rows.items])
            cursors = [encode_time_id_cursor(row.start_time, row.id) for row in rows.items[:3]]
            return [document.body.encode(), rendered.encode(), one.encode()], [python, cursors]
    finally:
        await engine.dispose()


def test_same_bytes_on_both_databases(
    postgres_url: str, sqlite_template: Path, tmp_path: Path
) -> None:
    asyncio.run(reset_postgres(postgres_url))
    sqlite_file = tmp_path / "bytes.db"
    shutil.copyfile(sqlite_template, sqlite_file)
    on_postgres, (python, cursors) = asyncio.run(renderings(postgres_url))
    on_sqlite, (python_sqlite, _) = asyncio.run(renderings(f"sqlite+aiosqlite:///{sqlite_file}"))
    assert on_postgres == on_sqlite
    assert on_postgres[0] == python == python_sqlite
    page = orjson.loads(on_postgres[1])
    assert [edge["cursor"] for edge in page["edges"]] == cursors
    assert page["pageInfo"] == {"h": True, "e": cursors[-1]}
    assert all(b'" : ' not in body for body in on_postgres)  # json_build_object's spacing
