"""The store's core: connections, transactions, error translation and retries, on any dialect.

Driver errors are translated here, once: a database that cannot be reached or used becomes
StorageUnavailable (answered 503), and a transaction the database aborted to break a deadlock is
run again from the start, after ``backoff``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import QueuePool

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


def _nothing() -> None:
    pass


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _close_quietly(connection: Any) -> None:
    if connection is not None:
        with contextlib.suppress(Exception):  # it is broken already
            connection.close()


class WriteTurns:
    """This process's writers to a one-writer database, served in the order they asked.

    SQLite lets one transaction write at a time, and a writer that finds the lock taken sleeps
    in its busy handler for up to 100 ms at a time: a background worker's writes starved behind
    the group committer's (its p99 was 0.76 s), and polling instead spent the GIL. Here a
    waiter sleeps until the writer before it gives its turn back, which hands it over directly
    (a turn may be taken in one thread and given back in another, as the committer does).
    Other processes are still waited for by the database's own lock.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._queue: deque[threading.Lock] = deque()

    def try_take(self) -> bool:
        """Take the turn if nobody has it or waits for it."""
        with self._mutex:
            if self._held or self._queue:
                return False
            self._held = True
            return True

    def take(self, timeout: float) -> bool:
        """Wait in line for the turn, up to ``timeout`` seconds; whether it was taken."""
        with self._mutex:
            if not self._held and not self._queue:
                self._held = True
                return True
            waiter = threading.Lock()
            waiter.acquire()
            self._queue.append(waiter)
        if waiter.acquire(timeout=timeout):
            return True
        with self._mutex:
            if waiter in self._queue:
                self._queue.remove(waiter)
                return False
        return True  # handed over just as the wait ended

    def give_back(self) -> None:
        with self._mutex:
            if self._queue:
                self._queue.popleft().release()  # still held: now by the next in line
            else:
                self._held = False


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """How many connections one process may hold open, and how long a caller waits for one."""

    size: int = 8
    timeout_seconds: float = 5.0


class Database:
    """A bounded pool of connections (SQLAlchemy's QueuePool); short transactions on them.

    A thread keeps the connection it checked out until its outermost operation ends, so a read
    inside a write on the same thread uses the same connection and never waits for a second one.
    """

    def __init__(self, dialect: Dialect, limits: PoolLimits | None = None) -> None:
        self.dialect = dialect
        self.limits = limits or PoolLimits()
        self._pool = QueuePool(
            dialect.connect,
            pool_size=self.limits.size,
            max_overflow=0,
            timeout=self.limits.timeout_seconds,
            reset_on_return="rollback",
        )
        # Bumped whenever a connection is found broken: the pool's other connections, which the
        # same outage cut, are then replaced on their next checkout instead of failing once more.
        self.epoch = 0
        event.listen(self._pool, "connect", self._stamp)
        self._local = threading.local()
        self.turns = WriteTurns() if dialect.one_writer else None

    def take_turn(self, wait: bool = True) -> bool:
        """This process's turn to write, where the database has one writer at a time (raises
        StorageUnavailable after the dialect's lock wait); always True elsewhere."""
        if self.turns is None:
            return True
        if not wait:
            return self.turns.try_take()
        if _on_event_loop():
            raise RuntimeError(
                "a write that may wait for its turn runs on an event loop's thread: the group "
                "committer holding the turn needs that loop to finish (run it in a thread)"
            )
        if not self.turns.take(self.dialect.lock_wait_seconds):
            raise StorageUnavailable("storage unavailable: the database is locked")
        return True

    def give_turn(self) -> None:
        if self.turns is not None:
            self.turns.give_back()

    def _stamp(self, _connection: Any, record: Any) -> None:
        record.info["epoch"] = self.epoch

    @property
    def open_connections(self) -> int:
        """Connections of the pool open now (idle or in use)."""
        return int(self._pool.checkedin() + self._pool.checkedout())

    @contextmanager
    def _checkout(self) -> Iterator[Any]:
        held = getattr(self._local, "connection", None)
        if held is not None:  # nested on this thread: the same connection
            yield held
            return
        fairy = self._connect()
        self._local.connection = fairy.dbapi_connection
        try:
            yield fairy.dbapi_connection
        except BaseException as exc:
            if self.dialect.is_unavailable(exc):
                fairy.invalidate()
            raise
        finally:
            self._local.connection = None
            fairy.close()  # back to the pool (rolled back first)

    def _connect(self) -> Any:
        fairy = self._connect_once()
        while fairy.info.get("epoch") != self.epoch:  # opened before the last outage
            fairy.invalidate()
            fairy.close()
            fairy = self._connect_once()
        return fairy

    def _connect_once(self) -> Any:
        try:
            return self._pool.connect()
        except PoolTimeout:
            raise StorageUnavailable(
                f"storage unavailable: all {self.limits.size} database connections are busy"
            ) from None
        except Exception as exc:
            if self.dialect.is_unavailable(exc):
                raise StorageUnavailable(f"storage unavailable: {exc}".strip()) from exc
            raise

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
        with self.guard(_nothing), self._checkout() as connection:
            self.take_turn()
            try:
                connection.execute(self.dialect.begin_sql)
                try:
                    yield self.dialect.cursor(connection)
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")
            finally:
                self.give_turn()

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
        with self.guard(_nothing), self._checkout() as connection:
            yield self.dialect.cursor(connection)

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
        """Close the idle connections; those in use now are closed when they are returned."""
        old, self._pool = self._pool, self._pool.recreate()
        old.dispose()


class BatchConnection:
    """The group committer's own connection: begin, write and commit are separate steps, so that
    only the waits (lock, fsync, network) need leave the event loop."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._connection: Any = None
        self._turn = False  # this connection's transaction holds the process's write turn

    def _discard(self) -> None:
        _close_quietly(self._connection)
        self._connection = None

    def _end_turn(self) -> None:
        if self._turn:
            self._turn = False
            self._db.give_turn()

    def _open(self) -> Any:
        if self._connection is None:
            self._connection = self._db.dialect.connect()
        return self._connection

    def try_begin(self) -> bool:
        """Begin without waiting for a lock; False when it would have to wait (use begin)."""
        if self._connection is None or not self._db.take_turn(wait=False):
            return False
        self._turn = True
        try:
            with self._db.guard(self._discard):
                began = self._db.dialect.try_begin(self._connection)
        except BaseException:
            self._end_turn()
            raise
        if not began:
            self._end_turn()
        return began

    def begin(self) -> None:
        self._turn = self._db.take_turn()
        try:
            with self._db.guard(self._discard):
                self._db.dialect.begin(self._open())
        except BaseException:
            self._end_turn()
            raise

    def cursor(self) -> Cursor:
        return self._db.dialect.cursor(self._connection)

    @contextmanager
    def guarded(self) -> Iterator[None]:
        with self._db.guard(self._discard):
            yield

    def commit(self) -> None:
        try:
            with self._db.guard(self._discard):
                self._connection.execute("COMMIT")
        finally:
            self._end_turn()

    def rollback(self) -> None:
        try:
            with self._db.guard(self._discard):
                if self._connection is not None:
                    self._connection.execute("ROLLBACK")
        finally:
            self._end_turn()

    def close(self) -> None:
        self._discard()
        self._end_turn()
