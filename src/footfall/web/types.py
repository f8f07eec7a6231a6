"""The event-type registry (full-scope keys): types with their structure, counts, rules and naming
issues; hourly statistics; the failed-event log and its replay."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from footfall.access import now_us
from footfall.eventtypes.naming import event_name_issues, param_name_issue
from footfall.eventtypes.replay import replay_failed
from footfall.eventtypes.rules import (
    TypeSettings,
    compile_settings,
    decode_settings,
    encode_settings,
)
from footfall.exceptions import InvalidQuery, UnknownEventType
from footfall.ingest.dates import from_us
from footfall.ingest.events import check_type_key
from footfall.store.records import EventTypeStats
from footfall.store.registry import FailureQuery, ReplaySelection
from footfall.store.writer import ACCEPTED, HOUR_US
from footfall.web.read import _full_key, _int, _time, request_body

MAX_FAILURES_PAGE = 1000
MAX_STATS_HOURS = 24 * 93


def _key(request: Request) -> str:
    return _check_key(request.path_params["key"], "the event type in the path")


def _settings_view(settings: Any) -> dict[str, Any]:
    parsed = msgspec.convert(settings or {}, TypeSettings)
    return msgspec.to_builtins(parsed)  # type: ignore[no-any-return]


def _summary(stats: EventTypeStats, settings: Any) -> dict[str, Any]:
    view = _settings_view(settings)
    return {
        "eventTypeKey": stats.key,
        "count": stats.count,
        "firstSeen": from_us(stats.first_seen_us),
        "lastSeen": from_us(stats.last_seen_us),
        "validateParams": view["validateParams"],
        "hasJsonSchema": view["jsonSchema"] is not None,
        "namingIssues": event_name_issues(stats.key),
    }


async def list_types(request: Request) -> Response:
    key = await _full_key(request)
    store = request.app.state.services.store
    types = await run_in_threadpool(store.types.list_event_types, key.workspace_id)
    settings = {
        type_key: value
        for ws, type_key, value in await run_in_threadpool(store.types.all_type_settings)
        if ws == key.workspace_id
    }
    return JSONResponse([_summary(t, settings.get(t.key)) for t in types])


def _type_view(store: Any, workspace_id: int, type_key: str) -> dict[str, Any]:
    found = [t for t in store.types.list_event_types(workspace_id) if t.key == type_key]
    settings = store.types.type_settings(workspace_id, type_key)
    if not found and settings is None:
        raise UnknownEventType(f"no event type {type_key!r} in this workspace")
    stats = found[0] if found else EventTypeStats(type_key, 0, 0, 0)
    params: dict[str, dict[str, Any]] = {}
    for seen in store.types.type_params(workspace_id, type_key):
        entry = params.setdefault(
            seen.name,
            {"name": seen.name, "types": [], "firstSeen": seen.first_seen_us, "lastSeen": 0},
        )
        entry["types"].append(seen.json_type)
        entry["firstSeen"] = min(entry["firstSeen"], seen.first_seen_us)
        entry["lastSeen"] = max(entry["lastSeen"], seen.last_seen_us)
    structure = [
        entry | {"firstSeen": from_us(entry["firstSeen"]), "lastSeen": from_us(entry["lastSeen"])}
        for entry in params.values()
    ]
    issues = event_name_issues(type_key)
    issues += [issue for name in params if (issue := param_name_issue(name))]
    view = _summary(stats, settings) | {
        "params": structure,
        "settings": _settings_view(settings),
        "namingIssues": issues,
    }
    if stats.count == 0:  # rules set before the type's first event
        view["firstSeen"] = view["lastSeen"] = None
    return view


async def get_type(request: Request) -> Response:
    key = await _full_key(request)
    store = request.app.state.services.store
    view = await run_in_threadpool(_type_view, store, key.workspace_id, _key(request))
    return JSONResponse(view)


async def put_type(request: Request) -> Response:
    """Replace a type's rules: ``{validateParams, params: [{name, required}], jsonSchema}``."""
    key = await _full_key(request)
    type_key = _key(request)
    settings = decode_settings(await request_body(request))
    compile_settings(settings)  # refuses an invalid JSON Schema before anything is stored
    services = request.app.state.services
    encoded = encode_settings(settings)
    await run_in_threadpool(
        services.store.types.set_type_settings, key.workspace_id, type_key, encoded, now_us()
    )
    services.type_rules.put(key.workspace_id, type_key, msgspec.json.decode(encoded))
    view = await run_in_threadpool(_type_view, services.store, key.workspace_id, type_key)
    return JSONResponse(view)


async def type_stats(request: Request) -> Response:
    """Accepted and rejected (by reason) counts per hour: ``from``/``to`` default to 24 hours."""
    key = await _full_key(request)
    type_key = _key(request)
    now = now_us()
    to_us = _time(request.query_params, "to") or now
    from_us_ = _time(request.query_params, "from")
    start = (from_us_ if from_us_ is not None else to_us - 24 * HOUR_US) // HOUR_US * HOUR_US
    if to_us < start:
        raise InvalidQuery("from must not be after to")
    if (to_us - start) // HOUR_US > MAX_STATS_HOURS:
        raise InvalidQuery(f"at most {MAX_STATS_HOURS} hours per request")
    store = request.app.state.services.store
    rows = await run_in_threadpool(
        store.types.type_hourly, key.workspace_id, type_key, start, to_us
    )
    hours: dict[int, dict[str, Any]] = {}
    for hour, outcome, count in rows:
        entry = hours.setdefault(hour, {"hour": from_us(hour), "accepted": 0, "rejected": {}})
        if outcome == ACCEPTED:
            entry["accepted"] += count
        else:
            entry["rejected"][outcome] = count
    return JSONResponse(list(hours.values()))


def _failure_view(row: dict[str, Any]) -> dict[str, Any]:
    view = {name: value for name, value in row.items() if name not in ("receivedUs", "replayedUs")}
    view["eventTypeKey"] = row["eventTypeKey"] or None
    view["received"] = from_us(row["receivedUs"])
    view["replayed"] = None if row["replayedUs"] is None else from_us(row["replayedUs"])
    view["rawTruncated"] = len(row["raw"].encode()) < row["rawBytes"]
    return view


def _replayed_param(params: Any) -> bool | None:
    text = (params.get("replayed") or "").strip().lower()
    if text in ("", "any"):
        return None
    if text not in ("true", "false"):
        raise InvalidQuery(f"replayed must be true or false, got {text!r}")
    return text == "true"


async def list_failures(request: Request) -> Response:
    """Refused events, newest first; filters ``eventTypeKey, reason, from, to, replayed``;
    pages with the ``X-Next-Before`` header passed back as ``before``."""
    key = await _full_key(request)
    params = request.query_params
    limit = _int(params, "limit", 100)
    assert limit is not None
    if not 1 <= limit <= MAX_FAILURES_PAGE:
        raise InvalidQuery(f"limit must be between 1 and {MAX_FAILURES_PAGE}, got {limit}")
    type_key = params.get("eventTypeKey") or None
    reason = params.get("reason") or None
    if reason is not None and not (reason.replace("_", "").isalnum() and len(reason) <= 40):
        raise InvalidQuery(f"reason {reason!r} is not a reason this log uses")
    query = FailureQuery(
        event_type_key=None if type_key is None else _check_key(type_key, "eventTypeKey"),
        reason=reason,
        from_us=_time(params, "from"),
        to_us=_time(params, "to"),
        replayed=_replayed_param(params),
        before=_int(params, "before", None),
        limit=limit + 1,
    )
    store = request.app.state.services.store
    rows = await run_in_threadpool(store.types.list_failures, key.workspace_id, query)
    headers = {}
    if len(rows) > limit:
        rows = rows[:limit]
        headers["X-Next-Before"] = str(rows[-1]["id"])
    return JSONResponse([_failure_view(row) for row in rows], headers=headers)


MAX_REPLAY_IDS = 1000
MAX_REPLAY_PER_CALL = 10_000


class ReplayBody(msgspec.Struct):
    eventTypeKey: str  # noqa: N815 - wire name
    since: str | None = None
    ids: list[int] = msgspec.field(default_factory=list)


def _check_key(text: str, name: str) -> str:
    try:
        check_type_key(text)
    except Exception as exc:
        raise InvalidQuery(f"{name}: {exc}") from None
    return text


async def replay(request: Request) -> Response:
    """Re-submit the type's failed events (``since`` a time, or only ``ids``) under its current
    rules. Each accepted one is stored exactly once, however often replay is called."""
    key = await _full_key(request)
    try:
        body = msgspec.json.decode(await request_body(request), type=ReplayBody)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidQuery(f"invalid replay request: {exc}") from None
    since = _time({"since": body.since}, "since")
    if len(body.ids) > MAX_REPLAY_IDS:
        raise InvalidQuery(f"at most {MAX_REPLAY_IDS} ids per call, got {len(body.ids)}")
    if any(not 0 < i < 2**63 for i in body.ids):
        raise InvalidQuery("ids are positive integers")
    selection = ReplaySelection(
        event_type_key=_check_key(body.eventTypeKey, "eventTypeKey"),
        workspace_id=key.workspace_id,
        since_us=since,
        ids=tuple(body.ids),
        total=MAX_REPLAY_PER_CALL,
    )
    services = request.app.state.services
    max_age = services.settings.past_events_max_age_days
    results = await run_in_threadpool(
        replay_failed, services.store.types, selection, now_us(), max_age
    )
    accepted = sum(1 for r in results if r.accepted)
    return JSONResponse(
        {
            "replayed": accepted,
            "failed": len(results) - accepted,
            "more": len(results) >= MAX_REPLAY_PER_CALL,
            "results": [
                {"id": r.id, "status": "ACCEPTED" if r.accepted else "FAILED", "error": r.error}
                for r in results
            ],
        }
    )


ROUTES = [
    Route("/api/v1/event-types", list_types, methods=["GET"]),
    Route("/api/v1/event-types/{key}", get_type, methods=["GET"]),
    Route("/api/v1/event-types/{key}", put_type, methods=["PUT"]),
    Route("/api/v1/event-types/{key}/stats", type_stats, methods=["GET"]),
    Route("/api/v1/failed-events", list_failures, methods=["GET"]),
    Route("/api/v1/failed-events/replay", replay, methods=["POST"]),
]
