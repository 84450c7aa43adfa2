"""ids never reused: AUTOINCREMENT on every SQLite table

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

A SQLite ``INTEGER PRIMARY KEY`` gives the next row max(id) + 1, so the id of a deleted
newest row is handed out again; ``AUTOINCREMENT`` keeps the highest id ever used (in
``sqlite_sequence``) and never goes below it. SQLite cannot alter a primary key, so each
table is rebuilt: created anew under a temporary name, filled with every row (ids kept),
the old one dropped, the new one renamed, and its indexes and triggers created again.
PostgreSQL sequences never hand out an id twice: nothing to do there.
"""

import re
from collections.abc import Callable, Sequence

from alembic import op
from sqlalchemy import text
from sqlalchemy.engine import Connection

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    'users',
    'api_tokens',
    'providers',
    'patients',
    'slot_series',
    'available_slots',
    'bookings',
    'audit_log',
    'idempotency_keys',
)
PLAIN_ID = re.compile(r'^(\s*)id INTEGER NOT NULL,', re.MULTILINE)
AUTO_ID = re.compile(r'^(\s*)id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,', re.MULTILINE)
PK_CONSTRAINT = re.compile(r',\s*CONSTRAINT (\w+) PRIMARY KEY \(id\)')


def _one(pattern: re.Pattern[str], replacement: str, sql: str, table: str) -> str:
    changed, count = pattern.subn(replacement, sql, count=1)
    if count != 1:
        raise RuntimeError(f'unexpected definition of table {table}: {sql}')
    return changed


def _with_autoincrement(table: str, sql: str) -> str | None:
    if AUTO_ID.search(sql):
        return None
    sql = _one(PK_CONSTRAINT, '', sql, table)
    return _one(PLAIN_ID, r'\1id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,', sql, table)


def _without_autoincrement(table: str, sql: str) -> str | None:
    if not AUTO_ID.search(sql):
        return None
    sql = _one(AUTO_ID, r'\1id INTEGER NOT NULL,', sql, table)
    closing = sql.rindex(')')
    return f'{sql[:closing].rstrip()}, \n\tCONSTRAINT pk_{table} PRIMARY KEY (id)\n{sql[closing:]}'


def _rebuild(
    connection: Connection, table: str, redefine: Callable[[str, str], str | None]
) -> None:
    definition = connection.execute(
        text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name"),
        {'name': table},
    ).scalar_one()
    new_definition = redefine(table, definition)
    if new_definition is None:
        return  # already in the wanted form
    dependants = connection.execute(
        text(
            "SELECT sql FROM sqlite_master WHERE tbl_name = :name "
            "AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name"
        ),
        {'name': table},
    ).scalars().all()
    temporary = f'_rebuild_{table}'
    # SQLite quotes the name of a table it renamed.
    body = _one(re.compile(rf'^CREATE TABLE "?{table}"? \('), '', new_definition, table)
    op.execute(f'CREATE TABLE {temporary} (' + body)
    op.execute(f'INSERT INTO {temporary} SELECT * FROM {table}')
    op.execute(f'DROP TABLE {table}')
    op.execute(f'ALTER TABLE {temporary} RENAME TO {table}')
    for statement in dependants:
        op.execute(statement)


def _rebuild_all(redefine: Callable[[str, str], str | None]) -> None:
    connection = op.get_bind()
    if connection.dialect.name != 'sqlite':
        return
    if connection.execute(text('PRAGMA foreign_keys')).scalar_one():
        # Dropping a parent table would fire its children's ON DELETE actions.
        raise RuntimeError('run SQLite table rebuilds with foreign keys off (migrations/env.py)')
    for table in TABLES:
        _rebuild(connection, table, redefine)
    problems = connection.execute(text('PRAGMA foreign_key_check')).all()
    if problems:
        raise RuntimeError(f'foreign key check failed after the rebuild: {problems[:5]}')


def upgrade() -> None:
    _rebuild_all(_with_autoincrement)


def downgrade() -> None:
    _rebuild_all(_without_autoincrement)
