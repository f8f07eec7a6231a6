"""What the benchmarks share: paths, the PostgreSQL admin URL, fresh databases, a real
``footfall serve`` process, percentiles."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import psycopg

from footfall.config import Settings
from footfall.store.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# The YooChoose sample as session-rec prepares it; on the project's machines it sits beside the clone.
DATA = Path(
    os.environ.get(
        "FOOTFALL_BENCH_DATA", ROOT.parent / "shared" / "data" / "yoochoose-rsc15-100k" / "prepared"
    )
)
POSTGRES_ADMIN = os.environ.get(
    "FOOTFALL_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(match.group(1)) / 1024 if match else float("nan")


def start_server(
    command: list[str],
    port: int,
    env: dict[str, str] | None = None,
    probe: str = "/health",
    log: IO[bytes] | None = None,
) -> Server:
    """Start ``command`` (listening on ``port``, its stderr to ``log`` if given) and wait until
    ``probe`` answers."""
    process = subprocess.Popen(command, env=env, cwd=ROOT, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url + probe)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return Server(process, url)


def start_footfall(env: dict[str, str], workers: int = 1, log: IO[bytes] | None = None) -> Server:
    port = free_port()
    command = [str(BIN / "footfall"), "serve", "--port", str(port), "--workers", str(workers)]
    return start_server(command, port, env, log=log)


def backend_env(backend: str, workdir: Path) -> tuple[dict[str, str], str | None]:
    """The environment of a Footfall process on a fresh database; the PostgreSQL one's name."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")}
    env["FOOTFALL_DATA_DIR"] = str(workdir / backend)
    if backend == "sqlite":
        return env, None
    name = f"footfall_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env["FOOTFALL_DATABASE_URL"] = POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + name
    return env, name


def migrated_settings(env: dict[str, str]) -> Settings:
    """The settings of the fresh database ``backend_env`` made, its schema migrated (for the
    benchmarks that fill a database through the store)."""
    settings = Settings(
        data_dir=Path(env["FOOTFALL_DATA_DIR"]), database_url=env.get("FOOTFALL_DATABASE_URL", "")
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    return settings


def drop_database(name: str | None) -> None:
    if name:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


def create_workspace(env: dict[str, str], prefix: str = "bench") -> tuple[str, str]:
    """A new workspace made by the real CLI on the database of ``env``: its name and full key."""
    out = subprocess.run(
        [
            str(BIN / "footfall"),
            "workspace",
            "create",
            f"{prefix}-{uuid.uuid4().hex[:6]}",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    made = json.loads(out.strip().splitlines()[-1])
    return str(made["workspace"]), str(made["api_key"])


def create_key(env: dict[str, str], prefix: str = "bench") -> str:
    """A new workspace's full key, made by the real CLI on the database of ``env``."""
    return create_workspace(env, prefix)[1]
