"""The event-type registry (full-scope keys): each type's structure, counts, rules and naming
issues, its hourly statistics, and the rules an operator sets with ``PUT``."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from footfall.clock import now_us
from footfall.eventtypes.naming import event_name_issues, param_name_issue
from footfall.eventtypes.rules import (
    TypeSettings,
    compile_settings,
    decode_settings,
    encode_settings,
)
from footfall.exceptions import InvalidEvent, InvalidQuery, UnknownEventType
from footfall.ingest.dates import from_us
from footfall.ingest.events import check_type_key, refuse_nul
from footfall.records import ACCEPTED, HOUR_US
from footfall.store.registry import ObservedParam, TypeStore
from footfall.store.rows import EventTypeStats
from footfall.web.auth import full_key
from footfall.web.params import (
    NEXT_CURSOR,
    PAGE_CURSOR,
    decode_key_cursor,
    encode_key_cursor,
    limit,
    moment,
    page,
    request_body,
)
from footfall.web.routing import Answer, Operation, Param, json_reply
from footfall.web.services import services

__all__ = ["OPERATIONS", "checked_type_key"]

MAX_STATS_HOURS = 24 * 93
DEFAULT_TYPES_PAGE = 100
MAX_TYPES_PAGE = 1000


class TypeSummary(msgspec.Struct, rename="camel"):
    event_type_key: str
    count: int
    first_seen: str | None  # None for a type with rules but no event yet
    last_seen: str | None
    validate_params: bool
    has_json_schema: bool
    naming_issues: list[str]


class SeenParam(msgspec.Struct, rename="camel"):
    name: str
    types: list[str]  # the JSON types seen for it
    first_seen: str
    last_seen: str


class TypeView(TypeSummary):
    params: list[SeenParam]
    settings: TypeSettings


class HourStats(msgspec.Struct):
    hour: str
    accepted: int
    rejected: dict[str, int]  # reason -> count


def checked_type_key(text: str, name: str) -> str:
    """A type key as ingestion would accept it, or a 400 naming where it came from."""
    try:
        check_type_key(text)
    except InvalidEvent as exc:
        raise InvalidQuery(f"{name}: {exc}") from None
    return text


def _path_key(request: Request) -> str:
    return checked_type_key(request.path_params["key"], "the event type in the path")


def _settings(stored: Any) -> TypeSettings:
    return msgspec.convert(stored or {}, TypeSettings)


def _summary(stats: EventTypeStats) -> TypeSummary:
    settings = _settings(stats.settings)
    return TypeSummary(
        stats.key,
        stats.count,
        from_us(stats.first_seen_us),
        from_us(stats.last_seen_us),
        settings.validateParams,
        settings.jsonSchema is not None,
        event_name_issues(stats.key),
    )


async def list_types(request: Request) -> Response:
    """A page of types by key; the next page with ``X-Next-Cursor`` passed as ``cursor``."""
    key = await full_key(request)
    params = request.query_params
    size = limit(params, "limit", DEFAULT_TYPES_PAGE, MAX_TYPES_PAGE)
    cursor = params.get("cursor")
    after = decode_key_cursor(cursor) if cursor else None
    store = services(request).store.types

    def fetch(n: int) -> list[EventTypeStats]:
        return store.list_event_types(key.workspace_id, after, n)

    types, headers = await page(fetch, size, NEXT_CURSOR, lambda t: encode_key_cursor(t.key))
    return json_reply([_summary(t) for t in types], headers)


def _structure(seen: list[ObservedParam]) -> list[SeenParam]:
    """One entry per param name, with every JSON type seen for it."""
    params: dict[str, SeenParam] = {}
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for one in seen:
        entry = params.setdefault(one.name, SeenParam(one.name, [], "", ""))
        entry.types.append(one.json_type)
        first[one.name] = min(first.get(one.name, one.first_seen_us), one.first_seen_us)
        last[one.name] = max(last.get(one.name, 0), one.last_seen_us)
    for name, entry in params.items():
        entry.first_seen, entry.last_seen = from_us(first[name]), from_us(last[name])
    return list(params.values())


def _type_view(store: TypeStore, workspace_id: int, type_key: str) -> TypeView:
    stats, seen = store.event_type(workspace_id, type_key)
    if stats is None:
        raise UnknownEventType(f"no event type {type_key!r} in this workspace")
    structure = _structure(seen)
    issues = event_name_issues(type_key)
    issues += [issue for p in structure if (issue := param_name_issue(p.name))]
    fields = msgspec.structs.asdict(_summary(stats)) | {"naming_issues": issues}
    if stats.count == 0:  # rules set before the type's first event
        fields["first_seen"] = fields["last_seen"] = None
    return TypeView(**fields, params=structure, settings=_settings(stats.settings))


async def get_type(request: Request) -> Response:
    key = await full_key(request)
    store = services(request).store.types
    view = await run_in_threadpool(_type_view, store, key.workspace_id, _path_key(request))
    return json_reply(view)


async def put_type(request: Request) -> Response:
    """Replace a type's rules: ``{validateParams, params: [{name, required}], jsonSchema}``."""
    key = await full_key(request)
    type_key = _path_key(request)
    settings = decode_settings(await request_body(request))
    compile_settings(settings)  # refuses an invalid JSON Schema before anything is stored
    found = services(request)
    encoded = encode_settings(settings)
    refuse_nul(encoded)  # stored as JSON text, which PostgreSQL refuses with a NUL in it
    store = found.store.types
    await run_in_threadpool(store.set_type_settings, key.workspace_id, type_key, encoded, now_us())
    found.type_rules.put(key.workspace_id, type_key, msgspec.json.decode(encoded))
    view = await run_in_threadpool(_type_view, store, key.workspace_id, type_key)
    return json_reply(view)


def _hours(request: Request) -> tuple[int, int]:
    """The hours asked for: ``from``/``to``, 24 hours up to now by default."""
    to_us = moment(request.query_params, "to") or now_us()
    from_us_ = moment(request.query_params, "from")
    start = (from_us_ if from_us_ is not None else to_us - 24 * HOUR_US) // HOUR_US * HOUR_US
    if to_us < start:
        raise InvalidQuery("from must not be after to")
    if (to_us - start) // HOUR_US > MAX_STATS_HOURS:
        raise InvalidQuery(f"at most {MAX_STATS_HOURS} hours per request")
    return start, to_us


async def type_stats(request: Request) -> Response:
    """Accepted and rejected (by reason) counts per hour."""
    key = await full_key(request)
    type_key = _path_key(request)
    start, end = _hours(request)
    store = services(request).store.types
    rows = await run_in_threadpool(store.type_hourly, key.workspace_id, type_key, start, end)
    hours: dict[int, HourStats] = {}
    for hour, outcome, count in rows:
        entry = hours.setdefault(hour, HourStats(from_us(hour), 0, {}))
        if outcome == ACCEPTED:
            entry.accepted += count
        else:
            entry.rejected[outcome] = count
    return json_reply(list(hours.values()))


_KEY = Param("key", "path", "the event type (eventTypeKey)", str, True)
_VIEW = {200: Answer("the type: counts, observed structure, rules, naming issues", TypeView)}

OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/event-types",
        "Event types of the workspace, a page at a time",
        list_types,
        {
            200: Answer(
                "a page of types, by key", list[TypeSummary], headers={NEXT_CURSOR: PAGE_CURSOR}
            )
        },
        params=(
            Param("cursor", "query", "the X-Next-Cursor of the previous page"),
            Param(
                "limit",
                "query",
                f"types per page (default {DEFAULT_TYPES_PAGE})",
                Annotated[int, msgspec.Meta(ge=1, le=MAX_TYPES_PAGE)],
            ),
        ),
    ),
    Operation("GET", "/api/v1/event-types/{key}", "An event type", get_type, _VIEW, params=(_KEY,)),
    Operation(
        "PUT",
        "/api/v1/event-types/{key}",
        "Replace an event type's rules",
        put_type,
        _VIEW,
        request=TypeSettings,
        params=(_KEY,),
    ),
    Operation(
        "GET",
        "/api/v1/event-types/{key}/stats",
        "Accepted and rejected events per hour",
        type_stats,
        {200: Answer("hours with events, oldest first", list[HourStats])},
        params=(
            _KEY,
            Param("from", "query", "first hour (ISO 8601); default 24 hours before to"),
            Param("to", "query", "last moment (ISO 8601); default now"),
        ),
    ),
]
