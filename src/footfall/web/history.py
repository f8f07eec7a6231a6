"""Event history (``GET /api/v1/events``): by type, key, contact and time, newest first, paged by
an opaque cursor. A contact's timeline pages the same way."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from footfall.ingest.dates import from_us
from footfall.store.rows import EventQuery, StoredEvent
from footfall.web.auth import full_key
from footfall.web.params import (
    NEXT_CURSOR,
    PAGE_CURSOR,
    Id,
    Params,
    decode_cursor,
    encode_cursor,
    integer,
    limit,
    moment,
    page,
    text,
)
from footfall.web.routing import Answer, Operation, Param, json_reply
from footfall.web.services import services

__all__ = ["OPERATIONS", "PAGE_PARAMS", "EventView", "event_page", "event_query"]

MAX_LIMIT = 1000


class EventView(msgspec.Struct, rename="camel"):
    id: int
    event_type_key: str
    key_value: str
    contact_id: int | None
    params: msgspec.Raw
    source: str
    occurred: str
    received: str


def _view(event: StoredEvent) -> EventView:
    return EventView(
        event.id,
        event.event_type_key,
        event.key_value,
        event.contact_id,
        msgspec.Raw(event.params_json.encode()),
        event.source,
        from_us(event.occurred_us),
        from_us(event.received_us),
    )


def event_query(params: Params) -> EventQuery:
    cursor = params.get("cursor")
    return EventQuery(
        event_type_key=text(params, "eventTypeKey"),
        key_value=text(params, "keyValue"),
        contact_id=integer(params, "contactId"),
        occurred_from_us=moment(params, "from"),
        occurred_to_us=moment(params, "to"),
        before=decode_cursor(cursor) if cursor else None,
        limit=limit(params, "limit", 100, MAX_LIMIT),
    )


async def event_page(request: Request, workspace_id: int, query: EventQuery) -> Response:
    """One page of events, newest first; the next page's cursor in ``X-Next-Cursor``."""
    store = services(request).store

    def fetch(size: int) -> list[StoredEvent]:
        return store.events.list_events(workspace_id, dataclasses.replace(query, limit=size))

    rows, headers = await page(
        fetch, query.limit, NEXT_CURSOR, lambda e: encode_cursor(e.occurred_us, e.id)
    )
    return json_reply([_view(row) for row in rows], headers)


async def list_events(request: Request) -> Response:
    key = await full_key(request)
    return await event_page(request, key.workspace_id, event_query(request.query_params))


_Limit = Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT)]
PAGE_PARAMS = (
    Param("from", "query", "occurred at or after (ISO 8601 date or date-time)"),
    Param("to", "query", "occurred at or before; a plain date includes the whole day"),
    Param("limit", "query", "events per page (default 100)", _Limit),
    Param("cursor", "query", "the X-Next-Cursor of the previous page"),
)
PAGE = Answer(
    "events, newest first",
    list[EventView],
    headers={NEXT_CURSOR: PAGE_CURSOR},
)

OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/events",
        "Event history",
        list_events,
        {200: PAGE},
        params=(
            Param("eventTypeKey", "query", "only events of this type"),
            Param("keyValue", "query", "only events with this keyValue"),
            Param("contactId", "query", "only events of this contact", Id),
            *PAGE_PARAMS,
        ),
    ),
]
