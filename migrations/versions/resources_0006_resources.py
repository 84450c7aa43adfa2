"""resources (rooms, equipment) a slot may need, and the one each slot keeps

Revision ID: resources_0006
Revises: find_time_0005
Create Date: 2026-12-03

A slot may name a ``resource_kind``; the first hold or booking of it assigns a free
resource of that kind (``available_slots.resource_id``, also kept on the hold and the
booking). On PostgreSQL an exclusion constraint keeps a resource from two overlapping
slots. Resources are never deleted, so the ids carry no foreign key.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "resources_0006"
down_revision: str | None = "find_time_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "resources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resources")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_resources_kind", "resources", ["kind", "id"], unique=False)
    for table in ("available_slots", "slot_series"):
        op.add_column(table, sa.Column("resource_kind", sa.String(length=40), nullable=True))
    for table in ("available_slots", "bookings", "holds"):
        op.add_column(table, sa.Column("resource_id", sa.Integer(), nullable=True))
    op.create_index(
        "ix_available_slots_resource",
        "available_slots",
        ["resource_id", "start_time"],
        unique=False,
        postgresql_where=sa.text("resource_id IS NOT NULL"),
        sqlite_where=sa.text("resource_id IS NOT NULL"),
    )
    if op.get_bind().dialect.name == "postgresql":
        # No resource kept by two overlapping slots, whatever the application does.
        op.execute(
            "ALTER TABLE available_slots ADD CONSTRAINT ex_available_slots_resource_overlap "
            "EXCLUDE USING gist (resource_id WITH =, tstzrange(start_time, end_time, '[)') WITH &&) "
            "WHERE (resource_id IS NOT NULL)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE available_slots DROP CONSTRAINT IF EXISTS ex_available_slots_resource_overlap"
        )
    op.drop_index("ix_available_slots_resource", table_name="available_slots")
    for table in ("holds", "bookings", "available_slots"):
        op.drop_column(table, "resource_id")
    for table in ("slot_series", "available_slots"):
        op.drop_column(table, "resource_kind")
    op.drop_index("ix_resources_kind", table_name="resources")
    op.drop_table("resources")
