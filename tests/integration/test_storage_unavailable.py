"""Storage down: the service answers 503 (never 200), stores nothing of the refused request, recovers."""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from conftest import (
    BACKENDS,
    POSTGRES_ADMIN_URL,
    LiveServer,
    migrated_database,
    start_server,
)
from footfall import access
from footfall.config import Settings
from footfall.store import open_store


def event(key_value: str, email: str) -> dict[str, Any]:
    return {
        "eventTypeKey": "outageProbe",
        "keyValue": key_value,
        "params": [{"name": "email", "value": email}],
    }


def rows(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            return list(conn.execute(sql, args).fetchall())
    with psycopg.connect(url) as conn:
        return list(conn.execute(sql.replace("?", "%s"), args).fetchall())


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A dedicated, migrated database: these tests take it away from the service."""
    with migrated_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def make_live(database: str, tmp_path: Path) -> Iterator[Callable[..., tuple[LiveServer, str]]]:
    """A dedicated server on the dedicated database, and a full key of a new workspace."""
    started: list[LiveServer] = []

    def make(**changes: Any) -> tuple[LiveServer, str]:
        # SQLite: give up on a held lock after 200 ms instead of 5 s.
        settings = replace(
            Settings(data_dir=tmp_path, database_url=database, busy_timeout_ms=200), **changes
        )
        store = open_store(settings)
        try:
            key = access.create_workspace(store.access, f"ws-{uuid.uuid4().hex[:8]}").api_key
        finally:
            store.close()
        server = start_server(settings)
        started.append(server)
        return server, key

    try:
        yield make
    finally:
        for server in started:
            server.stop()


@contextlib.contextmanager
def sqlite_locked(url: str) -> Iterator[None]:
    """Another process holds the write lock (e.g. a long backup or a stuck writer)."""
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
    finally:
        conn.close()


@contextlib.contextmanager
def postgres_down(url: str) -> Iterator[None]:
    """The database refuses connections and every open one is cut (like a restart or failover)."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        try:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def outage(url: str) -> contextlib.AbstractContextManager[None]:
    return sqlite_locked(url) if url.startswith("sqlite:///") else postgres_down(url)


def stored(url: str, key_value: str) -> int:
    return int(rows(url, "SELECT count(*) FROM events WHERE key_value = ?", key_value)[0][0])


def test_storage_down_answers_503_and_stores_nothing(
    make_live: Callable[..., tuple[LiveServer, str]], database: str
) -> None:
    # The key is cached from the first request on, so the outage meets the write path itself.
    server, key = make_live(key_cache_seconds=600)
    postgres = not database.startswith("sqlite:///")
    with server.client(key) as client:
        assert (
            client.post("/api/v2/event", json=event("before", "before@example.com")).status_code
            == 200
        )

        with outage(database):
            refused = client.post("/api/v2/event", json=event("during", "during@example.com"))
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"].startswith("text/plain")
            assert "unavailable" in refused.text
            assert refused.headers.get("retry-after") == "1"
            health = client.get("/health")
            if postgres:
                assert health.status_code == 503
                assert health.json()["status"] == "unavailable"
            else:
                # SQLite in WAL mode: a writer's lock does not stop readers, so the service is
                # still healthy (and reads keep working) while writes are refused.
                assert health.status_code == 200
                assert (
                    client.get("/api/v1/events", params={"keyValue": "before"}).status_code == 200
                )
            # A second refused write, after the first one broke the connection.
            again = client.post("/api/v2/event", json=event("during2", "during2@example.com"))
            assert again.status_code == 503, again.text

        # Recovered: writes and health are fine again at once.
        accepted = client.post("/api/v2/event", json=event("after", "after@example.com"))
        assert accepted.status_code == 200, accepted.text
        assert client.get("/health").status_code == 200
        listed = client.get("/api/v1/events").json()
        assert sorted(e["keyValue"] for e in listed) == ["after", "before"]

    # Nothing of the refused events was stored: no event, no contact, no counter increment.
    assert stored(database, "during") == 0
    assert stored(database, "during2") == 0
    assert stored(database, "before") == 1
    assert stored(database, "after") == 1
    counted = "SELECT SUM(event_count) FROM event_type_counts WHERE key = 'outageProbe'"
    assert rows(database, counted) == [(2,)]
    identifiers = {r[0] for r in rows(database, "SELECT value FROM contact_identifiers")}
    assert identifiers == {"before@example.com", "after@example.com"}


def concurrently(server: LiveServer, key: str, path: str, times: int) -> list[int]:
    """GET ``path`` from 20 clients at once: requests spread over many worker threads."""

    limits = httpx.Limits(max_connections=20)
    with server.client(key, limits=limits) as client, ThreadPoolExecutor(20) as pool:
        return list(pool.map(lambda _: client.get(path).status_code, range(times)))


def test_every_connection_recovers_after_an_outage(
    make_live: Callable[..., tuple[LiveServer, str]], database: str
) -> None:
    """Connections opened before the outage (one per worker thread) must not fail afterwards."""
    # No key cache: every request also reads its key from the store on a worker thread.
    server, key = make_live(key_cache_seconds=0)
    # Warm up many worker threads, each of which opens its own store connection.
    assert set(concurrently(server, key, "/api/v1/events?limit=1", 200)) == {200}
    with outage(database), server.client(key) as client:
        assert client.post("/api/v2/event", json=event("x", "x@example.com")).status_code == 503
    statuses = concurrently(server, key, "/api/v1/events?limit=1", 200)
    statuses += concurrently(server, key, "/health", 200)
    assert set(statuses) == {200}, (
        f"{len(statuses) - statuses.count(200)} of {len(statuses)} failed"
    )
    with server.client(key) as client:
        posted = client.post("/api/v2/event", json=event("y", "y@example.com"))
        assert posted.status_code == 200, posted.text
    assert stored(database, "x") == 0
    assert stored(database, "y") == 1


def test_storage_down_at_startup_is_503_not_a_crash(tmp_path: Path, database: str) -> None:
    """A service started while its database is unavailable answers 503, then recovers by itself."""
    settings = Settings(data_dir=tmp_path, database_url=database, busy_timeout_ms=200)
    store = open_store(settings)
    try:
        key = access.create_workspace(store.access, f"ws-{uuid.uuid4().hex[:8]}").api_key
    finally:
        store.close()
    server: LiveServer | None = None
    try:
        with outage(database):
            server = start_server(settings)
            with server.client(key) as client:
                response = client.post("/api/v2/event", json=event("z", "z@example.com"))
                assert response.status_code == 503, response.text
                if not database.startswith("sqlite:///"):
                    assert client.get("/health").status_code == 503
        with server.client(key) as client:
            assert client.get("/health").status_code == 200
            posted = client.post("/api/v2/event", json=event("z2", "z@example.com"))
            assert posted.status_code == 200, posted.text
    finally:
        if server is not None:
            server.stop()
    assert stored(database, "z") == 0
    assert stored(database, "z2") == 1


def failures(url: str, route: str) -> int:
    return int(rows(url, "SELECT count(*) FROM failed_events WHERE route = ?", route)[0][0])


def test_a_refusal_the_failed_event_log_cannot_keep_is_a_503(
    make_live: Callable[..., tuple[LiveServer, str]], database: str
) -> None:
    """An invalid event during an outage would be lost (a 4xx is never retried): 503 instead,
    and once storage is back the same event gets its 400 and its log entry."""
    server, key = make_live(key_cache_seconds=600)
    invalid = {"eventTypeKey": "pageViewed", "params": [{"name": "x", "value": "1"}]}
    too_large = {"eventTypeKey": "big", "params": [{"name": "x", "value": "y" * 30_000}]}
    past = {"events": [{"eventTypeKey": "pageViewed", "occurred": "2024-01-01", "params": []}]}
    with server.client(key) as client:
        assert client.post("/api/v2/event", json=event("warm", "w@example.com")).status_code == 200
        with outage(database):
            for path, body in [
                ("/api/v2/event", invalid),
                ("/api/v2/event", too_large),
                ("/api/v2/past_events", past),
            ]:
                answer = client.post(path, json=body)
                assert answer.status_code == 503, (path, answer.status_code, answer.text)
                assert answer.headers.get("retry-after") == "1"
        assert failures(database, "v2/event") == 0
        assert failures(database, "v2/past_events") == 0
        assert client.post("/api/v2/event", json=invalid).status_code == 400
        assert client.post("/api/v2/event", json=too_large).status_code == 413
        answer = client.post("/api/v2/past_events", json=past)
        assert answer.json()["results"][0]["status"] == "INVALID_EVENT", answer.text
    assert failures(database, "v2/event") == 2
    assert failures(database, "v2/past_events") == 1


def test_a_503_says_storage_unavailable_and_nothing_about_the_database(
    make_live: Callable[..., tuple[LiveServer, str]], database: str
) -> None:
    """Neither the client nor the unauthenticated /health hears the database's host, port,
    name or file: the driver's text goes to the logs only."""
    server, key = make_live(key_cache_seconds=600)
    secrets = ["127.0.0.1", "5432", database.rsplit("/", 1)[1], "FATAL", "locked"]
    with server.client(key) as client:
        assert client.post("/api/v2/event", json=event("w", "w@example.com")).status_code == 200
        with outage(database):
            answers = [
                client.post("/api/v2/event", json=event("during", "d@example.com")),
                client.post("/api/v1/contact", json={"externalCustomerId": "during"}),
                client.get("/health"),
            ]
    unavailable = [a for a in answers if a.status_code == 503]
    assert len(unavailable) >= 2, [(a.status_code, a.text) for a in answers]
    for answer in unavailable:
        assert "storage unavailable" in answer.text
        assert [s for s in secrets if s in answer.text] == [], answer.text
