"""The ASGI application: write routes on a raw fast path, everything else through Starlette."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from footfall.exceptions import FootfallError
from footfall.web import contacts, read, types
from footfall.web.errors import status_for
from footfall.web.ingest import Receive, Scope, Send, handle, match, send_reply


async def _footfall_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FootfallError)
    status, _ = status_for(exc)
    headers = {"WWW-Authenticate": 'Basic realm="footfall"'} if status == 401 else None
    return PlainTextResponse(str(exc), status_code=status, headers=headers)


def _routes() -> list[Route]:
    routes = [
        Route("/api/v1/events", read.list_events, methods=["GET"]),
        Route("/api/v1/auth/token", read.issue_token, methods=["POST"]),
        Route("/health", read.health, methods=["GET"]),
        Route("/metrics", read.metrics, methods=["GET"]),
        *contacts.ROUTES,
        *types.ROUTES,
    ]
    slashed = [
        Route(r.path + "/", r.endpoint, methods=sorted(r.methods or []))
        for r in routes
        if r.path.startswith("/api/")
    ]
    return routes + slashed


class FootfallApp:
    """Dispatches the write routes to raw ASGI handlers and the rest to Starlette."""

    def __init__(self, services: Any) -> None:
        self.services = services

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            await services.start()
            try:
                yield
            finally:
                await services.stop()

        self.framework = Starlette(
            routes=_routes(),
            exception_handlers={FootfallError: _footfall_error, 404: read.not_found},
            lifespan=lifespan,
        )
        self.framework.state.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = match(scope["path"])
            if route is not None:
                if scope["method"] != "POST":
                    body = f"{scope['path']} accepts POST only".encode()
                    await send_reply(
                        send, 405, body, (b"content-type", b"text/plain"), [(b"allow", b"POST")]
                    )
                    return
                await handle(self.services, route, scope, receive, send)
                return
        await self.framework(scope, receive, send)
