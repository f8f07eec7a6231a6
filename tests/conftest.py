"""Shared fixtures: every integration test body runs on SQLite and on PostgreSQL.

PostgreSQL tests need a server at FOOTFALL_TEST_POSTGRES_URL (default: local trust auth on
127.0.0.1:5432). Without one they are skipped locally, but fail under CI=true.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import socket
import sqlite3
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn

from footfall import access
from footfall.bootstrap import create_app
from footfall.config import Settings
from footfall.store import Store, migrate, open_store

POSTGRES_ADMIN_URL = os.environ.get(
    "FOOTFALL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgres"]
# The tests speak plain HTTP on loopback: one TLS context for every client, as each new one
# would load the CA bundle again (58 ms of CPU here, half of what a short test takes).
NO_TLS_HERE = ssl.create_default_context()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def basic(key: str, user: str = "") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{key}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _postgres_available() -> str | None:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc)


def create_postgres_database(template: str | None = None) -> tuple[str, Callable[[], None]]:
    """A new database (empty, or a copy of ``template``) and what drops it."""
    problem = _postgres_available()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required under CI but unreachable: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    name = f"footfall_test_{uuid.uuid4().hex[:12]}"
    copied = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copied}')
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    def drop() -> None:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop


class _Migrated:
    """One database per backend migrated once per test process; a test's own migrated database
    is a copy of it (a migration takes 0.2 s on SQLite and 0.45 s on PostgreSQL, a copy a
    tenth of that)."""

    def __init__(self) -> None:
        self._sqlite: Path | None = None
        self._postgres: tuple[str, Callable[[], None]] | None = None

    def sqlite(self) -> Path:
        if self._sqlite is None:
            path = Path(tempfile.mkdtemp(prefix="footfall-template-")) / "footfall.db"
            migrate(Settings(database_url=f"sqlite:///{path}"))
            self._sqlite = path
        return self._sqlite

    def postgres(self) -> str:
        if self._postgres is None:
            url, drop = create_postgres_database()
            migrate(Settings(database_url=url))
            self._postgres = url, drop
        return self._postgres[0].rsplit("/", 1)[1]

    def close(self) -> None:
        if self._sqlite is not None:
            shutil.rmtree(self._sqlite.parent, ignore_errors=True)
        if self._postgres is not None:
            self._postgres[1]()


_MIGRATED = _Migrated()


@pytest.fixture(scope="session", autouse=True)
def _migrated_templates() -> Iterator[None]:
    yield
    _MIGRATED.close()


@contextlib.contextmanager
def migrated_database(backend: str, directory: Path) -> Iterator[str]:
    """The URL of a migrated database of the caller's own (``backend`` "sqlite", or "postgres"
    / "postgresql"; on SQLite a file in ``directory``), dropped afterwards."""
    if backend == "sqlite":
        path = directory / "footfall.db"
        with (
            contextlib.closing(sqlite3.connect(_MIGRATED.sqlite())) as source,
            contextlib.closing(sqlite3.connect(path)) as copy,
        ):
            source.backup(copy)
        yield f"sqlite:///{path}"
        return
    url, drop = create_postgres_database(template=_MIGRATED.postgres())
    try:
        yield url
    finally:
        drop()


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Lazily created databases, one per backend, shared by the session."""
    urls: dict[str, str] = {}
    with contextlib.ExitStack() as dropped:

        def get(backend: str) -> str:
            if backend not in urls:
                made = migrated_database(backend, tmp_path_factory.mktemp(backend))
                urls[backend] = dropped.enter_context(made)
            return urls[backend]

        yield {"get": get}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, database_urls: dict[str, Any], tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_urls["get"](backend),
        webhook_allow_hosts="127.0.0.1",  # the tests' receivers; 127.0.0.2 stays refused
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    store = open_store(settings)
    yield store
    store.close()


@dataclass
class LiveServer:
    """A real Footfall HTTP server on loopback, in a thread of the test process."""

    url: str
    settings: Settings
    app: Any
    server: uvicorn.Server
    thread: threading.Thread

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = basic(key) if key else {}
        return httpx.Client(
            base_url=self.url, headers=headers, timeout=30, verify=NO_TLS_HERE, **kwargs
        )

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def start_server(settings: Settings) -> LiveServer:
    app = create_app(settings)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    return LiveServer(f"http://127.0.0.1:{port}", settings, app, server, thread)


@pytest.fixture(scope="session")
def _servers(
    database_urls: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], LiveServer]]:
    servers: dict[str, LiveServer] = {}

    def get(backend: str) -> LiveServer:
        if backend not in servers:
            settings = Settings(
                data_dir=tmp_path_factory.mktemp("data"),
                database_url=database_urls["get"](backend),
                webhook_allow_hosts="127.0.0.1",
            )
            servers[backend] = start_server(settings)
        return servers[backend]

    yield get
    for server in servers.values():
        server.stop()


@pytest.fixture
def server(backend: str, _servers: Callable[[str], LiveServer]) -> LiveServer:
    """The shared server of this backend (each test isolates itself in its own workspace)."""
    return _servers(backend)


@pytest.fixture
def make_server(settings: Settings) -> Iterator[Callable[..., LiveServer]]:
    """A dedicated server with some settings changed, e.g. make_server(rate_limit_per_second=2)."""
    started: list[LiveServer] = []

    def make(**changes: Any) -> LiveServer:
        live = start_server(replace(settings, **changes))
        started.append(live)
        return live

    yield make
    for live in started:
        live.stop()


@dataclass
class Workspace:
    name: str
    full_key: str
    events_key: str
    id: int


def new_workspace(store: Store, prefix: str) -> Workspace:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    full = access.create_workspace(store.access, name)
    events = access.create_key(store.access, name, "events")
    workspace_id = store.access.workspace_id(name)
    assert workspace_id is not None
    return Workspace(name, full.api_key, events.api_key, workspace_id)


@pytest.fixture
def workspace(store: Store) -> Workspace:
    return new_workspace(store, "ws")


@pytest.fixture
def other_workspace(store: Store) -> Workspace:
    return new_workspace(store, "other")


@pytest.fixture
def api(server: LiveServer, workspace: Workspace) -> Iterator[httpx.Client]:
    """An HTTP client of the shared server, authenticated with the workspace's full key."""
    with server.client(workspace.full_key) as client:
        yield client
