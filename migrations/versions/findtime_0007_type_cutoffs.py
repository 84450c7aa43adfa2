"""an appointment type may override the providers' cancellation and reschedule cutoffs

Revision ID: findtime_0007
Revises: integrations_0007
Create Date: 2026-12-04

Null keeps the provider's cutoff, so existing types change nothing.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'findtime_0007'
down_revision: str | None = 'integrations_0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ('cancellation_cutoff_minutes', 'reschedule_cutoff_minutes')


def upgrade() -> None:
    for column in COLUMNS:
        op.add_column('appointment_types', sa.Column(column, sa.Integer(), nullable=True))


def downgrade() -> None:
    for column in reversed(COLUMNS):
        op.drop_column('appointment_types', column)
