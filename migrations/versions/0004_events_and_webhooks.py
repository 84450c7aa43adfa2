"""events, webhooks and calendar feed keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Any constant: the advisory lock that puts event ids in commit order (models/platform/events.py).
EVENT_ORDER_LOCK = 4_242_013


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table('availability_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('slot_id', sa.Integer(), nullable=True),
    sa.Column('booking_id', sa.Integer(), nullable=True),
    sa.Column('series_id', sa.Integer(), nullable=True),
    sa.Column('hold_id', sa.Integer(), nullable=True),
    sa.Column('time_off_id', sa.Integer(), nullable=True),
    sa.Column('start_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_availability_events')),
    sqlite_autoincrement=True,
    )
    op.create_index('ix_availability_events_provider', 'availability_events', ['provider_id', 'id'], unique=False)
    op.create_index(op.f('ix_availability_events_occurred_at'), 'availability_events', ['occurred_at'], unique=False)
    if postgres:
        # Ids in commit order: each inserting statement first waits for the previous event
        # writer's COMMIT (the lock is held until this transaction ends), then draws its ids.
        op.execute(
            "CREATE FUNCTION availability_events_order() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_advisory_xact_lock({EVENT_ORDER_LOCK}); RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER availability_events_order BEFORE INSERT ON availability_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION availability_events_order()"
        )
        # Listeners in every server process hear of new events at COMMIT.
        op.execute(
            "CREATE FUNCTION availability_events_notify() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_notify('availability_events', ''); RETURN NULL; END $$"
        )
        op.execute(
            "CREATE TRIGGER availability_events_notify AFTER INSERT ON availability_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION availability_events_notify()"
        )
    op.create_table('webhooks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('events', sa.JSON(), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('secret', sa.String(length=100), nullable=False),
    sa.Column('last_event_id', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhooks')),
    sqlite_autoincrement=True,
    )
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('webhook_id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('last_response_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['availability_events.id'], name=op.f('fk_webhook_deliveries_event_id_availability_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['webhook_id'], ['webhooks.id'], name=op.f('fk_webhook_deliveries_webhook_id_webhooks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries')),
    sa.UniqueConstraint('webhook_id', 'event_id', name='uq_webhook_deliveries_webhook_event'),
    sqlite_autoincrement=True,
    )
    op.create_index('ix_webhook_deliveries_due', 'webhook_deliveries', ['status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_webhook_deliveries_event_id'), 'webhook_deliveries', ['event_id'], unique=False)
    op.create_table('calendar_feed_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_calendar_feed_keys_provider_id_providers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calendar_feed_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_calendar_feed_keys_key_hash')),
    sqlite_autoincrement=True,
    )
    op.create_index(op.f('ix_calendar_feed_keys_provider_id'), 'calendar_feed_keys', ['provider_id'], unique=False)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.drop_table('calendar_feed_keys')
    op.drop_table('webhook_deliveries')
    op.drop_table('webhooks')
    op.drop_table('availability_events')
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS availability_events_order()")
        op.execute("DROP FUNCTION IF EXISTS availability_events_notify()")
