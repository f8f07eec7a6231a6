"""goal blocks runs passed, open until their conversion event comes

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "workflow_goals",
        sa.Column("run_id", Id, sa.ForeignKey("workflow_runs.id"), primary_key=True),
        sa.Column("block", sa.String(64), primary_key=True),
        sa.Column("contact_id", Id, sa.ForeignKey("contacts.id"), nullable=False),
        sa.Column("passed_us", sa.BigInteger, nullable=False),
        sa.Column("until_us", sa.BigInteger, nullable=False),
        sa.Column("reached_us", sa.BigInteger, nullable=True),
        sa.Column("event_id", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_workflow_goals_contact", "workflow_goals", ["contact_id", "until_us"])


def downgrade() -> None:
    op.drop_index("ix_workflow_goals_contact", table_name="workflow_goals")
    op.drop_table("workflow_goals")
