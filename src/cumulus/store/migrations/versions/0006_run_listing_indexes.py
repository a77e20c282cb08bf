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


# newest first, in the order `runs list` asks for (created_at, then id): all runs, the
# top-level runs (parent_id IS NULL) or one parent's children, and the same per experiment
INDEXES = {
    'ix_runs_created_at': ['created_at', 'id'],
    'ix_runs_parent_created': ['parent_id', 'created_at', 'id'],
    'ix_runs_experiment_parent_created': ['experiment_id', 'parent_id', 'created_at', 'id'],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, 'runs', columns)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name='runs')
