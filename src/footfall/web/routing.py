"""The route table's types: each route family lists its operations once, with the types its
handlers decode and encode, and both the router and the OpenAPI document are built from that list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

__all__ = ["Answer", "Auth", "Endpoint", "Operation", "Param", "json_reply", "routes"]

Endpoint = Callable[[Request], Awaitable[Response]]
# full: HTTP Basic with a full-scope key; events: Basic with any key, or a bearer token;
# basic: Basic with any key; none: no credentials.
Auth = Literal["full", "events", "basic", "none"]


@dataclass(frozen=True, slots=True)
class Param:
    """A query or path parameter; ``type`` is what msgspec describes (annotations included)."""

    name: str
    where: Literal["query", "path"]
    description: str
    type: object = str
    required: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    """A documented success: a JSON body of ``body``'s type, text, or (media type None) nothing."""

    description: str
    body: object = None
    media_type: str | None = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)  # name -> what it says


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    summary: str
    endpoint: Endpoint | None  # None: served by the raw ASGI path (the write routes)
    answers: Mapping[int, Answer]
    auth: Auth = "full"
    request: object = None  # the JSON body's type
    params: tuple[Param, ...] = ()
    errors: tuple[int, ...] = ()  # besides those its auth, parameters and body imply
    storage: bool = True  # reads or writes the database (503 when it is unavailable)

    def error_statuses(self) -> list[int]:
        """Every refusal this operation can answer with."""
        implied = set(self.errors)
        if self.auth != "none":
            implied.add(401)
        if self.auth == "full":
            implied.add(403)
        if self.request is not None or self.params:
            implied.add(400)
        if self.request is not None:
            implied.add(413)
        if any(p.where == "path" for p in self.params):
            implied.add(404)
        if self.storage:
            implied.add(503)
        return sorted(implied)


def json_reply(
    value: object, headers: Mapping[str, str] | None = None, status: int = 200
) -> Response:
    """A JSON response encoded from a response struct, so what is sent is what is documented."""
    return Response(
        msgspec.json.encode(value), status, headers=headers, media_type="application/json"
    )


def routes(operations: Iterable[Operation]) -> list[Route]:
    """Starlette routes of the operations it serves; each also answers with a trailing slash (a
    twin route, not Starlette's redirect, so clients that do not follow 307 are served too)."""
    found = [
        Route(op.path, op.endpoint, methods=[op.method])
        for op in operations
        if op.endpoint is not None
    ]
    slashed = [Route(r.path + "/", r.endpoint, methods=sorted(r.methods or [])) for r in found]
    return found + slashed
