"""A webhook subscription's document: what the API and the CLI accept, checked field by field."""

from __future__ import annotations

from typing import Any

from footfall.exceptions import InvalidEvent, InvalidWebhook
from footfall.ingest.events import check_type_key
from footfall.records import EVENTS, IDENTITY, WebhookSpec

STREAMS = (EVENTS, IDENTITY)
MAX_BATCH = 1000
MAX_EVENT_TYPES = 200
MAX_TEXT = 200
FIELDS = ("url", "eventTypes", "streams", "batchSize", "basicAuth")


def parse_spec(document: Any) -> WebhookSpec:
    """The subscription ``document`` describes; InvalidWebhook naming the field otherwise.
    The URL is only parsed here; where it leads is the guard's business."""
    if not isinstance(document, dict):
        raise InvalidWebhook("the body must be a JSON object", field="body")
    unknown = sorted(set(document) - set(FIELDS))
    if unknown:
        raise InvalidWebhook(
            f"unknown field(s) {', '.join(unknown)}; expected {', '.join(FIELDS)}", field=unknown[0]
        )
    url = document.get("url")
    if not isinstance(url, str) or not url.strip():
        raise InvalidWebhook("url is required: the address to POST deliveries to", field="url")
    username, password = _basic_auth(document.get("basicAuth"))
    return WebhookSpec(
        url=url.strip(),
        event_types=_event_types(document.get("eventTypes")),
        streams=_streams(document.get("streams")),
        batch_size=_batch_size(document.get("batchSize")),
        basic_username=username,
        basic_password=password,
    )


def _control(text: str) -> bool:
    """True when ``text`` holds a control character (NUL included: no database stores it)."""
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def _event_types(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise InvalidWebhook("eventTypes must be a list of event type keys", field="eventTypes")
    if len(value) > MAX_EVENT_TYPES:
        raise InvalidWebhook(f"eventTypes: at most {MAX_EVENT_TYPES}", field="eventTypes")
    for key in value:
        try:
            check_type_key(key)
        except InvalidEvent as exc:
            raise InvalidWebhook(
                f"eventTypes: {_shown(key)}: {exc.message}", field="eventTypes"
            ) from None
        if _control(key):
            raise InvalidWebhook(
                f"eventTypes: {_shown(key)} holds a control character", field="eventTypes"
            )
    return tuple(dict.fromkeys(value))


def _shown(key: str) -> str:
    """A refused key as an error message quotes it: its first 100 characters."""
    return repr(key) if len(key) <= 100 else f"{key[:100]!r}… ({len(key)} characters)"


def _streams(value: Any) -> tuple[str, ...]:
    if value is None:
        return (EVENTS,)
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v in STREAMS for v in value)
    ):
        raise InvalidWebhook(
            f"streams must be a non-empty list of {' and '.join(STREAMS)}", field="streams"
        )
    return tuple(s for s in STREAMS if s in value)


def _batch_size(value: Any) -> int:
    if value is None:
        return 100
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BATCH:
        raise InvalidWebhook(
            f"batchSize must be an integer from 1 to {MAX_BATCH}", field="batchSize"
        )
    return int(value)


def _basic_auth(value: Any) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    if not isinstance(value, dict) or set(value) - {"username", "password"}:
        raise InvalidWebhook(
            'basicAuth must be {"username": ..., "password": ...}', field="basicAuth"
        )
    username, password = value.get("username"), value.get("password")
    for name, text in (("username", username), ("password", password)):
        if not isinstance(text, str) or len(text) > MAX_TEXT or _control(text):
            raise InvalidWebhook(
                f"basicAuth.{name} must be a string of at most {MAX_TEXT} characters, "
                "without control characters",
                field=f"basicAuth.{name}",
            )
    if ":" in str(username):
        raise InvalidWebhook("basicAuth.username cannot hold ':'", field="basicAuth.username")
    return username, password
