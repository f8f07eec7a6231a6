"""SQLite: WAL with synchronous=FULL, so a commit survives an OS crash, not only a process crash."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from footfall.exceptions import StorageUnavailable
from footfall.store.cursor import Cursor
from footfall.store.dialect import Dialect


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class SqliteDialect(Dialect):
    name = "sqlite"
    begin_sql = "BEGIN IMMEDIATE"
    lower = "footfall_lower"
    serial_ids = True  # AUTOINCREMENT under one writer at a time
    contact_index_hint = " INDEXED BY ix_events_contact"
    # Batches are written on the event loop thread and only BEGIN/COMMIT (lock wait, fsync) run
    # in a thread: the GIL is then never fought over, which is what makes group commit pay off.
    write_on_loop = True
    one_writer = True

    def __init__(self, url: str, busy_timeout_ms: int = 5000) -> None:
        self.url = url
        self.path = Path(url.removeprefix("sqlite:///"))
        self.busy_timeout_ms = busy_timeout_ms
        self.lock_wait_seconds = busy_timeout_ms / 1000

    def connect(self) -> sqlite3.Connection:
        # No mkdir: a missing directory is an outage, not the place for a new empty database
        # (``footfall migrate`` creates the data directory).
        connection = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=self.busy_timeout_ms / 1000,
        )
        connection.create_function("footfall_lower", 1, _lower, deterministic=True)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        # Erased data is overwritten, not left in free pages of the file.
        connection.execute("PRAGMA secure_delete=ON")
        connection.execute("PRAGMA foreign_keys=ON")
        connection.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        return connection

    def translate(self, sql: str) -> str:
        return sql

    def is_unavailable(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) and not isinstance(
            exc, sqlite3.IntegrityError
        )

    def try_begin(self, connection: Any) -> bool:
        connection.execute("PRAGMA busy_timeout=0")
        try:
            connection.execute(self.begin_sql)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
            return False  # another process holds the write lock
        finally:
            connection.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        return True

    def begin(self, connection: Any) -> None:
        """Wait for the write lock by polling every 0.2 ms, up to the busy timeout.

        SQLite's own busy handler sleeps up to 100 ms at a time, which starves a process that
        shares the database with another one committing a batch every few milliseconds.
        """
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        while not self.try_begin(connection):
            if time.monotonic() >= deadline:
                raise StorageUnavailable("storage unavailable: the database is locked")
            time.sleep(0.0002)

    def scrub(self, tx: Cursor) -> bool:
        """Copy the log into the database and truncate it, so erased rows leave the -wal file
        (a checkpoint cannot complete while a reader needs older frames)."""
        return not tx.one("PRAGMA wal_checkpoint(TRUNCATE)")[0]
