"""feed: event ids never reused on SQLite, identity changes feed, leases

Revision ID: 0004
Revises: 0003

SQLite reused the id of an erased newest event (a rowid without AUTOINCREMENT), so a feed consumer
positioned past it skipped the next event. The events table is rebuilt with AUTOINCREMENT, every
row and index kept, and its sequence starts past every id handed out that is still known: the
largest event id and the furthest position any consumer saved. PostgreSQL's sequence never goes
back and needs no change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _rebuild_events(autoincrement: bool) -> None:
    with op.batch_alter_table(
        "events", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ):
        pass


def _seed_event_sequence() -> None:
    op.execute("DELETE FROM sqlite_sequence WHERE name = 'events'")
    op.execute(
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'events', max("
        "(SELECT COALESCE(max(id), 0) FROM events), "
        "(SELECT COALESCE(max(last_id), 0) FROM feed_offsets))"
    )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        _rebuild_events(autoincrement=True)
        _seed_event_sequence()
    op.create_table(
        "identity_changes",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("workspace_id", Id, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("contact_id", Id, nullable=False),
        sa.Column("merged_id", Id, nullable=True),
        sa.Column("txid", sa.BigInteger(), nullable=True),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"]),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    if not sqlite:
        op.create_index("ix_identity_changes_feed", "identity_changes", ["txid", "id"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("until_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("identity_changes")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_events(autoincrement=False)
