"""event type registry: settings, observed params, hourly outcomes, failed-event log

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "event_type_hourly",
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("hour_us", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "key", "hour_us", "outcome", "shard"),
    )
    op.create_table(
        "failed_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("event_type_key", sa.String(length=100), nullable=False),
        sa.Column("key_value", sa.Text(), nullable=True),
        sa.Column("route", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("field", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("raw_bytes", sa.BigInteger(), nullable=False),
        sa.Column("received_us", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("replayed_us", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("failed_events", schema=None) as batch_op:
        batch_op.create_index("ix_failed_events_received", ["received_us"], unique=False)
        batch_op.create_index(
            "ix_failed_events_type", ["workspace_id", "event_type_key", "id"], unique=False
        )
        batch_op.create_index("ix_failed_events_workspace", ["workspace_id", "id"], unique=False)

    op.create_table(
        "event_type_params",
        sa.Column(
            "workspace_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("json_type", sa.String(length=8), nullable=False),
        sa.Column("first_seen_us", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "key"],
            ["event_types.workspace_id", "event_types.key"],
        ),
        sa.PrimaryKeyConstraint("workspace_id", "key", "name", "json_type"),
    )
    with op.batch_alter_table("event_types", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "settings",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("updated_us", sa.BigInteger(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("event_types", schema=None) as batch_op:
        batch_op.drop_column("updated_us")
        batch_op.drop_column("settings")

    op.drop_table("event_type_params")
    with op.batch_alter_table("failed_events", schema=None) as batch_op:
        batch_op.drop_index("ix_failed_events_workspace")
        batch_op.drop_index("ix_failed_events_type")
        batch_op.drop_index("ix_failed_events_received")

    op.drop_table("failed_events")
    op.drop_table("event_type_hourly")
