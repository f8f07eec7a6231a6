"""The ceiling: a bare ASGI handler on the same server stack that only parses the JSON body and answers 200."""

from __future__ import annotations

from typing import Any

import msgspec

_decode = msgspec.json.decode


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
            await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if body:
        _decode(body)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"0")],
        }
    )
    await send({"type": "http.response.body", "body": b""})
