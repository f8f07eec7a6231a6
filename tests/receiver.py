"""A real HTTP/1.1 endpoint on 127.0.0.1 for webhook tests, told while running how to answer.

Tests of outgoing deliveries need the failures a real endpoint has on the socket itself: a
request that is read and never answered (the client's timeout must fire), a connection reset
(RST, not an orderly close), a port that refuses connections and later listens again on the
same port. ``httpx.MockTransport`` cannot show those, so this serves real sockets, on an asyncio
loop in a thread of its own, and records every request that arrived in full, whatever it was
answered.

While down, the port stays bound without listening, so connecting is refused and no other
socket can take the port before ``up()``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, Literal, TypeVar

from standardwebhooks.webhooks import Webhook

__all__ = ["Answered", "Headers", "Received", "Receiver", "verify"]

HOST = "127.0.0.1"
Answered = int | Literal["hang", "reset"]
"""What a request was answered: a status, or ``"hang"`` / ``"reset"``; also a script entry."""

_T = TypeVar("_T")
_CONTROL_TIMEOUT = 5.0


class Headers(Mapping[str, str]):
    """Request headers looked up without regard to case; repeated ones joined by ", "."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.pairs = tuple(pairs)
        joined: dict[str, str] = {}
        for name, value in self.pairs:
            key = name.lower()
            joined[key] = f"{joined[key]}, {value}" if key in joined else value
        self._joined = joined

    def __getitem__(self, name: str) -> str:
        return self._joined[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._joined)

    def __len__(self) -> int:
        return len(self._joined)

    def __repr__(self) -> str:
        return f"Headers({list(self.pairs)!r})"


@dataclass(frozen=True)
class Received:
    """One request, as it arrived; ``at`` is ``time.monotonic()`` once its head had arrived.

    ``connection`` numbers the receiver's connections from 1, to tell kept-alive ones apart."""

    method: str
    path: str
    headers: Headers
    body: bytes
    at: float
    answered: Answered
    connection: int

    def json(self) -> Any:
        return json.loads(self.body)


def verify(secret: str, received: Received) -> Any:
    """The parsed body, once its Standard Webhooks signature checks out with ``secret``.

    Raises ``standardwebhooks.webhooks.WebhookVerificationError`` when it does not."""
    return Webhook(secret).verify(received.body.decode(), dict(received.headers))


@dataclass(frozen=True)
class _Answer:
    kind: Literal["status", "hang", "reset"] = "status"
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0

    @property
    def answered(self) -> Answered:
        return self.status if self.kind == "status" else self.kind


def _status(code: int, headers: Mapping[str, str] | None = None) -> _Answer:
    if isinstance(code, bool) or not isinstance(code, int) or not 200 <= code <= 599:
        raise ValueError(f"a status from 200 to 599, not {code!r}")
    return _Answer(status=code, headers=tuple((headers or {}).items()))


def _scripted(entry: Answered) -> _Answer:
    if entry == "hang" or entry == "reset":
        return _Answer(kind=entry)
    if isinstance(entry, str):
        raise ValueError(f"a script entry is a status, 'hang' or 'reset', not {entry!r}")
    return _status(entry)


class Receiver:
    """One endpoint: any path is accepted; start several receivers for several endpoints.

    The answer to a request is the next scripted one, else the current mode (200 at first).
    ``down()`` drops every open connection, hung ones too, as an endpoint that died would."""

    def __init__(self, port: int = 0, host: str = HOST) -> None:
        if not host.startswith("127."):
            raise ValueError("receivers listen on loopback (127.0.0.0/8) only")
        self._host = host
        self._port = port
        self._lock = threading.Condition()
        self._mode = _Answer()
        self._script: deque[_Answer] = deque()
        self._requests: list[Received] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._held: socket.socket | None = None
        self._connections: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}
        self._opened = 0
        self._released = asyncio.Event()

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the receiver has no port until it starts")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}/hook"

    def start(self) -> Receiver:
        if self._loop is not None:
            raise RuntimeError("the receiver is already running")
        self._held = _bind(self._host, self._port)
        self._port = int(self._held.getsockname()[1])
        self._released = asyncio.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"receiver-{self._port}", daemon=True
        )
        self._thread.start()
        try:
            self.up()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Close every socket and end the thread; a hung request is dropped unanswered."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self._call(self._close)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_CONTROL_TIMEOUT)
            if thread.is_alive():
                raise RuntimeError(f"the thread of the receiver on port {self._port} did not end")
            loop.close()
            self._loop = self._thread = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # How to answer.

    def ok(self) -> None:
        self._set_mode(_Answer())

    def status(self, code: int, headers: Mapping[str, str] | None = None) -> None:
        """Answer ``code`` with ``headers`` (a ``Location`` for a redirect, say) and no body."""
        self._set_mode(_status(code, headers))

    def hang(self) -> None:
        """Read requests and answer none until ``release()``, ``down()`` or ``stop()``."""
        self._set_mode(_Answer(kind="hang"))

    def release(self) -> None:
        """Answer 200 to the requests hanging now; later ones hang while the mode is ``hang``."""
        self._call(self._release)

    def reset(self) -> None:
        """Read each request, then close its connection with a TCP RST (SO_LINGER 0)."""
        self._set_mode(_Answer(kind="reset"))

    def slow(self, seconds: float) -> None:
        self._set_mode(_Answer(delay=seconds))

    def script(self, answers: Sequence[Answered]) -> None:
        """Answer the next requests with these, in order, then by the mode; replaces a script."""
        parsed = deque(_scripted(entry) for entry in answers)
        with self._lock:
            self._script = parsed

    def down(self) -> None:
        """Stop listening, so that connecting to the port is refused; drop open connections."""
        self._call(self._down)

    def up(self) -> None:
        """Listen again, on the same port."""
        self._call(self._up)

    # What arrived.

    @property
    def requests(self) -> list[Received]:
        with self._lock:
            return list(self._requests)

    def posts(self) -> list[Received]:
        return [r for r in self.requests if r.method == "POST"]

    def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = 10.0
    ) -> list[Received]:
        """The requests, once ``predicate`` holds for them; AssertionError after ``timeout``."""
        with self._lock:
            if self._lock.wait_for(lambda: predicate(list(self._requests)), timeout):
                return list(self._requests)
            seen = list(self._requests)
        arrived = "".join(f"\n  {r.method} {r.path} -> {r.answered}" for r in seen)
        raise AssertionError(
            f"the receiver on port {self._port} waited {timeout:g} s in vain;"
            f" requests that arrived: {len(seen)}{arrived}"
        )

    # The loop's side.

    def _set_mode(self, answer: _Answer) -> None:
        with self._lock:
            self._mode = answer

    def _call(self, action: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
        if self._loop is None:
            raise RuntimeError("the receiver is not running")
        future = asyncio.run_coroutine_threadsafe(action(), self._loop)
        return future.result(_CONTROL_TIMEOUT)

    async def _up(self) -> None:
        if self._server is not None:
            return
        held, self._held = self._held or _bind(self._host, self.port), None
        self._server = await asyncio.start_server(self._serve, sock=held)

    async def _down(self) -> None:
        if self._server is None:
            return
        await self._close()
        self._held = _bind(self._host, self.port)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._held is not None:
            self._held.close()
            self._held = None
        for task, writer in list(self._connections.items()):
            writer.transport.abort()
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await asyncio.sleep(0)  # the aborted transports close their sockets

    async def _release(self) -> None:
        self._released.set()
        self._released = asyncio.Event()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if self._server is None or task is None:  # accepted just before going down
            writer.transport.abort()
            return
        self._connections[task] = writer
        self._opened += 1
        number = self._opened
        try:
            while await self._exchange(reader, writer, number):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away
        except ValueError:
            pass  # it spoke something else than HTTP/1.1
        except asyncio.CancelledError:
            pass  # by _close alone; ending quietly keeps asyncio from logging it as an error
        finally:
            del self._connections[task]
            writer.close()

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connection: int
    ) -> bool:
        """Read one request and answer it; whether the connection stays open."""
        head = await reader.readuntil(b"\r\n\r\n")
        at = time.monotonic()
        method, path, version, headers = _parse_head(head)
        body = await _read_body(reader, headers)
        with self._lock:
            answer = self._script.popleft() if self._script else self._mode
            received = Received(method, path, headers, body, at, answer.answered, connection)
            self._requests.append(received)
            self._lock.notify_all()
        if answer.kind == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if answer.kind == "hang":
            await self._released.wait()
        await asyncio.sleep(answer.delay)
        keep = _keeps_alive(version, headers)
        writer.write(_response(answer, keep))
        await writer.drain()
        return keep


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to the port on loopback, not yet listening: connecting is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _parse_head(head: bytes) -> tuple[str, str, str, Headers]:
    request_line, *lines = head[:-4].decode("latin-1").split("\r\n")
    method, path, version = request_line.split(" ")
    if not version.startswith("HTTP/1."):
        raise ValueError(f"not HTTP/1.x: {request_line!r}")
    pairs = [line.partition(":") for line in lines]
    return method, path, version, Headers((name.strip(), value.strip()) for name, _, value in pairs)


async def _read_body(reader: asyncio.StreamReader, headers: Headers) -> bytes:
    if "chunked" not in headers.get("transfer-encoding", "").lower():
        return await reader.readexactly(int(headers.get("content-length", "0")))
    chunks = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
    while await reader.readuntil(b"\r\n") != b"\r\n":
        pass  # trailers
    return b"".join(chunks)


def _keeps_alive(version: str, headers: Headers) -> bool:
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    return version != "HTTP/1.0" and "close" not in tokens


def _response(answer: _Answer, keep: bool) -> bytes:
    try:
        phrase = HTTPStatus(answer.status).phrase
    except ValueError:
        phrase = "Unknown"
    lines = [f"HTTP/1.1 {answer.status} {phrase}"]
    lines += [f"{name}: {value}" for name, value in answer.headers]
    if answer.status not in (204, 304):
        lines.append("content-length: 0")
    if not keep:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
