"""What an action block does, given a run's data: the HTTP request to send, the event to emit,
the value to set; and when a failed request is tried again. Pure: the engine (``actions``) reads
the data, sends and writes.

Templates read ``event``, ``contact`` and ``run`` (``template_data``). A request carries an
``Idempotency-Key`` that is the same on every attempt of one run's block, so a receiver can tell
a retry (after a timeout, or a crash that left the outcome unknown) from a new request.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from footfall.ingest.dates import moment_of
from footfall.workflows.document import Emit, Http, SetField
from footfall.workflows.templates import RenderFailed, render_json, render_text

__all__ = [
    "MAX_BODY",
    "RETRY_SCHEDULE",
    "Emission",
    "Request",
    "emission",
    "event_data",
    "field_value",
    "http_request",
    "idempotency_key",
    "retry_after",
    "retryable",
    "template_data",
]

MAX_BODY = 256 * 1024  # bytes of a rendered request body
MAX_URL = 2048
MAX_HEADER = 8192  # characters of one rendered header value
RETRY_SCHEDULE = (10.0, 60.0, 300.0, 1800.0, 3600.0)  # seconds after the 1st, 2nd… failure


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    payload: bytes | None


@dataclass(frozen=True, slots=True)
class Emission:
    event_type_key: str
    key_value: str
    params: list[dict[str, Any]]  # as events store them: [{"name", "value"}]


def template_data(
    event: Mapping[str, Any] | None, contact: Mapping[str, Any], run: Mapping[str, Any]
) -> dict[str, Any]:
    """What a template reads (``event`` is None for a run without a starting event)."""
    return {"event": dict(event or {}), "contact": dict(contact), "run": dict(run)}


def event_data(
    event_id: int, event_type: str, key_value: str, occurred_us: int, params: Any
) -> dict[str, Any]:
    occurred = moment_of(occurred_us)
    return {
        "id": event_id,
        "type": event_type,
        "keyValue": key_value,
        "occurred": occurred.isoformat().replace("+00:00", "Z"),
        "params": params,
    }


def idempotency_key(run_id: int, block_id: str) -> str:
    """The same for every attempt of one run's block, different for any other."""
    return f"footfall-run-{run_id}-{block_id}"


def http_request(block: Http, data: Mapping[str, Any], key: str) -> Request:
    """The request ``block`` makes for a run; RenderFailed when its templates cannot render
    into one (a URL that is not http(s), a header with a line break, a body too long)."""
    at = f"blocks.{block.id}"
    url = render_text(block.url, data, f"{at}.url").strip()
    if not url.startswith(("http://", "https://")) or len(url) > MAX_URL or _unsafe(url):
        raise RenderFailed(f"{at}.url rendered to {url[:200]!r}: not an http(s) URL")
    try:
        url.encode()
    except UnicodeEncodeError:
        raise RenderFailed(f"{at}.url rendered to text that is not valid Unicode") from None
    headers = {name: _header(name, value, data, at) for name, value in block.headers.items()}
    headers.update(_auth(block, data, at))
    headers["Idempotency-Key"] = key
    payload = None
    if block.body is not None:
        payload = msgspec.json.encode(render_json(block.body, data, f"{at}.body"))
        if len(payload) > MAX_BODY:
            raise RenderFailed(f"{at}.body renders to more than {MAX_BODY // 1024} KiB")
    return Request(block.method, url, headers, payload)


def _unsafe(text: str) -> bool:
    return any(ord(c) <= 32 or ord(c) == 127 for c in text)


def _header(name: str, template: str, data: Mapping[str, Any], at: str) -> str:
    value = render_text(template, data, f"{at}.headers.{name}")
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in value):
        raise RenderFailed(f"{at}.headers.{name} rendered to a value with a control character")
    if len(value) > MAX_HEADER:
        raise RenderFailed(f"{at}.headers.{name} renders to more than {MAX_HEADER} characters")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise RenderFailed(
            f"{at}.headers.{name} rendered to text that is not valid Unicode"
        ) from None
    return value


def _auth(block: Http, data: Mapping[str, Any], at: str) -> dict[str, str]:
    auth = block.auth
    if auth is None:
        return {}
    if auth.bearer is not None:
        return {"Authorization": "Bearer " + _header("auth.bearer", auth.bearer, data, at)}
    username = _header("auth.username", auth.username or "", data, at)
    password = _header("auth.password", auth.password or "", data, at)
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def retryable(status: int | None) -> bool:
    """Whether a failed attempt may succeed if tried again: no answer, a timeout, 408, 425,
    429 or a 5xx. Any other answer (a 4xx) is the receiver's refusal: the block fails."""
    return status is None or status in (408, 425, 429) or status >= 500


def retry_after(failures: int, schedule: Sequence[float] = RETRY_SCHEDULE) -> float:
    """Seconds before the next attempt after ``failures`` failed ones (1-based)."""
    return schedule[min(failures, len(schedule)) - 1]


def emission(block: Emit, data: Mapping[str, Any], starting_key: str) -> Emission:
    """The event an emit block records for a run (its key: the starting event's by default)."""
    at = f"blocks.{block.id}"
    key = starting_key
    if block.key_value is not None:
        key = render_text(block.key_value, data, f"{at}.keyValue").strip()
    if not key:
        raise RenderFailed(f"{at}.keyValue rendered empty")
    params = render_json(block.params or {}, data, f"{at}.params")
    return Emission(block.event, key, [{"name": k, "value": v} for k, v in params.items()])


def field_value(block: SetField, data: Mapping[str, Any]) -> Any:
    """The value a setField block sets (a whole expression keeps its JSON type)."""
    return render_json(block.value, data, f"blocks.{block.id}.value")
