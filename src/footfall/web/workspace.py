"""The caller's workspace settings for workflows (full-scope keys): its time zone, in which timers
fall due for contacts without one of their own, and the allowed hours outside which actions wait
for the next window (a block may set its own).

``PUT`` changes the fields it is given and keeps the others; ``"allowedHours": null`` clears the
window (any time).
"""

from __future__ import annotations

import asyncio

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from footfall.decoding import decode_json
from footfall.exceptions import InvalidQuery
from footfall.store import Store
from footfall.store.workspace_settings import UNCHANGED, Unchanged, WorkspaceTiming
from footfall.web.asgi import read_body
from footfall.web.auth import full_key
from footfall.web.routing import Answer, Operation, json_reply
from footfall.web.services import services
from footfall.workflows.document import Hours
from footfall.workspace_timing import check_allowed_hours, check_time_zone

__all__ = ["MAX_SETTINGS_BYTES", "OPERATIONS"]

MAX_SETTINGS_BYTES = 16 * 1024  # a settings body is a few dozen bytes


class WorkspaceSettings(msgspec.Struct, rename="camel"):
    time_zone: str  # IANA; timers fall due in it for contacts without a timeZone
    allowed_hours: Hours | None  # actions wait for it ("to" before "from" spans midnight)


class WorkspaceSettingsChange(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    """The settings to change; those absent stay as they are."""

    time_zone: str | msgspec.UnsetType = msgspec.UNSET
    allowed_hours: Hours | msgspec.UnsetType | None = msgspec.UNSET  # null: any time


def settings_view(timing: WorkspaceTiming) -> WorkspaceSettings:
    hours = None if timing.allowed is None else Hours(from_=timing.allowed[0], to=timing.allowed[1])
    return WorkspaceSettings(timing.time_zone, hours)


_change_decoder = msgspec.json.Decoder(WorkspaceSettingsChange)


def _invalid(exc: msgspec.ValidationError) -> InvalidQuery:
    return InvalidQuery(f"invalid workspace settings: {exc}")


def _apply(store: Store, ws: int, change: WorkspaceSettingsChange) -> WorkspaceTiming:
    """Check every field given before changing any."""
    zone: str | Unchanged = UNCHANGED
    if not isinstance(change.time_zone, msgspec.UnsetType):
        zone = check_time_zone(change.time_zone)
    allowed: tuple[str, str] | Unchanged | None = UNCHANGED
    if isinstance(change.allowed_hours, Hours):
        allowed = check_allowed_hours(change.allowed_hours.from_, change.allowed_hours.to)
    elif change.allowed_hours is None:
        allowed = None
    return store.workspace_settings.update(ws, time_zone=zone, allowed=allowed)


async def get_settings(request: Request) -> Response:
    key = await full_key(request)
    store = services(request).store
    timing = await asyncio.to_thread(store.workspace_settings.get, key.workspace_id)
    return json_reply(settings_view(timing))


async def update_settings(request: Request) -> Response:
    """Change the settings given; the answer is all of them."""
    key = await full_key(request)
    body = await read_body(request.receive, dict(request.scope["headers"]), MAX_SETTINGS_BYTES)
    change = decode_json(body, _change_decoder, _invalid, "body")
    found = services(request)
    timing = await asyncio.to_thread(_apply, found.store, key.workspace_id, change)
    found.log.info(
        "workspace settings changed",
        action="workspace.settings_changed",
        workspace=key.workspace_id,
    )
    return json_reply(settings_view(timing))


_SHOWN = {200: Answer("the workspace's settings", WorkspaceSettings)}

OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/workspace/settings",
        "The workspace's time zone and allowed hours",
        get_settings,
        _SHOWN,
    ),
    Operation(
        "PUT",
        "/api/v1/workspace/settings",
        "Change the workspace's time zone or allowed hours",
        update_settings,
        _SHOWN,
        request=WorkspaceSettingsChange,
    ),
]
