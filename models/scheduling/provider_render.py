"""Providers rendered by the database in a caller's own shape: one statement, one JSON text.

The provider record kind read from its own row (booking rules and matching lists
included) and its page, read as ``get_provider`` and ``list_people`` read them (id order,
``active`` filter, id cursors).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform.db import read_rows
from models.platform.entities import Provider
from models.platform.pagination import keyset_order, keyset_past
from models.platform.record_render import (
    BOOLEAN,
    INTEGER,
    NODE_ID,
    STRING,
    STRINGS,
    Listing,
    Picks,
    Record,
    dialect_of,
    id_cursor,
    one_json,
    one_statement,
    page_params,
    page_record,
    page_statement,
)
from models.scheduling.provider_matching import MATCHING_FIELDS
from models.scheduling.slots import RULE_COLUMNS

PROVIDERS = Provider.__table__


def provider_record(prefix: str = "") -> Record:
    """A provider read from columns named ``<prefix><column>`` (its own row: no prefix; a
    slot row: ``provider_``, the id being ``provider_id``)."""
    ident = f"{prefix}id"
    values = {
        "id": (INTEGER, ident),
        "node_id": (NODE_ID, ident),
        **{name: (STRING, f"{prefix}{name}") for name in ("first_name", "last_name", "time_zone")},
        "active": (BOOLEAN, f"{prefix}active"),
        **{name: (STRINGS, f"{prefix}{name}") for name in MATCHING_FIELDS},
    }
    rules = Record({name: (INTEGER, f"{prefix}{name}") for name in RULE_COLUMNS})
    return Record(values, {"booking_rules": (rules, False)}, node_type="Provider")


PROVIDER = provider_record()
PAGE = page_record(PROVIDER)


@lru_cache(maxsize=256)
def _one_statement(picks: Picks, dialect: str) -> Select[Any]:
    row = select(PROVIDERS).where(PROVIDERS.c.id == bindparam("provider_id")).subquery("row")
    return one_statement(picks, PROVIDER, row, dialect)


@lru_cache(maxsize=512)
def _page_statement(
    picks: Picks, active: bool | None, keyset: bool, backward: bool, dialect: str
) -> Select[Any]:
    c = PROVIDERS.c
    conditions = [] if active is None else [c.active.is_(active)]
    rows = select(PROVIDERS).where(*conditions)
    if keyset:
        rows = rows.where(keyset_past((c.id,), (bindparam("after_id"),), backward=backward))
    limited = (
        rows.order_by(*keyset_order((c.id,), backward=backward))
        .limit(bindparam("page_limit"))
        .subquery("limited")
    )
    listing = Listing(
        limited,
        ("id",),
        select(func.count()).select_from(PROVIDERS).where(*conditions),
        lambda columns: id_cursor(columns.id, dialect),
        keyset=keyset,
        backward=backward,
    )
    return page_statement(picks, PROVIDER, listing, dialect)


async def provider_json(session: AsyncSession, picks: Picks, provider_id: int) -> str:
    """One provider (``get_provider``) as JSON in the shape of ``picks``; NotFound
    without it."""
    return await one_json(
        session, _one_statement(picks, dialect_of(session)), {"provider_id": provider_id}
    )


async def provider_page_json(
    session: AsyncSession,
    picks: Picks,
    *,
    first: int,
    active: bool | None = None,
    after_id: int | None = None,
    backward: bool = False,
) -> str:
    """``list_people``'s page of ``first`` providers in the shape of ``picks``."""
    keyset = after_id is not None
    statement = _page_statement(picks, active, keyset, backward, dialect_of(session))
    params = page_params({"after_id": after_id} if keyset else {}, first)
    [row] = await read_rows(session, statement, params)
    return str(row.body)
