"""CalDAV incremental reads: a collection's sync-token and what each of its objects adds

Revision ID: integrations_0007
Revises: lifecycle_0006
Create Date: 2026-12-04

``external_calendar_objects`` keeps, per CalDAV object, a hash of its path and its busy
intervals (nothing else), so a sync-collection REPORT's changes apply without a full read.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'integrations_0007'
down_revision: str | None = 'lifecycle_0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('external_calendars', sa.Column('sync_token', sa.String(length=500), nullable=True))
    op.create_table('external_calendar_objects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('calendar_id', sa.Integer(), nullable=False),
    sa.Column('href_hash', sa.String(length=64), nullable=False),
    sa.Column('intervals', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['calendar_id'], ['external_calendars.id'], name=op.f('fk_external_calendar_objects_calendar_id_external_calendars'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_external_calendar_objects')),
    sa.UniqueConstraint('calendar_id', 'href_hash', name=op.f('uq_external_calendar_objects_calendar_id')),
    sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table('external_calendar_objects')
    op.drop_column('external_calendars', 'sync_token')
