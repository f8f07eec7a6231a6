"""The real ``footfall`` command in subprocesses, on a fresh SQLite file and a fresh PostgreSQL database."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from click.testing import CliRunner

from conftest import BACKENDS, NO_TLS_HERE, basic, create_postgres_database, free_port
from footfall.cli import main
from footfall.store.migrate import head_revision

FOOTFALL = Path(sys.executable).parent / "footfall"


@dataclass
class Database:
    """A fresh, empty database and the environment that points the CLI at it."""

    backend: str
    url: str
    env: dict[str, str]
    data_dir: Path

    def run(
        self, *args: str, env: dict[str, str] | None = None, real: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """The command run in this process (``serve`` and ``worker`` in a real one): the same
        entry point, FOOTFALL_* environment, output streams and exit status, without a
        second's start-up per command. ``real``: in a process of its own, for what only a real
        one shows (everything it writes to stderr, its logs included)."""
        env = self.env if env is None else env
        if real or (args and args[0] in ("serve", "worker")):
            return subprocess.run(
                [str(FOOTFALL), *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        return invoke(list(args), env)

    def ok(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.run(*args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def execute(self, sql: str) -> None:
        if self.backend == "sqlite":
            with sqlite3.connect(self.url.removeprefix("sqlite:///")) as conn:
                conn.execute(sql)
            return
        with psycopg.connect(self.url) as conn:
            conn.execute(sql)

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.backend == "sqlite":
            with sqlite3.connect(self.url.removeprefix("sqlite:///")) as conn:
                return list(conn.execute(sql).fetchall())
        with psycopg.connect(self.url) as conn:
            return list(conn.execute(sql).fetchall())


def invoke(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``footfall ARGS`` in this process, with exactly ``env``'s FOOTFALL_* variables: its
    stdout, stderr and exit status as a finished process's. An exception the command let out
    is written to stderr as Python would, with exit status 1."""
    overrides: dict[str, str | None] = {k: None for k in os.environ if k.startswith("FOOTFALL_")}
    overrides |= {k: v for k, v in env.items() if k.startswith("FOOTFALL_")}
    result = CliRunner().invoke(main, args, env=overrides, catch_exceptions=True)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert result.exc_info is not None
        stderr += "".join(traceback.format_exception(*result.exc_info))
    return subprocess.CompletedProcess(["footfall", *args], result.exit_code, result.stdout, stderr)


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")}


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    data_dir = tmp_path / "data"
    env = base_env() | {"FOOTFALL_DATA_DIR": str(data_dir)}
    if request.param == "sqlite":
        # No FOOTFALL_DATABASE_URL: the default is footfall.db in the data directory.
        yield Database("sqlite", f"sqlite:///{data_dir / 'footfall.db'}", env, data_dir)
        return
    url, drop = create_postgres_database()
    try:
        yield Database("postgres", url, env | {"FOOTFALL_DATABASE_URL": url}, data_dir)
    finally:
        drop()


def last_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines, result
    payload = json.loads(lines[-1])
    assert isinstance(payload, dict)
    return payload


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]


def start_serve(db: Database, log: Path, timeout: float = 30, *options: str) -> Served:
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(FOOTFALL), "serve", "--host", "127.0.0.1", "--port", str(port), *options],
            env=db.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(
                f"footfall serve exited with {process.returncode}: {log.read_text()}"
            )
        try:
            if httpx.get(f"{url}/health", timeout=1, verify=NO_TLS_HERE).status_code == 200:
                return Served(url, process)
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop(process)
            raise AssertionError(f"footfall serve did not become healthy: {log.read_text()}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture
def serve(database: Database, tmp_path: Path) -> Iterator[Any]:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> Served:
        served = start_serve(database, tmp_path / "serve.log")
        started.append(served.process)
        return served

    try:
        yield start
    finally:
        for process in started:
            stop(process)


def event(key_value: str) -> dict[str, Any]:
    return {
        "eventTypeKey": "cliChecked",
        "keyValue": key_value,
        "params": [{"name": "email", "value": key_value}],
    }


# -- migrate -------------------------------------------------------------------------------------


def test_migrate_creates_the_schema(database: Database) -> None:
    result = database.ok("migrate")
    assert "up to date" in result.stdout
    if database.backend == "sqlite":
        assert (database.data_dir / "footfall.db").is_file()
    tables = (
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        if database.backend == "sqlite"
        else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    )
    names = {row[0] for row in database.rows(tables)}
    assert {"workspaces", "api_keys", "events", "contacts", "alembic_version"} <= names
    # Running it again is harmless.
    database.ok("migrate")


_AT_THE_SAME_TIME = """
import sys, time
from footfall.cli import main
start = float(sys.argv[1])
time.sleep(max(0.0, start - time.time()))
sys.argv = ["footfall", "migrate"]
main()
"""


def test_concurrent_migrations_all_succeed(database: Database) -> None:
    """`migrate` says it is safe to run from several processes at once (e.g. replicas starting).

    The processes import everything first and then start migrating at the same instant.
    """
    start = time.time() + 3
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _AT_THE_SAME_TIME, str(start)],
            env=database.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outcomes = [(p.wait(timeout=120), *p.communicate()) for p in processes]
    failures = [o for o in outcomes if o[0] != 0]
    errors = [line for o in failures for line in o[2].splitlines() if "Error" in line][-1:]
    assert not failures, f"{len(failures)} of {len(outcomes)} processes failed: {errors}"
    assert database.rows("SELECT version_num FROM alembic_version") == [(head_revision(),)]


# -- workspaces and keys -------------------------------------------------------------------------


def test_workspace_create_prints_a_key_as_json(database: Database) -> None:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    payload = last_json(database.ok("workspace", "create", name, "--json"))
    assert set(payload) == {"workspace", "api_key", "id", "scope"}
    assert payload["scope"] == "full"
    assert payload["workspace"] == name
    assert isinstance(payload["api_key"], str) and len(payload["api_key"]) >= 32
    if database.backend == "sqlite":
        assert (database.data_dir / "footfall.db").is_file()


def test_workspace_create_without_json_prints_the_key(database: Database) -> None:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    result = database.ok("workspace", "create", name)
    assert name in result.stdout
    key = next(line for line in result.stdout.splitlines() if line.startswith("api key"))
    assert key.rsplit(" ", 1)[-1].startswith("ff_")


def test_duplicate_workspace_fails_clearly(database: Database) -> None:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    first = last_json(database.ok("workspace", "create", name, "--json"))
    again = database.run("workspace", "create", name, "--json")
    assert again.returncode != 0
    assert "already exists" in again.stderr
    assert name in again.stderr
    assert "Traceback" not in again.stderr
    assert again.stdout.strip() == ""  # no key was printed for the refused workspace
    # The first workspace and its single key are untouched.
    rows = database.rows("SELECT count(*) FROM workspaces")
    assert rows == [(1,)]
    assert database.rows("SELECT count(*) FROM api_keys") == [(1,)]
    assert first["workspace"] == name


def test_key_create(database: Database) -> None:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    full = last_json(database.ok("workspace", "create", name, "--json"))
    events = last_json(database.ok("key", "create", name, "--scope", "events", "--json"))
    assert set(events) == {"workspace", "api_key", "id", "scope"}
    assert (events["workspace"], events["scope"]) == (name, "events")
    assert events["id"] > full["id"]
    assert events["api_key"] != full["api_key"]
    scopes = sorted(row[0] for row in database.rows("SELECT scope FROM api_keys"))
    assert scopes == ["events", "full"]


def test_key_create_for_unknown_workspace_fails(database: Database) -> None:
    database.ok("migrate")
    result = database.run("key", "create", "no-such-workspace", "--scope", "events", "--json")
    assert result.returncode != 0
    assert "no-such-workspace" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.strip() == ""
    assert database.rows("SELECT count(*) FROM api_keys") == [(0,)]


def test_key_create_rejects_an_unknown_scope(database: Database) -> None:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    database.ok("workspace", "create", name, "--json")
    result = database.run("key", "create", name, "--scope", "admin", "--json")
    assert result.returncode != 0
    assert "scope" in result.stderr.lower()


def test_api_keys_are_stored_hashed(database: Database) -> None:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    keys = [
        last_json(database.ok("workspace", "create", name, "--json"))["api_key"],
        last_json(database.ok("key", "create", name, "--scope", "events", "--json"))["api_key"],
        last_json(database.ok("key", "create", name, "--scope", "full", "--json"))["api_key"],
    ]
    scopes = ["full", "events", "full"]
    rows = database.rows("SELECT * FROM api_keys")  # every column, whatever the schema adds
    assert len(rows) == 3
    dump = repr(rows)
    for key in keys:
        assert key not in dump
        # Not even most of it: only a short prefix is kept, for display.
        assert key[:16] not in dump
    by_hash = dict(database.rows("SELECT key_hash, scope FROM api_keys"))
    expected = {
        hashlib.sha256(k.encode()).hexdigest(): s for k, s in zip(keys, scopes, strict=True)
    }
    assert by_hash == expected


def keys_listed(database: Database, workspace: str) -> dict[int, dict[str, Any]]:
    result = database.ok("key", "list", "--workspace", workspace, "--json")
    listed: list[dict[str, Any]] = json.loads(result.stdout)
    return {k["id"]: k for k in listed}


def test_key_list_revoke_and_rotate(database: Database) -> None:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    full = last_json(database.ok("workspace", "create", name, "--json"))
    events = last_json(database.ok("key", "create", name, "--scope", "events", "--json"))
    listed = keys_listed(database, name)
    assert list(listed) == [events["id"], full["id"]]  # newest first
    assert [k["prefix"] for k in listed.values()] == [events["api_key"][:8], full["api_key"][:8]]
    assert all(k["revoked"] is None and k["lastUsed"] is None for k in listed.values())
    text = database.ok("key", "list", "--workspace", name).stdout
    assert [line.split()[:4] for line in text.splitlines()] == [
        [str(events["id"]), events["api_key"][:8] + "…", "events", "active"],
        [str(full["id"]), full["api_key"][:8] + "…", "full", "active"],
    ]
    assert full["api_key"] not in text and events["api_key"] not in text

    revoked = database.ok("key", "revoke", str(events["id"]))
    assert f"key {events['id']}" in revoked.stdout and "revoked" in revoked.stdout
    assert keys_listed(database, name)[events["id"]]["revoked"] is not None

    rotated = last_json(database.ok("key", "rotate", str(full["id"]), "--json"))
    assert (rotated["workspace"], rotated["scope"]) == (name, "full")
    assert rotated["api_key"].startswith("ff_") and rotated["api_key"] != full["api_key"]
    listed = keys_listed(database, name)
    assert listed[full["id"]]["revoked"] is not None
    assert listed[rotated["id"]]["revoked"] is None
    assert "revoked" in database.ok("key", "list", "--workspace", name).stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["key", "revoke", "999999"], "no API key 999999"),
        (["key", "rotate", "999999"], "no API key 999999"),
        (["key", "revoke", "x"], "KEY_ID"),
        (["key", "rotate", "1", "--grace", "-1"], "--grace"),
        (["key", "list", "--workspace", "no-such-workspace"], "no-such-workspace"),
        (["key", "list"], "--workspace"),
    ],
)
def test_key_commands_refuse_clearly(database: Database, args: list[str], says: str) -> None:
    database.ok("migrate")
    result = database.run(*args)
    assert result.returncode != 0
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def test_a_revoked_key_cannot_be_rotated(database: Database) -> None:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    full = last_json(database.ok("workspace", "create", name, "--json"))
    database.ok("key", "revoke", str(full["id"]))
    database.ok("key", "revoke", str(full["id"]))  # again: nothing changes
    result = database.run("key", "rotate", str(full["id"]))
    assert result.returncode != 0
    assert "revoked or rotated already" in result.stderr
    assert len(keys_listed(database, name)) == 1


# -- serve ---------------------------------------------------------------------------------------


def test_serve_accepts_events_with_cli_keys(database: Database, serve: Any) -> None:
    name = f"shop-{uuid.uuid4().hex[:8]}"
    full = last_json(database.ok("workspace", "create", name, "--json"))["api_key"]
    events_key = last_json(database.ok("key", "create", name, "--scope", "events", "--json"))[
        "api_key"
    ]
    served = serve()
    with httpx.Client(base_url=served.url, timeout=30, verify=NO_TLS_HERE) as client:
        response = client.post("/api/v2/event", json=event("a@example.com"), headers=basic(full))
        assert response.status_code == 200, response.text
        # Any username works: the key is the password.
        response = client.post(
            "/api/v2/event", json=event("b@example.com"), headers=basic(events_key, "anyone")
        )
        assert response.status_code == 200, response.text
        # An events-scope key may write but not read.
        refused = client.get("/api/v1/events", headers=basic(events_key))
        assert refused.status_code == 403
        assert "full" in refused.text
        assert client.get("/api/v1/events").status_code == 401
        assert client.get("/api/v1/events", headers=basic("ff_not-a-key")).status_code == 401
        listed = client.get("/api/v1/events", headers=basic(full))
        assert listed.status_code == 200
        assert sorted(e["keyValue"] for e in listed.json()) == ["a@example.com", "b@example.com"]
    assert database.rows("SELECT count(*) FROM events") == [(2,)]


def test_serve_on_a_fresh_database_migrates_it(database: Database, serve: Any) -> None:
    served = serve()
    assert httpx.get(f"{served.url}/health", timeout=10, verify=NO_TLS_HERE).json() == {
        "status": "ok"
    }
    assert database.rows("SELECT version_num FROM alembic_version") == [(head_revision(),)]
    if database.backend == "sqlite":
        assert (database.data_dir / "footfall.db").is_file()


def test_a_running_server_refuses_a_key_revoked_by_the_cli_within_the_cache_time(
    database: Database, serve: Any
) -> None:
    ttl = 1.0
    database.env["FOOTFALL_KEY_CACHE_SECONDS"] = str(ttl)
    name = f"shop-{uuid.uuid4().hex[:8]}"
    full = last_json(database.ok("workspace", "create", name, "--json"))
    events = last_json(database.ok("key", "create", name, "--scope", "events", "--json"))
    served = serve()

    def status(key: str) -> int:
        response = httpx.post(
            f"{served.url}/api/v2/event",
            json=event("d@example.com"),
            headers=basic(key),
            timeout=30,
            verify=NO_TLS_HERE,
        )
        return response.status_code

    assert status(events["api_key"]) == 200
    assert status(full["api_key"]) == 200
    assert keys_listed(database, name)[events["id"]]["lastUsed"] is not None
    database.ok("key", "revoke", str(events["id"]))
    rotated = last_json(database.ok("key", "rotate", str(full["id"]), "--grace", "60", "--json"))
    revoked_at = time.monotonic()
    while status(events["api_key"]) == 200:
        assert time.monotonic() - revoked_at < ttl + 0.5, "the revoked key still works"
        time.sleep(0.05)
    assert status(full["api_key"]) == 200  # rotated with a grace period: works for a minute
    assert status(rotated["api_key"]) == 200


def test_workspace_created_while_serving_is_usable(database: Database, serve: Any) -> None:
    served = serve()
    name = f"shop-{uuid.uuid4().hex[:8]}"
    key = last_json(database.ok("workspace", "create", name, "--json"))["api_key"]
    response = httpx.post(
        f"{served.url}/api/v2/event",
        json=event("c@example.com"),
        headers=basic(key),
        timeout=30,
        verify=NO_TLS_HERE,
    )
    assert response.status_code == 200, response.text


# -- configuration errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["migrate"],
        ["workspace", "create", "shop", "--json"],
        ["key", "create", "shop", "--json"],
        ["serve", "--port", "1"],
    ],
    ids=["migrate", "workspace", "key", "serve"],
)
@pytest.mark.parametrize("url", ["mysql://x", "sqlite:relative.db", "postgresql:/nohost"])
def test_invalid_database_url_is_refused(args: list[str], url: str, tmp_path: Path) -> None:
    env = base_env() | {"FOOTFALL_DATA_DIR": str(tmp_path), "FOOTFALL_DATABASE_URL": url}
    result = subprocess.run(
        [str(FOOTFALL), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "FOOTFALL_DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing was created anywhere


def test_unreachable_database_fails_without_a_traceback(database: Database) -> None:
    """A database that cannot be opened is an operator error: a message and a non-zero exit."""
    if database.backend == "sqlite":
        blocker = database.data_dir.parent / "not-a-directory"
        blocker.write_text("")
        env = database.env | {"FOOTFALL_DATA_DIR": str(blocker / "data")}
    else:
        env = database.env | {
            "FOOTFALL_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/x"
        }
    for args in (["migrate"], ["workspace", "create", "shop", "--json"]):
        result = database.run(*args, env=env, real=True)
        assert result.returncode != 0, args
        assert result.stderr.strip(), args
        assert "Traceback" not in result.stderr, (args, result.stderr[-2000:])


# -- start-up, version, the address and the database in use -------------------------------------

_LOADED = """
import sys
import {module}
print(" ".join(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def _loaded(module: str, heavy: tuple[str, ...]) -> list[str]:
    """Which of ``heavy`` importing ``module`` loads, in a fresh interpreter."""
    code = _LOADED.format(module=module, heavy=heavy)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout.split()


def test_the_command_line_imports_no_heavy_module_before_a_command_runs() -> None:
    """`footfall --help` took 5 s: the CLI imported the store, the web layer and jsonschema."""
    heavy = (
        "jsonschema", "uvicorn", "starlette", "sqlalchemy", "alembic", "psycopg", "structlog",
        "footfall.store", "footfall.access", "footfall.web", "footfall.bootstrap",
        "footfall.eventtypes", "footfall.ingest",
    )  # fmt: skip
    assert _loaded("footfall.cli", heavy) == []


def test_type_rules_load_no_grammar() -> None:
    """jsonschema's IRI check compiled an Earley grammar (rfc3987-syntax, lark) at import: 4 s."""
    assert _loaded("footfall.eventtypes.rules", ("rfc3987_syntax", "lark")) == []
    assert _loaded("footfall.bootstrap", ("rfc3987_syntax", "lark")) == []


def test_scopes_of_the_command_line_are_those_of_access() -> None:
    from footfall import access, cli

    assert cli.SCOPES == access.SCOPES
    assert cli.MAX_GRACE_SECONDS == access.MAX_GRACE_SECONDS


def test_version() -> None:
    result = subprocess.run(
        [str(FOOTFALL), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"footfall, version {importlib.metadata.version('footfall')}"


def test_serve_on_a_port_in_use_fails_cleanly_every_time(database: Database) -> None:
    """It crashed with a segmentation fault about half the time, after starting the service
    (before the database is touched: three tries on SQLite, one on PostgreSQL)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for _ in range(3 if database.backend == "sqlite" else 1):
            result = database.run("serve", "--port", str(port))
            assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
            assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
            assert "Traceback" not in result.stderr
            assert "listening on" not in result.stderr
    # Refused before anything started: not even the database was created or migrated.
    if database.backend == "sqlite":
        assert not database.data_dir.exists()
    else:
        tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        assert database.rows(tables) == [(0,)]


@pytest.mark.parametrize("port", ["99999", "0", "-1", "65536"])
def test_serve_refuses_a_port_out_of_range(port: str, tmp_path: Path) -> None:
    env = base_env() | {"FOOTFALL_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [str(FOOTFALL), "serve", "--port", port],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert f"Invalid value for '--port': {port} is not in the range 1<=x<=65535" in result.stderr
    assert not (tmp_path / "data").exists()


def test_serve_prints_its_address_and_database(
    database: Database, serve: Any, tmp_path: Path
) -> None:
    served = serve()
    log = (tmp_path / "serve.log").read_text()
    lines = log.splitlines()
    assert f"footfall: database {database.url}" in lines
    assert f"footfall: listening on {served.url}" in lines
    assert lines.index(f"footfall: database {database.url}") < lines.index(
        f"footfall: listening on {served.url}"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["migrate"],
        ["workspace", "create", "shop", "--json"],
        ["workspace", "list"],
        ["key", "create", "nowhere"],
        ["events", "replay-failed", "--type", "pageViewed"],
    ],
    ids=["migrate", "workspace-create", "workspace-list", "key-create", "replay"],
)
def test_every_command_prints_its_database_without_the_password(
    database: Database, args: list[str]
) -> None:
    env = database.env
    if database.backend == "postgres":  # trust authentication: any password is accepted
        env = env | {"FOOTFALL_DATABASE_URL": database.url.replace("postgres@", "postgres:s3cr3t@")}
    result = database.run(*args, env=env, real=True)
    assert result.stderr.startswith(f"footfall: database {database.url}\n"), result.stderr
    assert "s3cr3t" not in result.stderr + result.stdout


def test_worker_prints_its_database(database: Database, tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(FOOTFALL), "worker"], env=database.env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while "runner.started" not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.05)
    finally:
        stop(process)
    assert f"footfall: database {database.url}\n" in log.read_text()


def test_a_relative_sqlite_url_is_relative_to_the_working_directory(tmp_path: Path) -> None:
    env = base_env() | {"FOOTFALL_DATABASE_URL": "sqlite:///here.db"}
    result = subprocess.run(
        [str(FOOTFALL), "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "here.db").is_file()
    assert f"footfall: database sqlite:///{tmp_path / 'here.db'}\n" in result.stderr


@pytest.mark.parametrize("setting", ["FOOTFALL_DATABASE_URL", "FOOTFALL_DATA_DIR"])
@pytest.mark.parametrize("args", [["migrate"], ["workspace", "list"], ["serve", "--port", "1"]])
def test_a_missing_directory_is_named_not_created(
    setting: str, args: list[str], tmp_path: Path
) -> None:
    missing = tmp_path / "no" / "such"
    value = f"sqlite:///{missing / 'footfall.db'}" if setting == "FOOTFALL_DATABASE_URL" else ""
    env = base_env() | {setting: value or str(missing / "data")}
    if args[0] == "serve":
        args = ["serve", "--port", str(free_port())]
    result = subprocess.run(
        [str(FOOTFALL), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1, result.stderr
    assert setting in result.stderr
    assert f"{missing} does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_only_the_data_directory_is_created(tmp_path: Path) -> None:
    """The data directory is Footfall's to create, the default one with its parents; the
    directories above another one are not."""

    def migrate(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(FOOTFALL), "migrate"], env=base_env() | env, capture_output=True, text=True
        )

    assert migrate({"FOOTFALL_DATA_DIR": str(tmp_path / "data")}).returncode == 0
    assert (tmp_path / "data" / "footfall.db").is_file()
    refused = migrate({"FOOTFALL_DATA_DIR": str(tmp_path / "above" / "data")})
    assert refused.returncode == 1
    assert f"FOOTFALL_DATA_DIR: {tmp_path / 'above'} does not exist" in refused.stderr
    assert not (tmp_path / "above").exists()
    home = tmp_path / "home"
    home.mkdir()
    result = migrate({"HOME": str(home)})
    assert result.returncode == 0, result.stderr
    default = home / ".local" / "share" / "footfall" / "footfall.db"
    assert default.is_file()
    assert f"footfall: database sqlite:///{default}\n" in result.stderr


# -- workspace list ------------------------------------------------------------------------------


def test_workspace_list(database: Database) -> None:
    empty = database.ok("workspace", "list", "--json")
    assert last_json(empty) == {"workspaces": []}
    before = time.time()
    database.ok("workspace", "create", "zeta", "--json")
    database.ok("workspace", "create", "alpha", "--json")
    database.ok("key", "create", "zeta", "--scope", "events")
    database.ok("key", "create", "zeta", "--scope", "full")
    # A revoked key is not active.
    database.execute("UPDATE api_keys SET revoked_us = 1 WHERE id = (SELECT max(id) FROM api_keys)")
    listed = last_json(database.ok("workspace", "list", "--json"))["workspaces"]
    assert [(w["workspace"], w["active_keys"]) for w in listed] == [("alpha", 1), ("zeta", 2)]
    for entry in listed:
        created = datetime.fromisoformat(entry["created"].replace("Z", "+00:00"))
        assert before - 1 <= created.timestamp() <= time.time() + 1
    text = database.ok("workspace", "list").stdout.splitlines()
    assert text[0].split() == ["WORKSPACE", "CREATED", "ACTIVE", "KEYS"]
    assert [line.split() for line in text[1:]] == [
        ["alpha", listed[0]["created"], "1"],
        ["zeta", listed[1]["created"], "2"],
    ]
