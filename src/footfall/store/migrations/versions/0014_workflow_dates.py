"""workflows started by a contact date: each run's occasion, the scan's position per workflow

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Nullable, no default: SQLite adds it in place.
    op.add_column("workflow_runs", sa.Column("occasion", sa.String(10), nullable=True))
    # A workspace's contacts changed since a moment are a seek (the date scan follows them).
    op.create_index("ix_contacts_changed", "contacts", ["workspace_id", "updated_us", "id"])
    op.create_table(
        "workflow_date_scans",
        sa.Column("workflow_id", Id, sa.ForeignKey("workflows.id"), primary_key=True),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("until_us", sa.BigInteger, nullable=False),
        sa.Column("pass_until_us", sa.BigInteger, nullable=True),
        sa.Column("pass_after", sa.BigInteger, nullable=False),
        sa.Column("changed_us", sa.BigInteger, nullable=False),
        sa.Column("changed_id", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("workflow_date_scans")
    op.drop_index("ix_contacts_changed", table_name="contacts")
    with op.batch_alter_table("workflow_runs") as batch:  # SQLite rebuilds the table
        batch.drop_column("occasion")
