"""Bearer tokens: an HTTP Basic key exchanged for a token that the event routes accept, so that a
client need not send its key with every event."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from footfall.web.auth import basic_key
from footfall.web.routing import Answer, Operation, json_reply
from footfall.web.services import services

__all__ = ["OPERATIONS"]


async def issue_token(request: Request) -> Response:
    key = await basic_key(request)
    token: str = await run_in_threadpool(services(request).auth.issue_token, key)
    return json_reply(token)


OPERATIONS = [
    Operation(
        "POST",
        "/api/v1/auth/token",
        "A bearer token for the event routes",
        issue_token,
        {200: Answer("the token, a JSON string; it expires after FOOTFALL_TOKEN_TTL_SECONDS", str)},
        auth="basic",
    ),
]
