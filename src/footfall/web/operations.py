"""What operators and tools read without credentials: health, Prometheus metrics and the OpenAPI
document of the API."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from footfall.exceptions import FootfallError
from footfall.web.errors import STORAGE_UNAVAILABLE, status_headers
from footfall.web.routing import Answer, Operation, json_reply
from footfall.web.services import services

__all__ = ["OPERATIONS"]


class Health(msgspec.Struct):
    status: Literal["ok", "unavailable"]
    error: str | msgspec.UnsetType = (
        msgspec.UNSET
    )  # that the database is unavailable (details: logs)


async def health(request: Request) -> Response:
    """The readiness probe: 200 when the database answers, 503 (with Retry-After) when not."""
    try:
        await run_in_threadpool(services(request).store.ping)
    except FootfallError as exc:
        services(request).log.warning(
            "health: storage unavailable", action="health", error=str(exc)
        )
        reply = json_reply(Health("unavailable", STORAGE_UNAVAILABLE))
        reply.status_code = 503
        reply.raw_headers += status_headers(503)
        return reply
    return json_reply(Health("ok"))


async def metrics(request: Request) -> Response:
    registry = services(request).metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> Response:
    """The document is built once, when the app is assembled, from every family's operations."""
    document: bytes = request.app.state.openapi
    return Response(document, media_type="application/json")


OPERATIONS = [
    Operation(
        "GET",
        "/health",
        "Readiness: the database answers",
        health,
        {
            200: Answer("the database answers", Health),
            503: Answer(
                "the database is unavailable; retry later",
                Health,
                headers={"Retry-After": "seconds"},
            ),
        },
        auth="none",
    ),
    Operation(
        "GET",
        "/metrics",
        "Prometheus metrics of this process",
        metrics,
        {200: Answer("the Prometheus text format", media_type="text/plain")},
        auth="none",
        storage=False,
    ),
    Operation(
        "GET",
        "/openapi.json",
        "This document",
        openapi,
        {200: Answer("OpenAPI 3.1", dict[str, Any])},
        auth="none",
        storage=False,
    ),
]
