"""What a hostile receiver can make the sender read: at most ANSWER_BUDGET bytes a request.

Real sockets on 127.0.0.1: each receiver here is a raw asyncio server in the test's own loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from footfall.outbound import sender as sender_module
from footfall.outbound.guard import AllowList
from footfall.outbound.sender import ANSWER_BUDGET, Outcome, Sender

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
TIMEOUT = 10.0


async def read_request(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    await reader.readexactly(length)


async def post_to(handler: Handler, posts: int = 1) -> tuple[list[Outcome], float, int]:
    """Start ``handler`` on a free loopback port, POST to it ``posts`` times in a row; the
    outcomes, the seconds they took, and how many connections the receiver accepted."""
    accepted = 0

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the sender hung up, or the test is over
        finally:
            writer.close()

    server = await asyncio.start_server(counted, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = Sender(AllowList.parse("127.0.0.1"), TIMEOUT)
    started = time.monotonic()
    try:
        outcomes = [
            await sender.post(f"http://127.0.0.1:{port}/hook", b"[]", {}) for _ in range(posts)
        ]
    finally:
        await sender.close()
        server.close()
    return outcomes, time.monotonic() - started, accepted


async def endless_continues(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    while True:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" * 500)
        await writer.drain()


async def endless_chunk_extensions(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await read_request(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"1;" + b"x" * 8000 + b"\r\na\r\n"
    while True:
        writer.write(chunk * 16)
        await writer.drain()


def test_an_endless_stream_of_informational_answers_is_cut_at_the_budget() -> None:
    (outcome,), seconds, _ = asyncio.run(post_to(endless_continues))
    assert not outcome.delivered
    assert outcome.error is not None and f"{ANSWER_BUDGET // 1024} KiB" in outcome.error
    assert seconds < TIMEOUT / 2  # cut by the budget, not by the timeout


def test_a_2xx_with_an_endless_body_is_delivered_and_its_connection_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without the budget the body would be parsed until the timeout (the release time is
    longer here), and the delivery would fail although the receiver answered 200."""
    monkeypatch.setattr(sender_module, "RELEASE_SECONDS", TIMEOUT * 3)
    (outcome,), seconds, _ = asyncio.run(post_to(endless_chunk_extensions))
    assert outcome.delivered and outcome.status_code == 200
    assert seconds < 1.0  # 256 KiB read (without the budget: until the timeout)


def test_the_budget_is_per_request_on_a_kept_alive_connection() -> None:
    """Six answers of 60 KiB on one connection: more than the budget in all, each within it."""

    async def sixty_kib_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = b"y" * (60 * 1024)
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()

    outcomes, _, accepted = asyncio.run(post_to(sixty_kib_each, posts=6))
    assert ANSWER_BUDGET < 6 * 60 * 1024
    assert [o.delivered for o in outcomes] == [True] * 6
    assert accepted == 1


def test_what_a_garbled_answer_makes_the_client_say_is_kept_short() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 2" + b"\xff" * 15_000 + b"\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    (outcome,), _, _ = asyncio.run(post_to(garbage))
    assert not outcome.delivered
    assert outcome.error is not None and len(outcome.error) <= 301
