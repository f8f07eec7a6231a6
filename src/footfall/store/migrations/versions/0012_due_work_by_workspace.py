"""due work by workspace: fair claims

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The earliest due row of each workspace, and a workspace's due rows in order, are seeks.
    op.create_index("ix_due_work_workspace", "due_work", ["kind", "workspace_id", "due_us"])


def downgrade() -> None:
    op.drop_index("ix_due_work_workspace", table_name="due_work")
