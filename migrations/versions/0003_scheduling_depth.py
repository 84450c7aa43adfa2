"""scheduling depth: capacity, holds, time off, booking rules

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

A slot's stored ``available`` flag mixed two causes (an admin's close and a booking); it
becomes ``admin_closed`` (only the admin's) and ``booked_count`` (seats taken), with
``capacity`` seats. On SQLite the new CHECK constraints are left out (SQLite cannot add
one to a table without rebuilding it); the seat compare-and-set runs under its write
lock there.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "status <> 'cancelled'"
RULES = (
    'minimum_notice_minutes',
    'booking_window_days',
    'buffer_before_minutes',
    'buffer_after_minutes',
    'max_bookings_per_day',
)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in RULES:
        op.add_column('providers', sa.Column(name, sa.Integer(), nullable=True))
    op.add_column(
        'slot_series', sa.Column('capacity', sa.Integer(), server_default='1', nullable=False)
    )
    op.add_column(
        'available_slots',
        sa.Column('admin_closed', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    )
    op.add_column(
        'available_slots',
        sa.Column('capacity', sa.Integer(), server_default='1', nullable=False),
    )
    op.add_column(
        'available_slots',
        sa.Column('booked_count', sa.Integer(), server_default='0', nullable=False),
    )
    # A slot closed without an active booking was closed by an admin.
    active = (
        "SELECT count(*) FROM bookings WHERE bookings.available_slot_id = available_slots.id "
        f"AND bookings.{ACTIVE}"
    )
    op.execute(
        f"UPDATE available_slots SET booked_count = ({active}), "
        f"admin_closed = CASE WHEN available THEN false ELSE ({active}) = 0 END"
    )
    op.drop_column('available_slots', 'available')
    if postgres:
        op.create_check_constraint(
            op.f('ck_available_slots_capacity_range'), 'available_slots', 'capacity >= 1 AND capacity <= 100'
        )
        op.create_check_constraint(
            op.f('ck_available_slots_seats_taken'), 'available_slots', 'booked_count >= 0 AND booked_count <= capacity'
        )

    op.drop_index(
        'uq_bookings_active_slot',
        table_name='bookings',
        postgresql_where=sa.text(ACTIVE),
        sqlite_where=sa.text(ACTIVE),
    )
    op.create_index(
        'uq_bookings_active_slot_patient',
        'bookings',
        ['available_slot_id', 'patient_id'],
        unique=True,
        postgresql_where=sa.text(ACTIVE),
        sqlite_where=sa.text(ACTIVE),
    )

    op.create_table('holds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('available_slot_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('held', 'released', 'expired', 'booked', name='hold_status', native_enum=False, create_constraint=True, length=20), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.ForeignKeyConstraint(['available_slot_id'], ['available_slots.id'], name=op.f('fk_holds_available_slot_id_available_slots')),
    sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'], name=op.f('fk_holds_booking_id_bookings')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_holds_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_holds')),
    sqlite_autoincrement=True,
    )
    op.create_index('ix_holds_slot_status', 'holds', ['available_slot_id', 'status', 'expires_at'], unique=False)
    op.create_index('ix_holds_patient', 'holds', ['patient_id', 'id'], unique=False)
    op.create_table('time_offs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('start_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('end_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.CheckConstraint('end_time > start_time', name=op.f('ck_time_offs_end_after_start')),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_time_offs_provider_id_providers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_time_offs')),
    sqlite_autoincrement=True,
    )
    op.create_index('ix_time_offs_provider_start', 'time_offs', ['provider_id', 'start_time', 'end_time'], unique=False)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.drop_index('ix_time_offs_provider_start', table_name='time_offs')
    op.drop_table('time_offs')
    op.drop_index('ix_holds_patient', table_name='holds')
    op.drop_index('ix_holds_slot_status', table_name='holds')
    op.drop_table('holds')
    op.drop_index(
        'uq_bookings_active_slot_patient',
        table_name='bookings',
        postgresql_where=sa.text(ACTIVE),
        sqlite_where=sa.text(ACTIVE),
    )
    op.create_index(
        'uq_bookings_active_slot',
        'bookings',
        ['available_slot_id'],
        unique=True,
        postgresql_where=sa.text(ACTIVE),
        sqlite_where=sa.text(ACTIVE),
    )
    if postgres:
        op.drop_constraint(op.f('ck_available_slots_seats_taken'), 'available_slots', type_='check')
        op.drop_constraint(op.f('ck_available_slots_capacity_range'), 'available_slots', type_='check')
    op.add_column(
        'available_slots',
        sa.Column('available', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    )
    op.execute(
        "UPDATE available_slots SET available = NOT admin_closed AND booked_count = 0"
    )
    op.drop_column('available_slots', 'booked_count')
    op.drop_column('available_slots', 'capacity')
    op.drop_column('available_slots', 'admin_closed')
    op.drop_column('slot_series', 'capacity')
    for name in reversed(RULES):
        op.drop_column('providers', name)
