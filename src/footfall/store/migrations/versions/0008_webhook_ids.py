"""webhook ids never reused on SQLite

Revision ID: 0008
Revises: 0007

SQLite handed the id of a deleted newest subscription (a rowid without AUTOINCREMENT) to the next
one, whatever its workspace: a delivery still in flight for the deleted one then settled on the
new one (its attempt in the other workspace's delivery log, its lease taken over). The webhooks
table is rebuilt with AUTOINCREMENT, every row and index kept, and its sequence starts past every
id still known (subscriptions and their due deliveries). PostgreSQL's sequence never goes back.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _rebuild_webhooks(autoincrement: bool) -> None:
    with op.batch_alter_table(
        "webhooks", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
    ):
        pass


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _rebuild_webhooks(autoincrement=True)
    op.execute("DELETE FROM sqlite_sequence WHERE name = 'webhooks'")
    op.execute(
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'webhooks', max("
        "(SELECT COALESCE(max(id), 0) FROM webhooks), "
        "(SELECT COALESCE(max(subject), 0) FROM due_work WHERE kind = 'webhook'))"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_webhooks(autoincrement=False)
