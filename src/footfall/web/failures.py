"""The failed-event log (full-scope keys): what was refused and why, newest first, and its replay
under the type's current rules."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from footfall.clock import now_us
from footfall.decoding import decode_json
from footfall.eventtypes.replay import replay_failed
from footfall.exceptions import InvalidQuery
from footfall.ingest.dates import from_us
from footfall.store.registry import FailureQuery, ReplaySelection
from footfall.web.auth import full_key
from footfall.web.eventtypes import checked_type_key
from footfall.web.params import (
    MAX_ID,
    NEXT_BEFORE,
    PAGE_BEFORE,
    Id,
    Params,
    integer,
    limit,
    moment,
    page,
    request_body,
    text,
)
from footfall.web.routing import Answer, Operation, Param, json_reply
from footfall.web.services import services

__all__ = ["OPERATIONS"]

MAX_FAILURES_PAGE = 1000
MAX_REPLAY_IDS = 1000
MAX_REPLAY_PER_CALL = 10_000


class FailureView(msgspec.Struct, rename="camel"):
    id: int
    event_type_key: str | None  # None when the body named no usable type
    key_value: str | None
    route: str
    reason: str
    field: str | None
    error: str
    raw: str  # the body as sent, up to FOOTFALL_FAILED_EVENT_MAX_BYTES
    raw_bytes: int
    raw_truncated: bool
    received: str
    attempts: int
    replayed: str | None


class ReplayBody(msgspec.Struct):
    eventTypeKey: str  # noqa: N815 - wire name
    since: str | None = None
    ids: list[int] = msgspec.field(default_factory=list)  # at most 1000


class ReplayOutcome(msgspec.Struct):
    id: int
    status: Literal["ACCEPTED", "FAILED"]
    error: str | None


class ReplayReply(msgspec.Struct):
    replayed: int
    failed: int
    more: bool  # the call stopped at its limit: call again
    results: list[ReplayOutcome]


def _view(row: dict[str, Any]) -> FailureView:
    replayed = row["replayedUs"]
    return FailureView(
        id=row["id"],
        event_type_key=row["eventTypeKey"] or None,
        key_value=row["keyValue"],
        route=row["route"],
        reason=row["reason"],
        field=row["field"],
        error=row["error"],
        raw=row["raw"],
        raw_bytes=row["rawBytes"],
        raw_truncated=len(row["raw"].encode()) < row["rawBytes"],
        received=from_us(row["receivedUs"]),
        attempts=row["attempts"],
        replayed=None if replayed is None else from_us(replayed),
    )


def _replayed(params: Params) -> bool | None:
    given = (params.get("replayed") or "").strip().lower()
    if given in ("", "any"):
        return None
    if given not in ("true", "false"):
        raise InvalidQuery(f"replayed must be true or false, got {given!r}")
    return given == "true"


def _query(params: Params) -> FailureQuery:
    type_key = text(params, "eventTypeKey")
    reason = text(params, "reason")
    if reason is not None and not (reason.replace("_", "").isalnum() and len(reason) <= 40):
        raise InvalidQuery(f"reason {reason!r} is not a reason this log uses")
    return FailureQuery(
        event_type_key=None if type_key is None else checked_type_key(type_key, "eventTypeKey"),
        reason=reason,
        from_us=moment(params, "from"),
        to_us=moment(params, "to"),
        replayed=_replayed(params),
        before=integer(params, "before"),
        limit=limit(params, "limit", 100, MAX_FAILURES_PAGE),
    )


async def list_failures(request: Request) -> Response:
    """Refused events, newest first; the next page with ``X-Next-Before`` passed as ``before``."""
    key = await full_key(request)
    query = _query(request.query_params)
    store = services(request).store.types

    def fetch(size: int) -> list[dict[str, Any]]:
        return store.list_failures(key.workspace_id, dataclasses.replace(query, limit=size))

    rows, headers = await page(fetch, query.limit, NEXT_BEFORE, lambda row: str(row["id"]))
    return json_reply([_view(row) for row in rows], headers)


def _selection(body: ReplayBody, workspace_id: int) -> ReplaySelection:
    if len(body.ids) > MAX_REPLAY_IDS:
        raise InvalidQuery(f"at most {MAX_REPLAY_IDS} ids per call, got {len(body.ids)}")
    if any(not 0 < i <= MAX_ID for i in body.ids):
        raise InvalidQuery("ids are positive integers")
    return ReplaySelection(
        event_type_key=checked_type_key(body.eventTypeKey, "eventTypeKey"),
        workspace_id=workspace_id,
        since_us=moment({"since": body.since or ""}, "since"),
        ids=tuple(body.ids),
        total=MAX_REPLAY_PER_CALL,
    )


_replay_decoder = msgspec.json.Decoder(ReplayBody)


def _invalid_replay(exc: msgspec.ValidationError) -> InvalidQuery:
    return InvalidQuery(f"invalid replay request: {exc}")


async def replay(request: Request) -> Response:
    """Re-submit the type's failed events (``since`` a time, or only ``ids``) under its current
    rules. Each accepted one is stored exactly once, however often replay is called."""
    key = await full_key(request)
    body = decode_json(await request_body(request), _replay_decoder, _invalid_replay, "body")
    selection = _selection(body, key.workspace_id)
    found = services(request)
    max_age = found.settings.past_events_max_age_days
    store = found.store.types
    results = await run_in_threadpool(replay_failed, store, selection, now_us(), max_age)
    outcomes = [
        ReplayOutcome(r.id, "ACCEPTED" if r.accepted else "FAILED", r.error) for r in results
    ]
    accepted = sum(1 for r in results if r.accepted)
    more = len(results) >= MAX_REPLAY_PER_CALL
    return json_reply(ReplayReply(accepted, len(results) - accepted, more, outcomes))


_FILTERS = (
    Param("eventTypeKey", "query", "only refused events of this type"),
    Param(
        "reason", "query", "params, schema, missing_locator, invalid, malformed_json, too_large…"
    ),
    Param("from", "query", "received at or after (ISO 8601)"),
    Param("to", "query", "received at or before; a plain date includes the whole day"),
    Param("replayed", "query", "true, false or any", Literal["true", "false", "any"]),
    Param("before", "query", "the X-Next-Before of the previous page", Id),
    Param(
        "limit", "query", "rows per page", Annotated[int, msgspec.Meta(ge=1, le=MAX_FAILURES_PAGE)]
    ),
)

OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/failed-events",
        "Refused events, newest first",
        list_failures,
        {200: Answer("refused events", list[FailureView], headers={NEXT_BEFORE: PAGE_BEFORE})},
        params=_FILTERS,
    ),
    Operation(
        "POST",
        "/api/v1/failed-events/replay",
        "Replay a type's failed events under its current rules",
        replay,
        {200: Answer("each replayed event's outcome", ReplayReply)},
        request=ReplayBody,
    ),
]
