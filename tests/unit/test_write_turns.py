"""This process's writers to a one-writer database take turns in the order they asked."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from footfall.exceptions import StorageUnavailable
from footfall.store.core import BatchConnection, Database, WriteTurns
from footfall.store.sqlite import SqliteDialect


def wait_until_queued(turns: WriteTurns, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(turns._queue) < count:
        assert time.monotonic() < deadline, "the waiters never queued"
        time.sleep(0.001)


def test_waiters_get_the_turn_in_the_order_they_asked() -> None:
    turns = WriteTurns()
    assert turns.take(1.0)
    order: list[int] = []

    def writer(n: int) -> None:
        assert turns.take(5.0)
        order.append(n)
        turns.give_back()

    with ThreadPoolExecutor(5) as pool:
        futures = []
        for n in range(5):
            futures.append(pool.submit(writer, n))
            wait_until_queued(turns, n + 1)  # each asks after the one before it
        turns.give_back()
        for future in futures:
            future.result(timeout=5)
    assert order == [0, 1, 2, 3, 4]
    assert turns.try_take()  # free again once everyone is done


def test_nobody_jumps_the_line() -> None:
    """try_take fails while the turn is held or anyone waits, even at the moment it is given
    back: the turn goes to the one waiting, directly."""
    turns = WriteTurns()
    assert turns.try_take()
    assert not turns.try_take()
    got = threading.Event()

    def waiter() -> None:
        assert turns.take(5.0)
        got.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    wait_until_queued(turns, 1)
    turns.give_back()
    assert not turns.try_take()  # handed over: held by the waiter now
    thread.join(5)
    assert got.is_set()
    turns.give_back()
    assert turns.try_take()


def test_a_wait_that_times_out_leaves_the_line() -> None:
    turns = WriteTurns()
    assert turns.take(1.0)
    started = time.monotonic()
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(turns.take, 0.05).result(timeout=5) is False
    assert time.monotonic() - started >= 0.05
    assert list(turns._queue) == []
    turns.give_back()
    assert turns.try_take()


def test_a_turn_taken_in_one_thread_is_given_back_in_another() -> None:
    """As the group committer does: BEGIN in its executor, COMMIT in the same or another."""
    turns = WriteTurns()
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(turns.take, 1.0).result()
    turns.give_back()
    assert turns.try_take()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    dialect = SqliteDialect(f"sqlite:///{tmp_path / 'turns.db'}", busy_timeout_ms=300)
    db = Database(dialect)
    with db.write() as tx:
        tx.execute("CREATE TABLE t (n INTEGER)")
    yield db
    db.close()


def test_a_transaction_waits_for_the_batch_in_progress_then_writes(database: Database) -> None:
    batch = BatchConnection(database)
    batch.begin()
    batch.cursor().execute("INSERT INTO t VALUES (1)")
    with ThreadPoolExecutor(1) as pool:

        def write() -> None:
            with database.write() as tx:
                tx.execute("INSERT INTO t VALUES (2)")

        pending = pool.submit(write)
        time.sleep(0.05)
        assert not pending.done()  # waiting in line, not failing on SQLite's lock
        batch.commit()
        pending.result(timeout=5)
    with database.read() as tx:
        assert [r[0] for r in tx.all("SELECT n FROM t ORDER BY rowid")] == [1, 2]
    assert batch.try_begin()  # the turn is free again
    batch.rollback()
    batch.close()


def test_a_turn_not_given_back_in_time_is_storage_unavailable(database: Database) -> None:
    batch = BatchConnection(database)
    batch.begin()
    with pytest.raises(StorageUnavailable, match="locked"), database.write() as tx:
        tx.execute("INSERT INTO t VALUES (3)")
    batch.rollback()
    with database.write() as tx:  # and the line is clean afterwards
        tx.execute("INSERT INTO t VALUES (4)")
    with database.read() as tx:
        assert [r[0] for r in tx.all("SELECT n FROM t")] == [4]
    batch.close()


def test_a_write_that_may_wait_refuses_to_run_on_an_event_loop(database: Database) -> None:
    """It would stall the loop, and deadlock with a group committer whose batch needs that loop
    to finish; the committer's own try on the loop never waits, and is allowed."""
    batch = BatchConnection(database)
    batch.begin()  # opens its connection (the committer begins in its executor)
    batch.rollback()

    async def on_the_loop() -> None:
        with pytest.raises(RuntimeError, match="event loop"), database.write() as tx:
            tx.execute("INSERT INTO t VALUES (5)")
        assert batch.try_begin()
        batch.cursor().execute("INSERT INTO t VALUES (6)")
        batch.commit()

    asyncio.run(on_the_loop())
    batch.close()
    with database.read() as tx:
        assert [r[0] for r in tx.all("SELECT n FROM t")] == [6]
