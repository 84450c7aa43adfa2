"""registered GraphQL documents (persisted and trusted documents, APQ)

Revision ID: gql_persisted_0005
Revises: 0004
Create Date: 2026-12-03
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'gql_persisted_0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('graphql_documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.String(length=200), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('operation_name', sa.String(length=200), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_graphql_documents')),
    sa.UniqueConstraint('document_id', name=op.f('uq_graphql_documents_document_id')),
    sqlite_autoincrement=True,
    )
    op.create_index(op.f('ix_graphql_documents_sha256'), 'graphql_documents', ['sha256'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_graphql_documents_sha256'), table_name='graphql_documents')
    op.drop_table('graphql_documents')
