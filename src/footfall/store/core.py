"""The store's core: connections, transactions, error translation and retries, on any dialect.

Driver errors are translated here, once: a database that cannot be reached or used becomes
StorageUnavailable (answered 503), and a transaction the database aborted to break a deadlock is
run again from the start, after ``backoff``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from footfall.exceptions import StorageUnavailable
from footfall.store.cursor import Cursor
from footfall.store.dialect import Dialect

T = TypeVar("T")
ATTEMPTS = 5


class RunAgain(Exception):
    """Raised inside a transaction whose reads a concurrent writer invalidated: run it again."""


def backoff(attempt: int) -> float:
    """Seconds to wait before running an aborted transaction again (attempt 0 is the first)."""
    return 0.005 * (attempt + 1)


def _close_quietly(connection: Any) -> None:
    if connection is not None:
        with contextlib.suppress(Exception):  # it is broken already
            connection.close()


class Database:
    """One connection per thread, replaced when broken; short transactions on it."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._local = threading.local()
        self._opened: list[Any] = []
        self._opened_lock = threading.Lock()
        # Bumped whenever a connection is found broken: every thread then reconnects instead of
        # failing once more on its own connection that the same outage cut.
        self.epoch = 0

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is not None and getattr(self._local, "epoch", 0) != self.epoch:
            self._discard_local()
            connection = None
        if connection is None:
            epoch = self.epoch
            connection = self.dialect.connect()
            self._local.connection = connection
            self._local.epoch = epoch
            with self._opened_lock:
                self._opened.append(connection)
        return connection

    def _discard_local(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            with self._opened_lock:
                if connection in self._opened:
                    self._opened.remove(connection)
            _close_quietly(connection)

    @contextmanager
    def guard(self, on_failure: Callable[[], None]) -> Iterator[None]:
        """Translate a driver error that means the database is unusable into StorageUnavailable."""
        try:
            yield
        except Exception as exc:
            if self.dialect.is_unavailable(exc):
                self.epoch += 1
                on_failure()
                raise StorageUnavailable(f"storage unavailable: {exc}".strip()) from exc
            raise

    @contextmanager
    def write(self) -> Iterator[Cursor]:
        """A short write transaction on this thread's connection (not retried)."""
        with self.guard(self._discard_local):
            connection = self._connection()
            connection.execute(self.dialect.begin_sql)
            try:
                yield self.dialect.cursor(connection)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def transact(self, work: Callable[[Cursor], T]) -> T:
        """Run ``work`` in a write transaction, again from the start if the database aborted it."""
        for attempt in range(ATTEMPTS):
            try:
                with self.write() as tx:
                    return work(tx)
            except Exception as exc:
                again = self.dialect.is_retryable(exc) or isinstance(exc, RunAgain)
                if attempt == ATTEMPTS - 1 or not again:
                    raise
                time.sleep(backoff(attempt))
        raise AssertionError("unreachable")

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        """Statements in autocommit: each sees the latest committed data."""
        with self.guard(self._discard_local):
            yield self.dialect.cursor(self._connection())

    @contextmanager
    def snapshot(self) -> Iterator[Cursor]:
        """A read transaction: every statement sees the same data."""
        with self.read() as tx:
            tx.execute(self.dialect.snapshot_sql)
            try:
                yield tx
            finally:
                tx.execute("COMMIT")

    def scrub(self) -> None:
        """After an erasure: push deleted rows out of the files, best effort (for up to 3 s, while
        readers that still need older log frames finish)."""
        for _ in range(60):
            with self.read() as tx:
                if self.dialect.scrub(tx):
                    return
            time.sleep(0.05)

    def close(self) -> None:
        """Close every connection this database opened, on any thread."""
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            _close_quietly(connection)
        self._local = threading.local()


class BatchConnection:
    """The group committer's own connection: begin, write and commit are separate steps, so that
    only the waits (lock, fsync, network) need leave the event loop."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._connection: Any = None

    def _discard(self) -> None:
        _close_quietly(self._connection)
        self._connection = None

    def _open(self) -> Any:
        if self._connection is None:
            self._connection = self._db.dialect.connect()
        return self._connection

    def try_begin(self) -> bool:
        """Begin without waiting for a lock; False when it would have to wait (use begin)."""
        if self._connection is None:
            return False
        with self._db.guard(self._discard):
            return self._db.dialect.try_begin(self._connection)

    def begin(self) -> None:
        with self._db.guard(self._discard):
            self._db.dialect.begin(self._open())

    def cursor(self) -> Cursor:
        return self._db.dialect.cursor(self._connection)

    @contextmanager
    def guarded(self) -> Iterator[None]:
        with self._db.guard(self._discard):
            yield

    def commit(self) -> None:
        with self._db.guard(self._discard):
            self._connection.execute("COMMIT")

    def rollback(self) -> None:
        with self._db.guard(self._discard):
            if self._connection is not None:
                self._connection.execute("ROLLBACK")

    def close(self) -> None:
        self._discard()
