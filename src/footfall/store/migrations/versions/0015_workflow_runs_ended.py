"""ended workflow runs by when they ended: retention

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_workflow_runs_ended", "workflow_runs", ["ended_us"])


def downgrade() -> None:
    op.drop_index("ix_workflow_runs_ended", table_name="workflow_runs")
