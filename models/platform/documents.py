"""Registered GraphQL documents: stored text under a client's opaque id and its SHA-256.

Only storage lives here; what makes a document acceptable (it parses and validates
against the schema) is decided by the GraphQL face before anything is stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models.platform.db import read_rows, write_transaction
from models.platform.entities import GraphQLDocument
from models.platform.errors import Conflict
from models.platform.timeutil import now_utc

MAX_DOCUMENT_ID_LENGTH = 200
MANIFEST = "manifest"
AUTOMATIC = "automatic"

_documents = cast(Table, GraphQLDocument.__table__)
_COLUMNS = (
    _documents.c.document_id,
    _documents.c.sha256,
    _documents.c.body,
    _documents.c.operation_name,
    _documents.c.source,
)
_BY_ID = select(*_COLUMNS).where(_documents.c.document_id == bindparam("key"))
_BY_SHA256 = (
    select(*_COLUMNS)
    .where(_documents.c.sha256 == bindparam("key"))
    .order_by(_documents.c.id)
    .limit(1)
)


@dataclass(frozen=True, slots=True)
class StoredDocument:
    document_id: str
    sha256: str
    body: str
    operation_name: str | None = None
    source: str = MANIFEST


class DocumentIdTaken(Conflict):
    message = "A document with this id is already registered with other text"


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def find_by_id(session: AsyncSession, document_id: str) -> StoredDocument | None:
    if len(document_id) > MAX_DOCUMENT_ID_LENGTH:
        return None
    rows = await read_rows(session, _BY_ID, {"key": document_id})
    return _stored(rows[0]) if rows else None


async def find_by_sha256(session: AsyncSession, digest: str) -> StoredDocument | None:
    if len(digest) != 64:
        return None
    rows = await read_rows(session, _BY_SHA256, {"key": digest.lower()})
    return _stored(rows[0]) if rows else None


@dataclass(frozen=True, slots=True)
class Added:
    added: int
    unchanged: int


async def add_documents(session: AsyncSession, documents: Sequence[StoredDocument]) -> Added:
    """Stores every new document in one transaction; one already stored under the same id
    with the same text is left as it is, with other text the whole set is refused."""
    added = unchanged = 0
    async with write_transaction(session):
        ids = [document.document_id for document in documents]
        existing = {
            row.document_id: row.body
            for row in (
                await session.execute(
                    select(_documents.c.document_id, _documents.c.body).where(
                        _documents.c.document_id.in_(ids)
                    )
                )
            ).all()
        }
        for document in documents:
            known = existing.get(document.document_id)
            if known is not None:
                if known != document.body:
                    raise DocumentIdTaken(
                        f"Document {document.document_id!r} is already registered with other text"
                    )
                unchanged += 1
                continue
            existing[document.document_id] = document.body
            session.add(_row(document))
            added += 1
    return Added(added=added, unchanged=unchanged)


async def add_automatic(session: AsyncSession, document: StoredDocument) -> None:
    """Stores a document registered by a client (APQ); one stored meanwhile, by this or
    another process, under the same id wins quietly (its text has the same hash)."""
    try:
        async with write_transaction(session):
            if (await session.execute(_BY_ID, {"key": document.document_id})).first() is None:
                session.add(_row(document))
    except IntegrityError:
        pass  # a concurrent registration of the same hash committed first


async def list_documents(session: AsyncSession) -> list[StoredDocument]:
    rows = await read_rows(session, select(*_COLUMNS).order_by(_documents.c.id))
    return [_stored(row) for row in rows]


async def remove_document(session: AsyncSession, document_id: str) -> bool:
    async with write_transaction(session):
        result = await session.execute(
            delete(_documents).where(_documents.c.document_id == document_id)
        )
    return bool(getattr(result, "rowcount", 0))


def _stored(row: Any) -> StoredDocument:
    return StoredDocument(row[0], row[1], row[2], row[3], row[4])


def _row(document: StoredDocument) -> GraphQLDocument:
    return GraphQLDocument(
        document_id=document.document_id,
        sha256=document.sha256,
        body=document.body,
        operation_name=document.operation_name,
        source=document.source,
        created_at=now_utc(),
    )


__all__ = [
    "AUTOMATIC",
    "MANIFEST",
    "MAX_DOCUMENT_ID_LENGTH",
    "Added",
    "DocumentIdTaken",
    "StoredDocument",
    "add_automatic",
    "add_documents",
    "find_by_id",
    "find_by_sha256",
    "list_documents",
    "remove_document",
    "sha256_of",
]
