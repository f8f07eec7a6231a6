"""What the soak benchmark reads about a running server: its RSS, database connections, client
connections, and what its database holds."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import psycopg

from harness import POSTGRES_ADMIN, Server

LISTEN, TIME_WAIT = "0A", "06"


@dataclass(frozen=True)
class Sample:
    seconds: float
    rss_mb: float
    db_connections: int
    client_connections: int


def sqlite_path(env: dict[str, str]) -> Path:
    return Path(env["FOOTFALL_DATA_DIR"]) / "footfall.db"


def db_connections(server: Server, env: dict[str, str], database: str | None) -> int:
    """PostgreSQL: sessions on the bench database; SQLite: the server's descriptors on the file
    (one per open connection; the -wal and -shm files are not counted)."""
    if database:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (database,)
            ).fetchone()
            return int(row[0]) if row else 0
    target = str(sqlite_path(env).resolve())
    fds = Path(f"/proc/{server.process.pid}/fd")
    count = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):  # closed meanwhile
            count += os.readlink(fd) == target
    return count


def client_connections(port: int) -> int:
    """TCP connections held at the server's end on ``port`` (any state but LISTEN and TIME_WAIT,
    which the kernel keeps alone): a connection the server forgot to close stays in CLOSE_WAIT."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state = fields[1], fields[3]
        if int(local.split(":")[1], 16) == port and state not in (LISTEN, TIME_WAIT):
            count += 1
    return count


def sample(server: Server, env: dict[str, str], database: str | None, seconds: float) -> Sample:
    port = int(server.url.rsplit(":", 1)[1])
    return Sample(
        seconds,
        server.rss_mb(),
        db_connections(server, env, database),
        client_connections(port),
    )


def stored(env: dict[str, str], workspace: str) -> tuple[set[str], set[str]]:
    """The keyValues of the workspace's events and the ids of its orders."""
    events = (
        "SELECT e.key_value FROM events e JOIN workspaces w ON w.id = e.workspace_id"
        " WHERE w.name = {}"
    )
    orders = (
        "SELECT o.external_order_id FROM orders o JOIN workspaces w ON w.id = o.workspace_id"
        " WHERE w.name = {}"
    )
    url = env.get("FOOTFALL_DATABASE_URL")
    if url:
        with psycopg.connect(url) as pg:
            keys = {r[0] for r in pg.execute(events.format("%s"), (workspace,))}
            ids = {r[0] for r in pg.execute(orders.format("%s"), (workspace,))}
            return keys, ids
    with sqlite3.connect(sqlite_path(env)) as lite:
        keys = {r[0] for r in lite.execute(events.format("?"), (workspace,))}
        ids = {r[0] for r in lite.execute(orders.format("?"), (workspace,))}
        return keys, ids
