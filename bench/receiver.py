"""A fast webhook receiver for the benchmarks, in a process of its own: HTTP/1.1 on 127.0.0.1.

It answers every request 200 with an empty body (keep-alive; bodies by Content-Length only) and
records, for each item a delivery carries, the ``keyValue`` and when its request had arrived in
full (``time.monotonic()``, CLOCK_MONOTONIC: comparable across the processes of one host). The
first arrival of a key counts; a key sent again (at least once) is counted as a repeat.

tests/receiver.py is the tests' receiver, built to misbehave on cue and to keep every request;
this one only has to keep up, so it is an ``asyncio.Protocol`` on uvloop, decodes nothing but
the keys, and is asked for its figures over a pipe.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, cast

import msgspec
import uvloop

_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


class _Item(msgspec.Struct):
    keyValue: str = ""  # noqa: N815 (the wire's name)


_decode = msgspec.json.Decoder(list[_Item]).decode


@dataclass
class Tally:
    """What has arrived: each key's first arrival, and the counts a run reports."""

    arrivals: dict[str, float]
    requests: int = 0
    connections: int = 0
    items: int = 0  # with repeats
    first_at: float | None = None
    last_at: float | None = None

    def record(self, body: bytes, at: float) -> None:
        self.requests += 1
        if not body:  # the URL check's GET
            return
        keys = _decode(body)
        self.items += len(keys)
        for item in keys:
            self.arrivals.setdefault(item.keyValue, at)
        self.first_at = self.first_at or at
        self.last_at = at


class _Http(asyncio.Protocol):
    def __init__(self, tally: Callable[[], Tally]) -> None:
        self._tally = tally
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._tally().connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            match = _LENGTH.search(self.buffer, 0, end + 2)
            length = int(match.group(1)) if match else 0
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            self._tally().record(body, time.monotonic())
            assert self.transport is not None
            self.transport.write(_OK)


async def _serve(sock: socket.socket, control: Connection) -> None:
    tally = Tally({})
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Http(lambda: tally), sock=sock)
    done = loop.create_future()

    def command() -> None:
        nonlocal tally
        what = control.recv()
        if what == "count":
            control.send((len(tally.arrivals), tally.items, tally.requests))
        elif what == "take":  # the figures so far, and start afresh
            control.send(tally)
            tally = Tally({})
        elif what == "stop" and not done.done():
            done.set_result(None)

    loop.add_reader(control.fileno(), command)
    os.set_blocking(control.fileno(), True)  # add_reader made it non-blocking: a large send fails
    async with server:
        await done


def _main(sock: socket.socket, control: Connection) -> None:
    uvloop.run(_serve(sock, control))


class ReceiverProcess:
    """The receiver, started on a free port; ``count`` and ``take`` ask it what has arrived."""

    def __init__(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        self.port = int(sock.getsockname()[1])
        self._control, theirs = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("fork").Process(
            target=_main, args=(sock, theirs), daemon=True
        )
        self._process.start()
        sock.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def pid(self) -> int:
        return int(self._process.pid or 0)

    def _ask(self, what: str) -> Any:
        self._control.send(what)
        if not self._control.poll(30):
            raise RuntimeError("the receiver did not answer")
        return self._control.recv()

    def count(self) -> tuple[int, int, int]:
        """(distinct keys, items with repeats, requests) so far."""
        distinct, items, requests = self._ask("count")
        return int(distinct), int(items), int(requests)

    def take(self) -> Tally:
        tally: Tally = self._ask("take")
        return tally

    def wait_for(self, keys: int, seconds: float, poll: float = 0.05) -> float | None:
        """Wait until ``keys`` distinct keys have arrived; when (monotonic) it was seen, or None
        after ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.count()[0] >= keys:
                return time.monotonic()
            time.sleep(poll)
        return None

    def stop(self) -> None:
        self._control.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
