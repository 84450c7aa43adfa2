"""appointment types as a catalog; what a provider is matched on; weekly and monthly caps

Revision ID: find_time_0005
Revises: lifecycle_0005
Create Date: 2026-12-03

The six keys every ``appointment_type`` field accepted until now become the first rows of
``appointment_types``, so legacy clients see no change.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'find_time_0005'
down_revision: str | None = 'lifecycle_0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALL_MODES = ["video", "phone", "in_person"]
# key, name, minutes: as the catalog starts.
LEGACY_TYPES = (
    ("therapy", "Therapy", 50),
    ("consultation", "Consultation", 30),
    ("follow_up", "Follow-up", 30),
    ("assessment", "Assessment", 60),
    ("group_therapy", "Group therapy", 90),
    ("medication_review", "Medication review", 30),
)
LIST_COLUMNS = ('appointment_type_keys', 'licensed_states', 'languages')


def upgrade() -> None:
    types = op.create_table('appointment_types',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('buffer_before_minutes', sa.Integer(), nullable=True),
    sa.Column('buffer_after_minutes', sa.Integer(), nullable=True),
    sa.Column('modes', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('CURRENT_TIMESTAMP'), nullable=False),
    sa.CheckConstraint('duration_minutes >= 1', name=op.f('ck_appointment_types_duration_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_appointment_types')),
    sa.UniqueConstraint('key', name='uq_appointment_types_key'),
    sqlite_autoincrement=True,
    )
    op.bulk_insert(types, [
        {
            'key': key,
            'name': name,
            'duration_minutes': minutes,
            'modes': ALL_MODES,
            'active': True,
        }
        for key, name, minutes in LEGACY_TYPES
    ])
    for name in ('max_bookings_per_week', 'max_bookings_per_month'):
        op.add_column('providers', sa.Column(name, sa.Integer(), nullable=True))
    for name in LIST_COLUMNS:
        op.add_column(
            'providers', sa.Column(name, sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )


def downgrade() -> None:
    for name in (*LIST_COLUMNS, 'max_bookings_per_month', 'max_bookings_per_week'):
        op.drop_column('providers', name)
    op.drop_table('appointment_types')
