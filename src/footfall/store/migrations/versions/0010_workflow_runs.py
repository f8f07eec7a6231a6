"""workflow runs and the steps they took

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "workflow_runs",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", Id, sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("workflow_id", Id, sa.ForeignKey("workflows.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("contact_id", Id, sa.ForeignKey("contacts.id"), nullable=False),
        sa.Column("event_id", sa.BigInteger, nullable=False),
        sa.Column("match_keys", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("block", sa.String(64), nullable=True),
        sa.Column("listen_event", sa.String(100), nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("started_us", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
        sa.Column("ended_us", sa.BigInteger, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_workflow_runs_contact", "workflow_runs", ["contact_id", "workflow_id", "started_us"]
    )
    op.create_index("ix_workflow_runs_workflow", "workflow_runs", ["workflow_id", "id"])
    op.create_table(
        "workflow_steps",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("run_id", Id, sa.ForeignKey("workflow_runs.id"), nullable=False),
        sa.Column("block", sa.String(64), nullable=False),
        sa.Column("branch", sa.String(64), nullable=True),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("note", sa.Text, nullable=True),
    )
    op.create_index("ix_workflow_steps_run", "workflow_steps", ["run_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_workflow_steps_run", table_name="workflow_steps")
    op.drop_table("workflow_steps")
    op.drop_index("ix_workflow_runs_workflow", table_name="workflow_runs")
    op.drop_index("ix_workflow_runs_contact", table_name="workflow_runs")
    op.drop_table("workflow_runs")
