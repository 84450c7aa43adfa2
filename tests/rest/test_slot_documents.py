"""Slot pages rendered by the database equal the rows rendered in Python, on both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from sqlalchemy import text

from models.platform.pagination import PageRequest
from models.scheduling.slot_documents import search_document, slot_document
from models.scheduling.slots import SlotFilters, list_slots, search_slots
from rest_compat.render import slot_json
from tests.factories import Factory, future

ZONE = ZoneInfo("America/New_York")


@pytest.fixture
async def slots(factory: Factory, session: Any) -> list[Any]:
    jane = await factory.provider("Jane", 'O"Neil \\ é')
    omar = await factory.provider("Omar", "Haddad")
    start = future(48, minute=0)
    made = [
        await factory.slot(jane, start=start),
        await factory.slot(omar, start=start, appointment_type="therapy"),
        await factory.slot(jane, start=start + timedelta(hours=2), available=False),
        await factory.slot(omar, start=start + timedelta(hours=3), minutes=90),
    ]
    # A row as a server default leaves it: no fraction of a second on SQLite.
    await session.execute(
        text("UPDATE available_slots SET created_at = :at WHERE id = :id"),
        {
            "at": "2030-01-02 03:04:05"
            if factory.session.get_bind().dialect.name == "sqlite"
            else start,
            "id": made[0].id,
        },
    )
    await session.commit()
    return made


@pytest.mark.parametrize("page", [PageRequest(1, 3), PageRequest(2, 3), PageRequest(9, 3)])
async def test_list_document_is_the_rows_rendered(session: Any, slots: list[Any], page) -> None:
    filters = SlotFilters()
    rows = await list_slots(session, filters, page=page, zone=ZONE)
    document = await slot_document(session, filters, page=page, zone=ZONE)
    # The same bytes as the Python rendering (orjson), on either database.
    assert document.body.encode() == orjson.dumps([slot_json(row) for row in rows.items])
    assert document.total == rows.total == 4


async def test_search_document_is_the_rows_rendered(session: Any, slots: list[Any]) -> None:
    page = PageRequest(1, 10)
    arguments: dict[str, Any] = {
        "provider_id": None,
        "on_date": None,
        "duration": 60,
        "appointment_type": "therapy",
        "page": page,
        "zone": ZONE,
    }
    rows = await search_slots(session, **arguments)
    document = await search_document(session, **arguments)
    expected = [slot_json(row) for row in rows.items]
    assert document.body.encode() == orjson.dumps(expected)
    assert [slot["id"] for slot in expected] == [slots[0].id, slots[1].id, slots[3].id]
    assert document.total == rows.total == 3


@pytest.mark.parametrize(
    ("number", "size"),
    [(1, 1), (1, 2), (2, 2), (3, 2), (1, 3), (2, 1), (4, 1), (5, 1)],
)
async def test_search_pages_and_totals_are_the_rows_rendered(
    session: Any, slots: list[Any], number: int, size: int
) -> None:
    """Full pages, a last page cut short, pages past the end: the same objects and total
    as the search in Python, whether the page counts itself or the list is counted."""
    arguments: dict[str, Any] = {
        "provider_id": None,
        "on_date": None,
        "duration": None,
        "appointment_type": None,
        "page": PageRequest(number, size),
        "zone": ZONE,
    }
    rows = await search_slots(session, **arguments)
    document = await search_document(session, **arguments)
    assert document.body.encode() == orjson.dumps([slot_json(row) for row in rows.items])
    assert document.total == rows.total == 3
