"""Read and utility routes (Starlette): event history, event types, tokens, health, metrics."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from datetime import timedelta
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from footfall.access import require_scope
from footfall.exceptions import FootfallError, InvalidQuery
from footfall.ingest.dates import LATEST, from_us, parse_iso, to_us
from footfall.store.records import ApiKey, EventQuery, StoredEvent
from footfall.web.ingest import authenticate, read_body

MAX_LIMIT = 1000
MAX_ID = 2**63 - 1


async def _full_key(request: Request) -> ApiKey:
    services = request.app.state.services
    header = request.headers.get("authorization")
    key = await authenticate(services, None if header is None else header.encode("latin-1"), False)
    require_scope(key, "full")
    return key


async def request_body(request: Request) -> bytes:
    """The body of a JSON API call, up to the batch body limit (413 beyond)."""
    limit = request.app.state.services.settings.max_batch_body_bytes
    return await read_body(request.receive, dict(request.scope["headers"]), limit)


def _cursor(text: str) -> tuple[int, int]:
    try:
        occurred, _, event_id = base64.urlsafe_b64decode(text.encode()).decode().partition(":")
        position = int(occurred), int(event_id)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        position = (-1, -1)
    if not all(0 <= part <= MAX_ID for part in position):
        raise InvalidQuery(f"cursor {text!r} is not a cursor this API returned")
    return position


def _encode_cursor(event: StoredEvent) -> str:
    return base64.urlsafe_b64encode(f"{event.occurred_us}:{event.id}".encode()).decode()


def _time(params: Any, name: str) -> int | None:
    """A bound in microseconds; a plain date as ``to`` includes that whole day."""
    text = params.get(name)
    if text is None or text == "":
        return None
    moment = parse_iso(text)
    if moment is None:
        raise InvalidQuery(f"{name} must be an ISO 8601 date or date-time, got {text!r}")
    if name == "to" and len(text) == len("YYYY-MM-DD"):
        if moment >= LATEST:
            return MAX_ID
        return to_us(moment + timedelta(days=1)) - 1
    return to_us(moment)


def _int(params: Any, name: str, default: int | None) -> int | None:
    text = params.get(name)
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
        raise InvalidQuery(f"{name} must be a positive integer, got {text!r}")
    return int(text)


def event_query(params: Any) -> EventQuery:
    limit = _int(params, "limit", 100)
    assert limit is not None
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidQuery(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    cursor = params.get("cursor")
    return EventQuery(
        event_type_key=params.get("eventTypeKey") or None,
        key_value=params.get("keyValue") or None,
        contact_id=_int(params, "contactId", None),
        occurred_from_us=_time(params, "from"),
        occurred_to_us=_time(params, "to"),
        before=_cursor(cursor) if cursor else None,
        limit=limit,
    )


def event_json(event: StoredEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "eventTypeKey": event.event_type_key,
        "keyValue": event.key_value,
        "contactId": event.contact_id,
        "params": event.params,
        "source": event.source,
        "occurred": from_us(event.occurred_us),
        "received": from_us(event.received_us),
    }


async def list_events(request: Request) -> Response:
    key = await _full_key(request)
    return await event_page(request, key.workspace_id, event_query(request.query_params))


async def event_page(request: Request, workspace_id: int, query: EventQuery) -> Response:
    """One page of events, newest first; the next page's cursor in ``X-Next-Cursor``."""
    store = request.app.state.services.store
    # One row more than asked tells whether there is a next page.
    wider = dataclasses.replace(query, limit=query.limit + 1)
    rows = await run_in_threadpool(store.events.list_events, workspace_id, wider)
    headers = {}
    if len(rows) > query.limit:
        rows = rows[: query.limit]
        headers["X-Next-Cursor"] = _encode_cursor(rows[-1])
    return JSONResponse([event_json(row) for row in rows], headers=headers)


async def issue_token(request: Request) -> Response:
    services = request.app.state.services
    header = request.headers.get("authorization")
    if header is not None and not header.lower().startswith("basic "):
        from footfall.exceptions import Unauthorized

        raise Unauthorized("a token is issued for HTTP Basic credentials (the API key as password)")
    key = await authenticate(services, None if header is None else header.encode("latin-1"), False)
    token = await run_in_threadpool(services.auth.issue_token, key)
    return JSONResponse(token)


async def health(request: Request) -> Response:
    store = request.app.state.services.store
    try:
        await run_in_threadpool(store.ping)
    except FootfallError as exc:
        return JSONResponse({"status": "unavailable", "error": str(exc)}, status_code=503)
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> Response:
    registry = request.app.state.services.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


async def not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(f"no route for {request.method} {request.url.path}", status_code=404)
