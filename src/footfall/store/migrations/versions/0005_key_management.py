"""key management: when a key was last used, and keys listed by workspace

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("last_used_us", sa.BigInteger(), nullable=True))
    op.create_index("ix_api_keys_workspace", "api_keys", ["workspace_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_api_keys_workspace", table_name="api_keys")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("last_used_us")
