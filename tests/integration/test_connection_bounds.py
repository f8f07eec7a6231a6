"""Database connections stay bounded: bursts of requests, unauthenticated ones included, and idle
gaps (after which the server's worker threads are retired and new ones start) never open more
than the configured pool, counted from outside the pool (PostgreSQL's own sessions, the
process's open files)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from conftest import (
    NO_TLS_HERE,
    POSTGRES_ADMIN_URL,
    basic,
    migrated_database,
    start_server,
)
from footfall import access
from footfall.config import Settings
from footfall.exceptions import StorageUnavailable
from footfall.store import open_store

POOL = 3
# The pool, plus the group committer's own connection and, on SQLite, one for the migration
# check at start-up that is closed at once.
ALLOWED = POOL + 1


@pytest.fixture
def own_database(backend: str, tmp_path: Path) -> Iterator[tuple[str, Callable[[], int]]]:
    """A database of this test alone, and a count of the connections open on it right now."""
    with migrated_database(backend, tmp_path) as url:
        name = url.rsplit("/", 1)[1]
        if backend == "sqlite":
            path = str(tmp_path / name)

            def count_files() -> int:
                fds = Path("/proc/self/fd")
                opened = 0
                for fd in os.listdir(fds):
                    try:
                        opened += os.readlink(fds / fd) == path
                    except OSError:
                        continue  # closed while we looked
                return opened

            yield url, count_files
            return

        def count_sessions() -> int:
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)
                ).fetchone()
                assert row is not None
                return int(row[0])

        yield url, count_sessions


def _burst(url: str, key: str, requests: int = 240) -> list[int]:
    """Many requests at once: a third with real keys, the rest with unknown credentials."""

    def one(i: int) -> int:
        headers = basic(key) if i % 3 == 0 else basic(f"ff_unknown_{uuid.uuid4().hex}")
        with httpx.Client(base_url=url, timeout=30, verify=NO_TLS_HERE) as client:
            return client.get("/api/v1/events", headers=headers).status_code

    with ThreadPoolExecutor(max_workers=64) as pool:
        return list(pool.map(one, range(requests)))


def test_connections_stay_bounded_under_bursts_and_idle_gaps(
    own_database: tuple[str, Callable[[], int]], tmp_path: Path
) -> None:
    url, count = own_database
    settings = Settings(data_dir=tmp_path, database_url=url, db_pool_size=POOL)
    setup = open_store(settings)
    key = access.create_workspace(setup.access, f"bounds-{uuid.uuid4().hex[:8]}").api_key
    setup.close()
    live = start_server(settings)
    try:
        peak = 0
        stop = threading.Event()

        def watch() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, count())
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            first = _burst(live.url, key)
            time.sleep(11)  # the server's idle worker threads retire (anyio: after 10 s)
            second = _burst(live.url, key)
        finally:
            stop.set()
            watcher.join()
        assert set(first) | set(second) == {200, 401}
        assert peak <= ALLOWED, f"{peak} connections open at once, the pool allows {POOL}"
        assert count() <= ALLOWED
    finally:
        live.stop()


def test_a_caller_waits_for_a_free_connection_then_gets_storage_unavailable(
    own_database: tuple[str, Callable[[], int]], tmp_path: Path
) -> None:
    url, _ = own_database
    store = open_store(
        Settings(data_dir=tmp_path, database_url=url, db_pool_size=1, db_pool_timeout_seconds=0.3)
    )
    try:
        holding = threading.Event()
        release = threading.Event()

        def hold() -> None:
            with store.read() as tx:
                tx.one("SELECT 1")
                holding.set()
                release.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        assert holding.wait(10)
        started = time.monotonic()
        with pytest.raises(StorageUnavailable, match="connections are busy"), store.read() as tx:
            tx.one("SELECT 1")
        assert time.monotonic() - started >= 0.25
        release.set()
        holder.join()
        with store.read() as tx:  # free again
            assert tx.one("SELECT 1")[0] == 1
    finally:
        store.close()


def test_a_read_inside_a_write_uses_the_same_connection(
    own_database: tuple[str, Callable[[], int]], tmp_path: Path
) -> None:
    """With a pool of one, nesting must not wait for a second connection."""
    url, _ = own_database
    store = open_store(
        Settings(data_dir=tmp_path, database_url=url, db_pool_size=1, db_pool_timeout_seconds=1)
    )
    try:

        def work(tx: object) -> int:
            with store.read() as inner:
                return int(inner.one("SELECT count(*) FROM workspaces")[0])

        assert store.transact(work) == 0
    finally:
        store.close()
