"""Slow and silent clients against a real ``footfall serve``: a connection that says nothing,
trickles its headers or never finishes its body is let go within FOOTFALL_REQUEST_TIMEOUT_SECONDS,
and a process holds at most FOOTFALL_MAX_CONNECTIONS connections (503 beyond), on both backends."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from test_cli import Database, Served, base_env, last_json, start_serve, stop

from conftest import BACKENDS, NO_TLS_HERE, basic, migrated_database

TIMEOUT = 1.0


@pytest.fixture(scope="module", params=BACKENDS)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Database, Served]]:
    """One server per backend for the module (a start takes seconds); each test's connections
    and workspace are its own."""
    data_dir = tmp_path_factory.mktemp("slow-clients")
    with migrated_database(request.param, data_dir) as url:
        env = base_env() | {
            "FOOTFALL_DATA_DIR": str(data_dir),
            "FOOTFALL_DATABASE_URL": url,
            "FOOTFALL_REQUEST_TIMEOUT_SECONDS": str(TIMEOUT),
            "FOOTFALL_MAX_CONNECTIONS": "20",
        }
        database = Database(request.param, url, env, data_dir)
        server = start_serve(database, data_dir / "serve.log")
        try:
            yield database, server
        finally:
            stop(server.process)


@pytest.fixture
def database(deployment: tuple[Database, Served]) -> Database:
    return deployment[0]


@pytest.fixture
def served(deployment: tuple[Database, Served]) -> Served:
    return deployment[1]


def new_key(database: Database) -> str:
    name = f"slow-{uuid.uuid4().hex[:8]}"
    return str(last_json(database.ok("workspace", "create", name, "--json"))["api_key"])


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def closed_after(sock: socket.socket) -> tuple[float, bytes]:
    """Seconds until the server closed the connection, and what it said first."""
    started = time.monotonic()
    received = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return time.monotonic() - started, received
        received += chunk


@pytest.mark.parametrize(
    "sent",
    [b"", b"POST /api/v2/event HTTP/1.1\r\nHost: x\r\n", b"GET /hea"],
    ids=["silent", "headers-unfinished", "request-line-unfinished"],
)
def test_a_connection_that_never_finishes_its_head_is_closed(served: Served, sent: bytes) -> None:
    with connect(served.url) as sock:
        sock.sendall(sent)
        seconds, said = closed_after(sock)
    assert seconds < TIMEOUT + 3, seconds
    assert said == b""


def test_trickled_headers_do_not_keep_a_connection(served: Served) -> None:
    """One header byte every 0.3 s would keep uvicorn's own timers quiet for ever."""
    with connect(served.url) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        started = time.monotonic()
        with pytest.raises(OSError):
            for _ in range(40):
                sock.sendall(b"X")
                time.sleep(0.3)
    assert time.monotonic() - started < TIMEOUT + 3


@pytest.mark.parametrize("path", ["/api/v2/event", "/api/v1/contact"])
def test_a_body_that_does_not_arrive_is_408(database: Database, served: Served, path: str) -> None:
    """Content-Length promises 100 bytes, 15 come: 408 after the timeout, on the raw write path
    and on the framework's routes alike."""
    key = new_key(database)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: 100\r\nAuthorization: {basic(key)['Authorization']}\r\n\r\n"
    ).encode()
    with connect(served.url) as sock:
        sock.sendall(head + b'{"eventTypeKey"')
        started = time.monotonic()
        said = sock.recv(65536)
        seconds = time.monotonic() - started
        while b"did not" not in said and (more := sock.recv(65536)):
            said += more
    assert said.startswith(b"HTTP/1.1 408 "), said
    assert b"did not arrive within 1 seconds" in said
    assert seconds < TIMEOUT + 3


def test_connections_beyond_the_limit_are_503_and_the_service_recovers(served: Served) -> None:
    held = [connect(served.url) for _ in range(25)]
    try:
        time.sleep(0.2)
        answer = httpx.get(f"{served.url}/health", timeout=5, verify=NO_TLS_HERE)
        assert answer.status_code == 503, answer.text
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 5
    while httpx.get(f"{served.url}/health", timeout=5, verify=NO_TLS_HERE).status_code != 200:
        assert time.monotonic() < deadline, "the service did not recover"
        time.sleep(0.1)


def test_each_request_on_a_kept_alive_connection_has_its_own_deadline(
    database: Database, served: Served
) -> None:
    """Requests that arrive in time keep the connection past the first request's deadline; a
    later request whose body stalls is answered 408 within the timeout of its own start."""
    key = new_key(database)
    body = b'{"eventTypeKey":"kept","keyValue":"k"}'

    def head(length: int) -> bytes:
        return (
            f"POST /api/v2/event HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\nAuthorization: {basic(key)['Authorization']}\r\n\r\n"
        ).encode()

    with connect(served.url) as sock:
        for _ in range(3):  # 1.8 s in all: beyond the first request's deadline
            sock.sendall(head(len(body)) + body)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
            time.sleep(0.6)
        sock.sendall(head(100) + body)
        seconds, said = closed_after(sock)
    assert said.startswith(b"HTTP/1.1 408 "), said
    assert TIMEOUT - 0.2 < seconds < TIMEOUT + 1.5, seconds
