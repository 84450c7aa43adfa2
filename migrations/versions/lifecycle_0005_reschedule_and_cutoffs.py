"""reschedule and cutoffs

Revision ID: lifecycle_0005
Revises: gql_persisted_0005
Create Date: 2026-12-03
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'lifecycle_0005'
down_revision: str | None = 'gql_persisted_0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('providers', sa.Column('cancellation_cutoff_minutes', sa.Integer(), nullable=True))
    op.add_column('providers', sa.Column('reschedule_cutoff_minutes', sa.Integer(), nullable=True))
    op.add_column('bookings', sa.Column('rescheduled_from_slot_id', sa.Integer(), nullable=True))
    op.add_column(
        'bookings',
        sa.Column('reschedule_count', sa.Integer(), nullable=False, server_default='0'),
    )
    op.add_column('availability_events', sa.Column('previous_slot_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column('availability_events', 'previous_slot_id')
    op.drop_column('bookings', 'reschedule_count')
    op.drop_column('bookings', 'rescheduled_from_slot_id')
    op.drop_column('providers', 'reschedule_cutoff_minutes')
    op.drop_column('providers', 'cancellation_cutoff_minutes')
