"""The write routes as raw ASGI handlers: the hot path skips the framework and answers in microseconds."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool

from footfall.access import now_us, require_scope
from footfall.exceptions import (
    BodyTooLarge,
    FootfallError,
    InvalidEvent,
    RateLimited,
    StorageUnavailable,
)
from footfall.ingest.events import parse_event, storable
from footfall.ingest.orders import parse_orders
from footfall.ingest.past import ACCEPTED, parse_past_events
from footfall.metrics import RouteMetrics
from footfall.records import NewFailure
from footfall.store.records import ApiKey
from footfall.web.errors import extra_headers, status_for

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Reply = tuple[int, bytes]

_json = msgspec.json.Encoder()
_TEXT = (b"content-type", b"text/plain; charset=utf-8")
_JSON = (b"content-type", b"application/json")


class ClientDisconnected(Exception):
    pass


class _Peek(msgspec.Struct):
    eventTypeKey: Any = None  # noqa: N815 - wire name
    keyValue: Any = None  # noqa: N815


_peek_decoder = msgspec.json.Decoder(_Peek)


def _peek(raw: bytes) -> tuple[str, str | None]:
    """The type and key of a refused body, where it still has them."""
    try:
        peeked = _peek_decoder.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return "", None
    type_key = peeked.eventTypeKey
    key_value = peeked.keyValue
    if isinstance(key_value, int) and not isinstance(key_value, bool):
        key_value = str(key_value)
    return (
        type_key if isinstance(type_key, str) and 0 < len(type_key) <= 100 else "",
        key_value if isinstance(key_value, str) and len(key_value) <= 300 else None,
    )


def failure(
    key: ApiKey,
    route: str,
    raw: bytes,
    reason: str,
    field: str | None,
    error: str,
    received_us: int,
    limit: int,
    size: int | None = None,
) -> NewFailure:
    """A failed-event log entry; the raw body is kept up to ``limit`` bytes."""
    type_key, key_value = _peek(raw)
    clean_key = storable(type_key)
    return NewFailure(
        workspace_id=key.workspace_id,
        event_type_key=clean_key if clean_key == type_key else "",
        key_value=None if key_value is None else storable(key_value),
        route=route,
        reason=reason,
        field=None if field is None else storable(field)[:1000],
        error=storable(error)[:2000],
        raw=storable(raw[:limit].decode("utf-8", errors="ignore")),
        raw_bytes=min(len(raw) if size is None else size, 2**62),
        received_us=received_us,
    )


@dataclass(frozen=True)
class WriteRoute:
    name: str
    scope: str  # "events" or "full"
    batch: bool  # the larger body limit applies
    bearer: bool  # accepts bearer tokens
    handler: Callable[[Any, ApiKey, bytes, RouteMetrics], Awaitable[Reply]]
    logs_failures: bool = False  # refused events go to the failed-event log


async def _event(version: int, services: Any, key: ApiKey, body: bytes, m: RouteMetrics) -> Reply:
    event = parse_event(
        body,
        version=version,
        workspace_id=key.workspace_id,
        received_us=now_us(),
        rules=services.type_rules.rules,
    )
    event.key_id = key.key_id
    await services.committer.submit([event])
    m.accepted.inc()
    return 200, b""


async def _past(version: int, services: Any, key: ApiKey, body: bytes, m: RouteMetrics) -> Reply:
    received = now_us()
    batch = parse_past_events(
        body,
        version=version,
        workspace_id=key.workspace_id,
        now_us=received,
        max_age_days=services.settings.past_events_max_age_days,
        rules=services.type_rules.rules,
    )
    for event in batch.accepted:
        event.key_id = key.key_id
    route = f"v{version}/past_events"
    limit = services.settings.failed_event_max_bytes
    failures = [
        failure(key, route, o.raw, o.reason, o.field, o.error or o.status, received, limit)
        for o in batch.outcomes
        if o.status != ACCEPTED
    ]
    if batch.accepted:
        await services.committer.submit(batch.accepted)
    if failures:
        await _submit_failures(services, failures)
    m.accepted.inc(len(batch.accepted))
    errors = len(batch.outcomes) - len(batch.accepted)
    if errors:
        m.rejected("invalid", errors)
    results = [
        {"status": o.status} if o.error is None else {"status": o.status, "error": o.error}
        for o in batch.outcomes
    ]
    payload = {"results": results, "successCount": len(batch.accepted), "errorCount": errors}
    return 200, _json.encode(payload)


async def _orders(services: Any, key: ApiKey, body: bytes, m: RouteMetrics) -> Reply:
    batch = parse_orders(body, workspace_id=key.workspace_id, now_us=now_us())
    for order in batch.accepted:
        order.event.key_id = key.key_id
    if batch.accepted:
        await services.committer.submit(batch.accepted)
    m.accepted.inc(len(batch.accepted))
    if batch.failed:
        m.rejected("invalid", len(batch.failed))
    return 200, _json.encode({"failedOrders": batch.failed})


Handler = Callable[[Any, ApiKey, bytes, RouteMetrics], Awaitable[Reply]]


def _bind(fn: Callable[..., Awaitable[Reply]], version: int) -> Handler:
    async def bound(services: Any, key: ApiKey, body: bytes, m: RouteMetrics) -> Reply:
        return await fn(version, services, key, body, m)

    return bound


ROUTES: dict[str, WriteRoute] = {
    "/api/v2/event": WriteRoute("v2/event", "events", False, True, _bind(_event, 2), True),
    "/api/v1/event": WriteRoute("v1/event", "events", False, True, _bind(_event, 1), True),
    "/api/v2/past_events": WriteRoute(
        "v2/past_events", "events", True, True, _bind(_past, 2), True
    ),
    "/api/v1/past_events": WriteRoute(
        "v1/past_events", "events", True, True, _bind(_past, 1), True
    ),
    "/api/v1/orders": WriteRoute("v1/orders", "full", True, False, _orders),
}


def match(path: str) -> WriteRoute | None:
    return ROUTES.get(path[:-1] if path.endswith("/") else path)


async def read_body(receive: Receive, headers: dict[bytes, bytes], limit: int) -> bytes:
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


async def authenticate(services: Any, header: bytes | None, bearer_ok: bool) -> ApiKey:
    text = None if header is None else header.decode("latin-1")
    if text is not None and not bearer_ok and text[:7].lower() == "bearer ":
        from footfall.exceptions import Unauthorized

        raise Unauthorized("bearer tokens are accepted on the event routes only; use HTTP Basic")
    cached = services.auth.cached(text)
    if isinstance(cached, ApiKey):
        return cached
    key: ApiKey = await run_in_threadpool(services.auth.lookup, text)
    return key


async def _log_failure(
    services: Any, route: WriteRoute, key: ApiKey, body: bytes, exc: InvalidEvent | BodyTooLarge
) -> None:
    """Keep a refused event in the failed-event log; the client gets its 4xx either way."""
    size = None
    if isinstance(exc, BodyTooLarge):
        body, size = exc.prefix, exc.size or None
    limit = services.settings.failed_event_max_bytes
    field = exc.field if isinstance(exc, InvalidEvent) else None
    entry = failure(key, route.name, body, exc.reason, field, str(exc), now_us(), limit, size)
    await _submit_failures(services, [entry])


async def _submit_failures(services: Any, entries: list[NewFailure]) -> None:
    try:
        await services.committer.submit(entries)
    except StorageUnavailable as error:
        services.log.warning("failed event not logged", action="failure.unlogged", error=str(error))
    except Exception:  # the client's answer is its 4xx whatever happens here
        services.log.exception("failed event not logged", action="failure.unlogged")


async def send_reply(
    send: Send,
    status: int,
    body: bytes,
    header: tuple[bytes, bytes],
    extra: list[tuple[bytes, bytes]],
) -> None:
    headers = [header, (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def handle(
    services: Any, route: WriteRoute, scope: Scope, receive: Receive, send: Send
) -> None:
    started = time.perf_counter()
    m = services.route_metrics[route.name]
    headers = dict(scope["headers"])
    key = None
    body = b""
    try:
        key = await authenticate(services, headers.get(b"authorization"), route.bearer)
        if route.scope == "full":
            require_scope(key, "full")
        if not services.limiter.allow(key.key_id):
            raise RateLimited(
                f"rate limit of {services.limiter.per_second:g} requests per second exceeded"
            )
        settings = services.settings
        limit = settings.max_batch_body_bytes if route.batch else settings.max_body_bytes
        body = await read_body(receive, headers, limit)
        status, payload = await route.handler(services, key, body, m)
    except ClientDisconnected:
        return
    except FootfallError as exc:
        status, reason = status_for(exc)
        m.rejected(reason)
        if key is not None and route.logs_failures and isinstance(exc, InvalidEvent | BodyTooLarge):
            await _log_failure(services, route, key, body, exc)
        services.log.info(
            "request refused",
            action="event.rejected",
            route=route.name,
            reason=reason,
            error=str(exc),
        )
        message = str(exc).encode("utf-8", "replace")
        await send_reply(send, status, message, _TEXT, extra_headers(status))
        return
    except Exception:
        m.rejected("error")
        services.log.exception("request failed", action="event.failed", route=route.name)
        await send_reply(send, 500, b"internal error; nothing was stored", _TEXT, [])
        return
    m.latency.observe(time.perf_counter() - started)
    await send_reply(send, status, payload, _JSON if payload else _TEXT, [])
