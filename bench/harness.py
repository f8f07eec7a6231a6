"""What the benchmarks share: paths, the PostgreSQL admin URL, fresh databases, a real
``footfall serve`` process, percentiles."""

from __future__ import annotations

import asyncio
import base64
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
        stop_process(self.process)

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(match.group(1)) / 1024 if match else float("nan")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGINT, then SIGKILL if it has not stopped within 15 s."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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


def start_footfall(
    env: dict[str, str],
    workers: int = 1,
    log: IO[bytes] | None = None,
    no_worker: bool = False,
) -> Server:
    """``footfall serve`` (with ``no_worker``: the API alone, ``--no-worker``)."""
    port = free_port()
    command = [str(BIN / "footfall"), "serve", "--port", str(port), "--workers", str(workers)]
    return start_server(command + ["--no-worker"] * no_worker, port, env, log=log)


def start_worker(env: dict[str, str], log: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    """``footfall worker`` (the background work alone); stop it with ``stop_process``."""
    return subprocess.Popen([str(BIN / "footfall"), "worker"], env=env, cwd=ROOT, stderr=log)


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


async def open_loop(
    url: str,
    key: str,
    bodies: Sequence[bytes],
    rate: float,
    seconds: float,
    connections: int,
    path: str = "/api/v2/event",
) -> list[tuple[float, float]]:
    """Open-loop load: request i (body i modulo their number) is due at start + i/rate, sent on
    connection i modulo ``connections``; for each, (when it was due, when its 200 had arrived),
    both ``time.monotonic()``. Any other answer raises."""
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Basic "
        + base64.b64encode(f":{key}".encode()).decode()
        + "\r\nContent-Type: application/json\r\nContent-Length: "
    ).encode()
    total = int(rate * seconds)
    queues: list[asyncio.Queue[tuple[int, float] | None]] = [
        asyncio.Queue() for _ in range(connections)
    ]
    replies: list[tuple[float, float]] = [(0.0, 0.0)] * total

    async def connection(queue: asyncio.Queue[tuple[int, float] | None]) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        while (job := await queue.get()) is not None:
            i, due = job
            body = bodies[i % len(bodies)]
            writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
            answer = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", answer, re.I).group(1))  # type: ignore[union-attr]
            if length:
                await reader.readexactly(length)
            if not answer.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(answer.decode(errors="replace"))
            replies[i] = (due, time.monotonic())
        writer.close()

    workers = [asyncio.create_task(connection(q)) for q in queues]
    start = time.monotonic() + 0.2
    for i in range(total):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        queues[i % connections].put_nowait((i, due))
    for queue in queues:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return replies


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
