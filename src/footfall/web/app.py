"""The ASGI application: the write routes on a raw fast path, everything else through Starlette.

Each route family is a module with its ``OPERATIONS``: the router and the OpenAPI document are
both built from them. Families to come (``segment/`` for the Segment API, ``tracker/`` for the
browser tracker, ``dashboard/`` for the dashboard's pages) join ``FAMILIES`` the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl

from starlette.applications import Starlette

from footfall.exceptions import FootfallError
from footfall.web import (
    contact_list,
    contacts,
    events,
    eventtypes,
    failures,
    history,
    identity,
    keys,
    openapi,
    operations,
    templates,
    tokens,
    webhooks,
    workflows,
    workspace,
)
from footfall.web.asgi import ClientDisconnected, Receive, Scope, Send
from footfall.web.errors import Problem, footfall_error, gone, not_found, too_deep
from footfall.web.routing import Operation, routes
from footfall.web.services import Services

__all__ = ["FAMILIES", "FootfallApp", "all_operations"]

FAMILIES = (
    events,
    history,
    contacts,
    contact_list,
    identity,
    eventtypes,
    failures,
    tokens,
    keys,
    webhooks,
    workflows,
    templates,
    workspace,
    operations,
)


def all_operations() -> list[Operation]:
    return [op for family in FAMILIES for op in family.OPERATIONS]


def nul_refusal(scope: Scope) -> str | None:
    """Why the path or query string is refused, when it holds a NUL (written ``%00``): neither
    backend can compare text holding one, so no route lets it reach the database."""
    if "\x00" in scope["path"]:
        return "the path must not contain a NUL character"
    query = scope["query_string"]
    if b"%00" not in query and b"\x00" not in query:
        return None
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            shown = name.replace("\x00", "\\0")[:100]
            return f"query parameter {shown!r} must not contain a NUL character"
    return None


class FootfallApp:
    """Dispatches the write routes to raw ASGI handlers and the rest to Starlette."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.writes = events.WritePaths(services.metrics)

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            await services.start()
            try:
                yield
            finally:
                await services.stop()

        described = all_operations()
        self.framework = Starlette(
            routes=routes(described),
            exception_handlers={
                FootfallError: footfall_error,
                RecursionError: too_deep,
                ClientDisconnected: gone,
                404: not_found,
            },
            lifespan=lifespan,
        )
        self.framework.state.services = services
        self.framework.state.openapi = openapi.encode(described)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            limit = self.services.settings.max_header_bytes
            if sum(len(name) + len(value) for name, value in scope["headers"]) > limit:
                message = f"the request headers are larger than {limit} bytes"
                await Problem(431, "headers_too_large", message).send(send)
                return
            target = len(scope.get("raw_path") or b"") + len(scope["query_string"])
            if target > limit:
                message = f"the request's path and query are longer than {limit} bytes"
                await Problem(414, "uri_too_long", message).send(send)
                return
            refusal = nul_refusal(scope)
            if refusal is not None:
                await Problem(400, "invalid_query", refusal).send(send)
                return
            bound = self.writes.match(scope["path"])
            if bound is not None:
                if scope["method"] != "POST":
                    await events.wrong_method(scope, send)
                    return
                route, metrics = bound
                await events.handle(self.services, route, metrics, scope, receive, send)
                return
        await self.framework(scope, receive, send)
