"""A 200 means durably stored: kill -9 under load loses no acknowledged event and duplicates none."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from conftest import (
    BACKENDS,
    NO_TLS_HERE,
    basic,
    create_postgres_database,
    free_port,
    migrated_database,
)
from footfall.config import Settings
from footfall.store import open_store

FOOTFALL = Path(sys.executable).parent / "footfall"
SENDERS = 8
LOAD_SECONDS = 1.5


@dataclass
class Database:
    backend: str
    url: str
    env: dict[str, str]

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        if self.backend == "sqlite":
            with sqlite3.connect(self.url.removeprefix("sqlite:///")) as conn:
                return list(conn.execute(sql, args).fetchall())
        with psycopg.connect(self.url) as conn:
            return list(conn.execute(sql.replace("?", "%s"), args).fetchall())


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")}
    env["FOOTFALL_DATA_DIR"] = str(tmp_path / "data")
    if request.param == "sqlite":
        yield Database("sqlite", f"sqlite:///{tmp_path / 'data' / 'footfall.db'}", env)
        return
    url, drop = create_postgres_database()
    try:
        yield Database("postgres", url, env | {"FOOTFALL_DATABASE_URL": url})
    finally:
        drop()


class Servers:
    """``footfall serve`` processes; every one still running is terminated at teardown."""

    def __init__(self, db: Database, log: Path) -> None:
        self.db = db
        self.log = log
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> tuple[str, subprocess.Popen[bytes]]:
        port = free_port()
        with self.log.open("ab") as out:
            process = subprocess.Popen(
                [str(FOOTFALL), "serve", "--host", "127.0.0.1", "--port", str(port)],
                env=self.db.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"serve exited with {process.returncode}: {self.log.read_text()}"
                )
            try:
                if httpx.get(f"{url}/health", timeout=1, verify=NO_TLS_HERE).status_code == 200:
                    return url, process
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"serve did not become healthy: {self.log.read_text()}")
            time.sleep(0.05)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=15)


@pytest.fixture
def servers(database: Database, tmp_path: Path) -> Iterator[Servers]:
    servers = Servers(database, tmp_path / "serve.log")
    try:
        yield servers
    finally:
        servers.stop_all()


def create_workspace(db: Database, name: str) -> str:
    result = subprocess.run(
        [str(FOOTFALL), "workspace", "create", name, "--json"],
        env=db.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    key = json.loads(result.stdout.strip().splitlines()[-1])["api_key"]
    assert isinstance(key, str)
    return key


@dataclass
class Load:
    acknowledged: list[str] = field(default_factory=list)
    refused: list[tuple[str, int, str]] = field(default_factory=list)  # answered, but not 200
    errors_before_kill: list[str] = field(default_factory=list)
    killed: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)


def send(load: Load, url: str, key: str, sender: int) -> None:
    with httpx.Client(base_url=url, headers=basic(key), timeout=10, verify=NO_TLS_HERE) as client:
        n = 0
        while not load.stop.is_set():
            key_value = f"k-{sender}-{n}"
            n += 1
            body = {
                "eventTypeKey": "durabilityProbe",
                "keyValue": key_value,
                "params": [{"name": "sender", "value": str(sender)}],
            }
            try:
                response = client.post("/api/v2/event", json=body)
            except httpx.TransportError as exc:
                # Not acknowledged: the client may retry it, so it may or may not be stored.
                if load.killed.is_set():
                    return
                load.errors_before_kill.append(f"{key_value}: {exc!r}")
                continue
            if response.status_code == 200:
                load.acknowledged.append(key_value)
            else:
                load.refused.append((key_value, response.status_code, response.text))


@pytest.mark.slow
def test_kill_9_under_load_loses_no_acknowledged_event(
    database: Database, servers: Servers
) -> None:
    name = f"durable-{uuid.uuid4().hex[:8]}"
    key = create_workspace(database, name)
    url, process = servers.start()

    load = Load()
    threads = [
        threading.Thread(target=send, args=(load, url, key, sender), daemon=True)
        for sender in range(SENDERS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(LOAD_SECONDS)
    assert all(thread.is_alive() for thread in threads), "the load stopped before the kill"
    acknowledged_before_kill = len(load.acknowledged)
    load.killed.set()
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=15)
    time.sleep(0.2)  # let in-flight requests see the dead socket
    load.stop.set()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)

    assert process.returncode == -signal.SIGKILL
    assert not load.errors_before_kill, load.errors_before_kill[:5]
    assert not load.refused, load.refused[:5]
    assert acknowledged_before_kill > 100, f"only {acknowledged_before_kill} events acknowledged"
    acknowledged = set(load.acknowledged)
    assert len(acknowledged) == len(load.acknowledged)

    # Restart on the same database: it comes back and has every acknowledged event, once.
    url, _ = servers.start()
    workspace_id = database.rows("SELECT id FROM workspaces WHERE name = ?", name)[0][0]
    stored = dict(
        database.rows(
            "SELECT key_value, count(*) FROM events WHERE workspace_id = ? GROUP BY key_value",
            workspace_id,
        )
    )
    missing = sorted(acknowledged - set(stored))
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {missing[:5]}"
    duplicated = {k: c for k, c in stored.items() if c != 1}
    assert not duplicated, f"stored more than once: {list(duplicated.items())[:5]}"
    # Events committed whose 200 never reached the client may be stored too, but nothing else.
    assert len(stored) <= len(acknowledged) + SENDERS * 2

    # Each batch is all or nothing: the per-type counter matches the stored rows exactly.
    counted = database.rows(
        "SELECT SUM(event_count) FROM event_type_counts WHERE workspace_id = ? AND key = ?",
        workspace_id,
        "durabilityProbe",
    )
    assert counted == [(len(stored),)]

    # The restarted service serves them and takes new events.
    last_per_sender: dict[str, str] = {}
    for key_value in load.acknowledged:
        last_per_sender[key_value.split("-")[1]] = key_value
    sample = set(random.Random(7).sample(sorted(acknowledged), 20)) | set(last_per_sender.values())
    with httpx.Client(base_url=url, headers=basic(key), timeout=30, verify=NO_TLS_HERE) as client:
        for key_value in sorted(sample):
            events = client.get("/api/v1/events", params={"keyValue": key_value}).json()
            assert [e["keyValue"] for e in events] == [key_value]
        body = {"eventTypeKey": "durabilityProbe", "keyValue": "after-restart", "params": []}
        assert client.post("/api/v2/event", json=body).status_code == 200
        assert len(client.get("/api/v1/events", params={"keyValue": "after-restart"}).json()) == 1


# -- the settings that make a commit durable ----------------------------------------------------


@pytest.fixture(params=BACKENDS)
def fresh_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    with migrated_database(request.param, tmp_path) as url:
        yield Settings(data_dir=tmp_path, database_url=url)


def test_commits_wait_for_the_disk(fresh_settings: Settings) -> None:
    """SQLite: WAL with synchronous=FULL; PostgreSQL: synchronous_commit on, whatever the default."""
    url = fresh_settings.resolved_database_url
    if url.startswith("postgresql://"):
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        with psycopg.connect(url) as plain:
            assert plain.execute("SHOW synchronous_commit").fetchone() == ("off",)
    store = open_store(fresh_settings)
    try:
        connection = store.dialect.connect()
        try:
            if store.dialect.name == "sqlite":
                assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
                assert connection.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL
            else:
                assert connection.execute("SHOW synchronous_commit").fetchone() == ("on",)
        finally:
            connection.close()
        # The group committer's connection, the one events are written on.
        store.events.begin()
        try:
            writer = store.events.batch.cursor()
            if store.dialect.name == "sqlite":
                assert writer.one("PRAGMA synchronous") == (2,)
                assert writer.one("PRAGMA journal_mode") == ("wal",)
            else:
                assert writer.one("SHOW synchronous_commit") == ("on",)
        finally:
            store.events.rollback()
        # The per-thread connection used by the other writes (workspaces, keys, tokens).
        with store.db.write() as tx:
            if store.dialect.name == "sqlite":
                assert tx.one("PRAGMA synchronous") == (2,)
            else:
                assert tx.one("SHOW synchronous_commit") == ("on",)
    finally:
        store.close()
    if store.dialect.name == "sqlite":
        # WAL is a property of the file: any later connection sees it.
        path = url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as plain:
            assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)
