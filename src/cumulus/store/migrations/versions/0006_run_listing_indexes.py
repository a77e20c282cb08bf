"""indexes for listing runs newest first (stores with 100,000s of runs)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 22:00:00
"""
from __future__ import annotations

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_runs_created_at', 'runs', ['created_at'])
    op.create_index('ix_runs_experiment_created', 'runs', ['experiment_id', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_runs_experiment_created', table_name='runs')
    op.drop_index('ix_runs_created_at', table_name='runs')
