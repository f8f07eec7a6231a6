"""The write routes (events, past events, orders) as raw ASGI handlers: the hot path skips the
framework, and does no more per request than authenticate, read the body and call ingestion."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec

from footfall.access import require_scope
from footfall.exceptions import (
    BodyTooLarge,
    FootfallError,
    InvalidEvent,
    MalformedBody,
    RateLimited,
    StorageUnavailable,
)
from footfall.ingest.models import EventBody, PastEventBody
from footfall.ingest.service import Ingestion
from footfall.metrics import Metrics, RouteMetrics
from footfall.store.rows import ApiKey
from footfall.web.asgi import (
    JSON,
    TEXT,
    ClientDisconnected,
    Receive,
    Reply,
    Scope,
    Send,
    read_body,
    send_reply,
)
from footfall.web.auth import authenticate
from footfall.web.errors import TOO_DEEP, Problem, problem
from footfall.web.routing import Answer, Operation
from footfall.web.services import Services

Handler = Callable[[Ingestion, ApiKey, bytes, RouteMetrics], Awaitable[Reply]]
_OK: Reply = (200, b"")
_json = msgspec.json.Encoder()


class PastStatus(msgspec.Struct):
    status: str
    error: str | msgspec.UnsetType = msgspec.UNSET  # why an INVALID_EVENT was refused


class PastEventsReply(msgspec.Struct, rename="camel"):
    results: list[PastStatus]
    success_count: int
    error_count: int


class FailedOrder(msgspec.Struct):
    order: Any
    error: str


class OrdersReply(msgspec.Struct, rename="camel"):
    failed_orders: list[FailedOrder]


class PastEventsRequest(msgspec.Struct):
    """The batch as documented: each item is decoded as a ``PastEventBody`` on its own."""

    events: Annotated[list[PastEventBody], msgspec.Meta(max_length=500)]


class Order(msgspec.Struct, rename="camel"):
    """An order as documented; each is validated on its own, so one bad order fails alone."""

    external_order_id: str | int
    total_cost: float
    status: Literal[
        "INITIALIZED", "IN_PROGRESS", "DELIVERED", "CANCELLED", "ABANDONED_SHOPPING_CART"
    ]
    date: str
    currency: str
    external_customer_id: str | None = None
    email: str | None = None
    phone: str | None = None
    items: list[dict[str, Any]] | None = None


class OrdersRequest(msgspec.Struct):
    orders: Annotated[list[Order], msgspec.Meta(max_length=1000)]


def _event(version: int) -> Handler:
    async def handler(ingest: Ingestion, key: ApiKey, body: bytes, m: RouteMetrics) -> Reply:
        await ingest.event(key, version, body)
        m.accepted.inc()
        return _OK

    return handler


def _past(version: int) -> Handler:
    async def handler(ingest: Ingestion, key: ApiKey, body: bytes, m: RouteMetrics) -> Reply:
        result = await ingest.past_events(key, version, body)
        m.accepted.inc(result.accepted)
        if result.errors:
            m.rejected("invalid", result.errors)
        statuses = [
            PastStatus(o.status) if o.error is None else PastStatus(o.status, o.error)
            for o in result.outcomes
        ]
        return 200, _json.encode(PastEventsReply(statuses, result.accepted, result.errors))

    return handler


async def _orders(ingest: Ingestion, key: ApiKey, body: bytes, m: RouteMetrics) -> Reply:
    result = await ingest.orders(key, body)
    m.accepted.inc(result.accepted)
    if result.failed:
        m.rejected("invalid", len(result.failed))
    failed = [FailedOrder(item["order"], item["error"]) for item in result.failed]
    return 200, _json.encode(OrdersReply(failed))


@dataclass(frozen=True, slots=True)
class WriteRoute:
    name: str  # the metrics label and the failed-event log's route
    scope: str  # "events" or "full"
    batch: bool  # the larger body limit applies
    bearer: bool  # accepts bearer tokens
    handler: Handler
    logs_failures: bool  # refused events go to the failed-event log


ROUTES: dict[str, WriteRoute] = {
    "/api/v2/event": WriteRoute("v2/event", "events", False, True, _event(2), True),
    "/api/v1/event": WriteRoute("v1/event", "events", False, True, _event(1), True),
    "/api/v2/past_events": WriteRoute("v2/past_events", "events", True, True, _past(2), True),
    "/api/v1/past_events": WriteRoute("v1/past_events", "events", True, True, _past(1), True),
    "/api/v1/orders": WriteRoute("v1/orders", "full", True, False, _orders, False),
}


class WritePaths:
    """The write routes of one app, each with its metrics bound once (label look-ups are slow)."""

    def __init__(self, metrics: Metrics) -> None:
        self._bound = {
            path: (route, RouteMetrics(metrics, route.name)) for path, route in ROUTES.items()
        }

    def match(self, path: str) -> tuple[WriteRoute, RouteMetrics] | None:
        return self._bound.get(path[:-1] if path.endswith("/") else path)


async def wrong_method(scope: Scope, send: Send) -> None:
    message = f"{scope['path']} accepts POST only"
    await send_reply(send, 405, message.encode(), TEXT, [(b"allow", b"POST")])


def _admit(services: Services, route: WriteRoute, key: ApiKey) -> None:
    """The key may call this route, and has not exceeded its rate."""
    if route.scope == "full":
        require_scope(key, "full")
    if not services.limiter.allow(key.key_id):
        raise RateLimited(
            f"rate limit of {services.limiter.per_second:g} requests per second exceeded"
        )


async def handle(
    services: Services,
    route: WriteRoute,
    m: RouteMetrics,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    started = time.perf_counter()
    headers = dict(scope["headers"])
    key = None
    body = b""
    try:
        key = await authenticate(services, headers.get(b"authorization"), route.bearer)
        _admit(services, route, key)
        settings = services.settings
        limit = settings.max_batch_body_bytes if route.batch else settings.max_body_bytes
        body = await read_body(receive, headers, limit)
        status, payload = await route.handler(services.ingestion, key, body, m)
    except ClientDisconnected:
        return
    except FootfallError as exc:
        await _refuse(services, route, m, key, body, exc, send)
        return
    except RecursionError:  # as Starlette's handler does on the other routes
        await _refuse(services, route, m, key, body, MalformedBody(TOO_DEEP), send)
        return
    except Exception:
        m.rejected("error")
        services.log.exception("request failed", action="event.failed", route=route.name)
        await Problem(500, "error", "internal error; nothing was stored").send(send)
        return
    m.latency.observe(time.perf_counter() - started)
    await send_reply(send, status, payload, JSON if payload else TEXT)


async def _refuse(
    services: Services,
    route: WriteRoute,
    m: RouteMetrics,
    key: ApiKey | None,
    body: bytes,
    exc: FootfallError,
    send: Send,
) -> None:
    refusal = problem(exc)
    if key is not None and route.logs_failures and isinstance(exc, InvalidEvent | BodyTooLarge):
        try:
            await services.ingestion.log_refusal(key, route.name, body, exc)
        except StorageUnavailable as unlogged:
            # The refusal would be lost: ask the client to send the event again instead.
            refusal, exc = problem(unlogged), unlogged
    m.rejected(refusal.reason)
    services.log.log(
        logging.WARNING if refusal.status >= 500 else logging.INFO,
        "request refused",
        action="event.rejected",
        route=route.name,
        reason=refusal.reason,
        error=str(exc),  # the client hears less of a storage problem (Problem.message)
    )
    await refusal.send(send)


def _answers(reply: object) -> dict[int, Answer]:
    if reply is None:
        return {200: Answer("durably stored; the body is empty", media_type=None)}
    return {200: Answer("each item's outcome, in request order; accepted ones are stored", reply)}


# Each write route's summary, request and reply, as documented (a route without one fails here).
_DOCS: dict[str, tuple[str, object, object]] = {
    "/api/v2/event": ("Generate event (v2): one event", EventBody, None),
    "/api/v1/event": ("Generate event (v1): values are strings", EventBody, None),
    "/api/v2/past_events": ("Up to 500 past events", PastEventsRequest, PastEventsReply),
    "/api/v1/past_events": ("Up to 500 past events (v1)", PastEventsRequest, PastEventsReply),
    "/api/v1/orders": (
        "Up to 1000 orders, upserted by externalOrderId",
        OrdersRequest,
        OrdersReply,
    ),
}

OPERATIONS = [
    Operation(
        "POST",
        path,
        _DOCS[path][0],
        None,
        _answers(_DOCS[path][2]),
        auth="events" if route.scope == "events" else "full",
        request=_DOCS[path][1],
        errors=(429,),
    )
    for path, route in ROUTES.items()
]
