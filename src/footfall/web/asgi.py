"""Raw ASGI plumbing for the write routes, which skip the framework to answer in microseconds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from footfall.exceptions import BodyTooLarge

__all__ = [
    "JSON",
    "TEXT",
    "ClientDisconnected",
    "Header",
    "Receive",
    "Reply",
    "Scope",
    "Send",
    "read_body",
    "send_reply",
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Header = tuple[bytes, bytes]
Reply = tuple[int, bytes]  # status and a JSON body; an empty body is sent as text

TEXT: Header = (b"content-type", b"text/plain; charset=utf-8")
JSON: Header = (b"content-type", b"application/json")


class ClientDisconnected(Exception):
    """The client went away before its body arrived: there is no one to answer."""


async def read_body(receive: Receive, headers: dict[bytes, bytes], limit: int) -> bytes:
    """The whole body, refused (413) as soon as it is known to exceed ``limit`` bytes; what was
    read by then travels with the 413, for the failed-event log. (A body that does not arrive
    in time is answered by the server's protocol: ``footfall.web.protocol``.)"""
    declared = headers.get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(
            f"the body is {int(declared)} bytes; the limit is {limit} bytes", size=int(declared)
        )
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(
                f"the body is over {limit} bytes; the limit is {limit} bytes",
                prefix=b"".join(chunks) + chunk,
                size=size,
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_reply(
    send: Send, status: int, body: bytes, header: Header, extra: Sequence[Header] = ()
) -> None:
    headers = [header, (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
