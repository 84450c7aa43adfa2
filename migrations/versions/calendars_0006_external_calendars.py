"""external calendars: busy time read from providers' iCalendar and CalDAV calendars

Revision ID: calendars_0006
Revises: resources_0006
Create Date: 2026-12-03

Only intervals are stored (``external_busy``); the address and credentials of a calendar
are one encrypted value (``credentials``).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'calendars_0006'
down_revision: str | None = 'resources_0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('external_calendars',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('display_url', sa.String(length=2000), nullable=False),
    sa.Column('username', sa.String(length=200), nullable=True),
    sa.Column('credentials', sa.Text(), nullable=False),
    sa.Column('sync_interval_seconds', sa.Integer(), nullable=False),
    sa.Column('next_sync_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_synced_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), server_default='0', nullable=False),
    sa.Column('etag', sa.String(length=500), nullable=True),
    sa.Column('last_modified', sa.String(length=100), nullable=True),
    sa.Column('ctag', sa.String(length=500), nullable=True),
    sa.Column('synced_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.CheckConstraint('sync_interval_seconds >= 60', name=op.f('ck_external_calendars_sync_interval_minimum')),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_external_calendars_provider_id_providers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_external_calendars')),
    sqlite_autoincrement=True,
    )
    op.create_index('ix_external_calendars_due', 'external_calendars', ['next_sync_at'], unique=False)
    op.create_index(op.f('ix_external_calendars_provider_id'), 'external_calendars', ['provider_id'], unique=False)
    op.create_table('external_busy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('calendar_id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('start_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end_time', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('end_time > start_time', name=op.f('ck_external_busy_end_after_start')),
    sa.ForeignKeyConstraint(['calendar_id'], ['external_calendars.id'], name=op.f('fk_external_busy_calendar_id_external_calendars'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_external_busy_provider_id_providers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_external_busy')),
    sqlite_autoincrement=True,
    )
    op.create_index(op.f('ix_external_busy_calendar_id'), 'external_busy', ['calendar_id'], unique=False)
    op.create_index('ix_external_busy_provider_start', 'external_busy', ['provider_id', 'start_time', 'end_time'], unique=False)
    op.add_column('availability_events', sa.Column('external_calendar_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('availability_events', 'external_calendar_id')
    op.drop_index('ix_external_busy_provider_start', table_name='external_busy')
    op.drop_index(op.f('ix_external_busy_calendar_id'), table_name='external_busy')
    op.drop_table('external_busy')
    op.drop_index(op.f('ix_external_calendars_provider_id'), table_name='external_calendars')
    op.drop_index('ix_external_calendars_due', table_name='external_calendars')
    op.drop_table('external_calendars')
