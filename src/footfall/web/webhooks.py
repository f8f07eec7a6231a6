"""Webhook subscriptions of the caller's workspace (full-scope keys): create, list, get, update,
delete, enable, disable, replay the dead letters, and the log of delivery attempts.

The secret that signs a subscription's deliveries is shown once, in the answer to its creation.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from footfall.decoding import decode_json
from footfall.exceptions import InvalidWebhook
from footfall.ingest.dates import from_us
from footfall.store.webhooks import Attempt, Pending, Webhook
from footfall.web.auth import full_key
from footfall.web.params import Id, limit, request_body, whole_number
from footfall.web.routing import Answer, Operation, Param, json_reply
from footfall.web.services import services

__all__ = ["OPERATIONS"]

MAX_ATTEMPTS_PAGE = 1000


class BasicAuth(msgspec.Struct):
    username: str
    password: str


class WebhookBody(msgspec.Struct, rename="camel", omit_defaults=True):
    """A subscription as created or replaced (PUT): every field but ``url`` is optional."""

    url: str
    event_types: list[str] | None = None  # absent or empty: every accepted event
    streams: list[str] | None = None  # "events" (the default), "identity"
    batch_size: int | None = None  # items per delivery, 1 to 1,000 (default 100)
    basic_auth: BasicAuth | None = None


class Created(msgspec.Struct):
    id: int
    secret: str  # whsec_…: verifies the signature of every delivery; shown only now


class Username(msgspec.Struct):
    username: str  # the password is never shown


class WebhookView(msgspec.Struct, rename="camel"):
    id: int
    url: str
    event_types: list[str]
    streams: list[str]
    batch_size: int
    basic_auth: Username | None
    status: str  # active, disabled, paused (after failing for FOOTFALL_WEBHOOK_MAX_AGE)
    status_reason: str | None
    pending: int  # items waiting to be delivered
    dead_lettered: int  # items set aside when it was paused (POST …/replay sends them)
    next_attempt: str | None
    failed_attempts: int  # in a row, of the delivery due next
    created: str
    updated: str


class AttemptView(msgspec.Struct, rename="camel"):
    message_id: str  # the webhook-id header: the same on every retry of one delivery
    at: str
    status_code: int | None
    error: str | None
    latency_ms: float
    items: int
    next_retry: str | None


class Replayed(msgspec.Struct):
    replayed: int


def view(webhook: Webhook, waiting: Pending) -> WebhookView:
    spec = webhook.spec
    return WebhookView(
        id=webhook.id,
        url=spec.url,
        event_types=list(spec.event_types),
        streams=list(spec.streams),
        batch_size=spec.batch_size,
        basic_auth=None if spec.basic_username is None else Username(spec.basic_username),
        status=webhook.status,
        status_reason=webhook.status_reason,
        pending=waiting.pending,
        dead_lettered=waiting.dead,
        next_attempt=None if waiting.due_us is None else from_us(waiting.due_us),
        failed_attempts=waiting.attempts,
        created=from_us(webhook.created_us),
        updated=from_us(webhook.updated_us),
    )


def attempt_view(attempt: Attempt) -> AttemptView:
    return AttemptView(
        attempt.message_id,
        from_us(attempt.at_us),
        attempt.status_code,
        attempt.error,
        round(attempt.latency_ms, 1),
        attempt.items,
        None if attempt.next_retry_us is None else from_us(attempt.next_retry_us),
    )


_any = msgspec.json.Decoder()


def _invalid(exc: msgspec.ValidationError) -> InvalidWebhook:
    return InvalidWebhook(f"invalid webhook: {exc}")


async def _document(request: Request) -> Any:
    return decode_json(await request_body(request), _any, _invalid, "body")


def _verify(request: Request) -> bool:
    given = request.query_params.get("verify", "true").lower()
    if given not in ("true", "false"):
        raise InvalidWebhook("verify must be true or false", field="verify")
    return given == "true"


def _id(request: Request) -> int:
    return whole_number(request.path_params["webhook_id"], "the webhook id in the path", least=1)


async def _shown(request: Request, ws: int, webhook: Webhook) -> Response:
    waiting = await services(request).webhooks.pending(ws, webhook.id)
    return json_reply(view(webhook, waiting))


async def create_webhook(request: Request) -> Response:
    """Subscribe a URL to the workspace's events (and identity changes); its URL must answer a
    GET with a 2xx unless ``verify=false``."""
    key = await full_key(request)
    document = await _document(request)
    found = services(request)
    webhook = await found.webhooks.create(key.workspace_id, document, _verify(request))
    found.log.info("webhook created", action="webhook.created", webhook=webhook.id)
    return json_reply(Created(webhook.id, webhook.secret), status=201)


async def list_webhooks(request: Request) -> Response:
    key = await full_key(request)
    listed = await services(request).webhooks.listed(key.workspace_id)
    return json_reply([view(hook, waiting) for hook, waiting in listed])


async def get_webhook(request: Request) -> Response:
    key = await full_key(request)
    webhook = await services(request).webhooks.get(key.workspace_id, _id(request))
    return await _shown(request, key.workspace_id, webhook)


async def update_webhook(request: Request) -> Response:
    """Replace a subscription's settings (its secret, status and waiting items stay)."""
    key = await full_key(request)
    document = await _document(request)
    service = services(request).webhooks
    webhook = await service.update(key.workspace_id, _id(request), document, _verify(request))
    return await _shown(request, key.workspace_id, webhook)


async def delete_webhook(request: Request) -> Response:
    """Remove a subscription, with everything waiting for it and its log."""
    key = await full_key(request)
    await services(request).webhooks.delete(key.workspace_id, _id(request))
    return Response(status_code=204)


async def enable_webhook(request: Request) -> Response:
    key = await full_key(request)
    webhook = await services(request).webhooks.enable(key.workspace_id, _id(request))
    return await _shown(request, key.workspace_id, webhook)


async def disable_webhook(request: Request) -> Response:
    """Stop delivering and queueing; what was waiting stays until it is enabled again."""
    key = await full_key(request)
    webhook = await services(request).webhooks.disable(key.workspace_id, _id(request))
    return await _shown(request, key.workspace_id, webhook)


async def replay_webhook(request: Request) -> Response:
    """Send the dead-lettered items again, before newer ones, and make the subscription active."""
    key = await full_key(request)
    count = await services(request).webhooks.replay(key.workspace_id, _id(request))
    return json_reply(Replayed(count))


async def list_deliveries(request: Request) -> Response:
    """The latest delivery attempts, newest first."""
    key = await full_key(request)
    size = limit(request.query_params, "limit", 100, MAX_ATTEMPTS_PAGE)
    attempts = await services(request).webhooks.attempts(key.workspace_id, _id(request), size)
    return json_reply([attempt_view(a) for a in attempts])


_ID = Param("webhook_id", "path", "the subscription's id", Id, True)
_VERIFY = Param("verify", "query", "check the URL with a GET first (default true)", bool)
_SHOWN = {200: Answer("the subscription", WebhookView)}

OPERATIONS = [
    Operation(
        "POST",
        "/api/v1/webhooks",
        "Subscribe a URL to the workspace's events",
        create_webhook,
        {201: Answer("its id and signing secret (shown only now)", Created)},
        request=WebhookBody,
        params=(_VERIFY,),
        errors=(409,),
    ),
    Operation(
        "GET",
        "/api/v1/webhooks",
        "The workspace's webhook subscriptions",
        list_webhooks,
        {200: Answer("the subscriptions", list[WebhookView])},
    ),
    Operation(
        "GET",
        "/api/v1/webhooks/{webhook_id}",
        "A webhook subscription",
        get_webhook,
        _SHOWN,
        params=(_ID,),
    ),
    Operation(
        "PUT",
        "/api/v1/webhooks/{webhook_id}",
        "Replace a webhook subscription's settings",
        update_webhook,
        _SHOWN,
        request=WebhookBody,
        params=(_ID, _VERIFY),
    ),
    Operation(
        "DELETE",
        "/api/v1/webhooks/{webhook_id}",
        "Remove a webhook subscription and what waits for it",
        delete_webhook,
        {204: Answer("removed", media_type=None)},
        params=(_ID,),
    ),
    Operation(
        "POST",
        "/api/v1/webhooks/{webhook_id}/enable",
        "Deliver again",
        enable_webhook,
        _SHOWN,
        params=(_ID,),
    ),
    Operation(
        "POST",
        "/api/v1/webhooks/{webhook_id}/disable",
        "Stop delivering",
        disable_webhook,
        _SHOWN,
        params=(_ID,),
    ),
    Operation(
        "POST",
        "/api/v1/webhooks/{webhook_id}/replay",
        "Send the dead-lettered items again",
        replay_webhook,
        {200: Answer("how many items were put back in line", Replayed)},
        params=(_ID,),
    ),
    Operation(
        "GET",
        "/api/v1/webhooks/{webhook_id}/deliveries",
        "The latest delivery attempts",
        list_deliveries,
        {200: Answer("attempts, newest first", list[AttemptView])},
        params=(
            _ID,
            Param(
                "limit",
                "query",
                "attempts",
                Annotated[int, msgspec.Meta(ge=1, le=MAX_ATTEMPTS_PAGE)],
            ),
        ),
    ),
]
