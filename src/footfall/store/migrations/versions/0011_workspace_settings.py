"""a workspace's time zone and allowed hours, for workflows

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_COLUMNS = (("time_zone", 64), ("allowed_from", 5), ("allowed_to", 5))


def upgrade() -> None:
    for name, length in _COLUMNS:  # nullable, no default: SQLite adds them in place
        op.add_column("workspaces", sa.Column(name, sa.String(length), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:  # SQLite rebuilds the table
        for name, _length in reversed(_COLUMNS):
            batch.drop_column(name)
