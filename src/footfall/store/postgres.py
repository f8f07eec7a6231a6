"""PostgreSQL backend: synchronous commit on, safe for many Footfall processes on one database."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import psycopg
from psycopg import errors

from footfall.store.base import Store, Write
from footfall.store.cursor import CopyCursor, Cursor
from footfall.store.records import FeedPosition
from footfall.store.writer import IdentityChanges

_RETRIES = 5
# What PostgreSQL aborts to let another transaction through: run the whole transaction again.
# (psycopg files DeadlockDetected under OperationalError, not TransactionRollback.)
ABORTED = (errors.TransactionRollback, errors.DeadlockDetected)


@lru_cache(maxsize=512)
def _percent_placeholders(sql: str) -> str:
    return sql.replace("?", "%s")


class PostgresStore(Store):
    dialect = "postgresql"
    greatest = "GREATEST"
    has_arrays = True
    snapshot_sql = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    skip_locked = " FOR UPDATE SKIP LOCKED"
    cursor_class = CopyCursor

    def __init__(self, url: str, connect_timeout: int = 5) -> None:
        super().__init__(url.replace("postgres://", "postgresql://", 1))
        self.connect_timeout = connect_timeout

    def _connect(self) -> psycopg.Connection[Any]:
        connection = psycopg.connect(
            self.url, autocommit=True, connect_timeout=self.connect_timeout
        )
        connection.execute("SET synchronous_commit = on")
        return connection

    def _translate(self, sql: str) -> str:
        return _percent_placeholders(sql)

    def _is_unavailable(self, exc: BaseException) -> bool:
        if isinstance(exc, ABORTED):
            return False
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)

    def _retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, ABORTED)

    def _current_txid(self, tx: Cursor) -> int:
        return int(tx.one("SELECT pg_current_xact_id()::text::bigint")[0])

    def _feed_window(self, after: FeedPosition) -> tuple[str, list[Any], str]:
        # Only transactions older than the oldest one still running: none of them can commit later.
        where = (
            "(txid > ? OR (txid = ? AND id > ?)) "
            "AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
        )
        return where, [after.txid, after.txid, after.id], "txid, id"

    def commit_batch(self, items: Sequence[Write]) -> IdentityChanges:
        """Retry the whole transaction when PostgreSQL aborts it for a deadlock or serialization."""
        for attempt in range(_RETRIES):
            try:
                return super().commit_batch(items)
            except ABORTED:
                if attempt == _RETRIES - 1:
                    raise
                time.sleep(0.005 * (attempt + 1))
        raise AssertionError("unreachable")
