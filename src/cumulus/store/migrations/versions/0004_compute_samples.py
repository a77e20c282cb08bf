"""node counts of compute targets over time

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 22:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('compute_samples',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True,
              nullable=False),
    sa.Column('target', sa.String(length=255), nullable=False),
    sa.Column('time', sa.Float(), nullable=False),
    sa.Column('nodes', sa.Integer(), nullable=False),
    sa.Column('target_nodes', sa.Integer(), nullable=False),
    sa.Column('queued_runs', sa.Integer(), nullable=False),
    sa.Column('running_runs', sa.Integer(), nullable=False),
    sa.Column('node_states', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('compute_samples', schema=None) as batch_op:
        batch_op.create_index('ix_compute_samples_target_time', ['target', 'time'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('compute_samples', schema=None) as batch_op:
        batch_op.drop_index('ix_compute_samples_target_time')
    op.drop_table('compute_samples')
