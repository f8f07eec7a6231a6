"""webhooks: subscriptions, their outbox and attempts; due work for the worker runtime

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", Id, sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("event_types", sa.Text, nullable=False),
        sa.Column("streams", sa.Text, nullable=False),
        sa.Column("batch_size", sa.Integer, nullable=False),
        sa.Column("basic_username", sa.Text, nullable=True),
        sa.Column("basic_password", sa.Text, nullable=True),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_reason", sa.Text, nullable=True),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_webhooks_workspace", "webhooks", ["workspace_id", "id"])
    op.create_table(
        "webhook_outbox",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("webhook_id", Id, sa.ForeignKey("webhooks.id"), nullable=False),
        sa.Column("event_id", sa.BigInteger, nullable=True),
        sa.Column("change_id", sa.BigInteger, nullable=True),
        sa.Column("dead", sa.Boolean, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_webhook_outbox_pending", "webhook_outbox", ["webhook_id", "dead", "id"])
    op.create_table(
        "due_work",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("subject", sa.BigInteger, primary_key=True),
        sa.Column("workspace_id", Id, sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("due_us", sa.BigInteger, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("failing_since_us", sa.BigInteger, nullable=True),
        sa.Column("state", sa.Text, nullable=True),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("until_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_due_work_due", "due_work", ["kind", "due_us"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("webhook_id", Id, sa.ForeignKey("webhooks.id"), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("items", sa.Integer, nullable=False),
        sa.Column("next_retry_us", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_webhook_attempts_webhook", "webhook_attempts", ["webhook_id", "id"])


def downgrade() -> None:
    op.drop_table("webhook_attempts")
    op.drop_table("due_work")
    op.drop_table("webhook_outbox")
    op.drop_table("webhooks")
