"""booking requests (pending, declined, expired) and waitlists

Revision ID: lifecycle_0006
Revises: calendars_0006
Create Date: 2026-12-03

A pending booking keeps no place in the unique index of active bookings (it is checked
under the slot's lock instead): it may expire at any moment without a write.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'lifecycle_0006'
down_revision: str | None = 'calendars_0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = ('confirmed', 'cancelled', 'no_show', 'completed')
NEW_STATUSES = (*OLD_STATUSES, 'pending', 'declined', 'expired')
OLD_ACTIVE = "status <> 'cancelled'"
NEW_ACTIVE = "status NOT IN ('cancelled', 'pending', 'declined', 'expired')"


def _status(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(
        *values, name='booking_status', native_enum=False, create_constraint=True, length=20
    )


def _statuses(values: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint(op.f('ck_bookings_booking_status'), 'bookings', type_='check')
        listed = ", ".join(f"'{value}'" for value in values)
        op.create_check_constraint(
            op.f('ck_bookings_booking_status'), 'bookings', f"status IN ({listed})"
        )
        return
    old = NEW_STATUSES if values == OLD_STATUSES else OLD_STATUSES
    with op.batch_alter_table(
        'bookings', recreate='always', table_kwargs={'sqlite_autoincrement': True}
    ) as batch:
        batch.alter_column(
            'status', existing_type=_status(old), type_=_status(values), existing_nullable=False
        )


def _active_index(where: str) -> None:
    op.create_index(
        'uq_bookings_active_slot_patient',
        'bookings',
        ['available_slot_id', 'patient_id'],
        unique=True,
        postgresql_where=sa.text(where),
        sqlite_where=sa.text(where),
    )


def upgrade() -> None:
    op.drop_index('uq_bookings_active_slot_patient', table_name='bookings')
    op.add_column(
        'bookings', sa.Column('pending_expires_at', sa.DateTime(timezone=True), nullable=True)
    )
    _statuses(NEW_STATUSES)
    _active_index(NEW_ACTIVE)
    op.add_column(
        'availability_events', sa.Column('waitlist_entry_id', sa.Integer(), nullable=True)
    )
    op.create_table(
        'waitlist_entries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('patient_id', sa.Integer(), nullable=False),
        sa.Column('provider_id', sa.Integer(), nullable=True),
        sa.Column('appointment_type', sa.String(length=40), nullable=True),
        sa.Column('start_date', sa.Date(), nullable=False),
        sa.Column('end_date', sa.Date(), nullable=False),
        sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
        sa.Column('window_end', sa.DateTime(timezone=True), nullable=False),
        sa.Column('offer_seconds', sa.Integer(), nullable=False),
        sa.Column(
            'status',
            sa.Enum(
                'waiting', 'offered', 'fulfilled', 'lapsed', 'cancelled',
                name='waitlist_status', native_enum=False, create_constraint=True, length=20,
            ),
            nullable=False,
        ),
        sa.Column('hold_id', sa.Integer(), nullable=True),
        sa.Column('offered_slot_id', sa.Integer(), nullable=True),
        sa.Column('offer_count', sa.Integer(), server_default='0', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
        sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_waitlist_entries_patient_id_patients')),
        sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_waitlist_entries_provider_id_providers')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_waitlist_entries')),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_waitlist_entries_status', 'waitlist_entries', ['status', 'id'], unique=False)
    op.create_index('ix_waitlist_entries_patient', 'waitlist_entries', ['patient_id', 'status'], unique=False)
    op.create_index('ix_waitlist_entries_hold', 'waitlist_entries', ['hold_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_waitlist_entries_hold', table_name='waitlist_entries')
    op.drop_index('ix_waitlist_entries_patient', table_name='waitlist_entries')
    op.drop_index('ix_waitlist_entries_status', table_name='waitlist_entries')
    op.drop_table('waitlist_entries')
    op.drop_column('availability_events', 'waitlist_entry_id')
    op.drop_index('uq_bookings_active_slot_patient', table_name='bookings')
    op.execute("UPDATE bookings SET status = 'cancelled' WHERE status IN ('pending', 'declined', 'expired')")
    _statuses(OLD_STATUSES)
    _active_index(OLD_ACTIVE)
    op.drop_column('bookings', 'pending_expires_at')
