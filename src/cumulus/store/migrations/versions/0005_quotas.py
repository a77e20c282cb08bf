"""quotas on concurrent runs, nodes and GPUs

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 01:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('quotas',
    sa.Column('scope', sa.String(length=255), nullable=False),
    sa.Column('runs', sa.Integer(), nullable=True),
    sa.Column('nodes', sa.Integer(), nullable=True),
    sa.Column('gpus', sa.Float(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('scope'),
    )


def downgrade() -> None:
    op.drop_table('quotas')
