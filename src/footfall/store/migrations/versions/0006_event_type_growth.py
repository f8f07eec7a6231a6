"""event type growth: new types and parameter names each workspace added today

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "event_type_growth",
        sa.Column("workspace_id", Id, nullable=False),
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("new_types", sa.BigInteger(), nullable=False),
        sa.Column("new_names", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("workspace_id"),
    )


def downgrade() -> None:
    op.drop_table("event_type_growth")
