"""Footfall errors to HTTP, the one place that knows both: status code, metric reason, headers and
plain-text body, rendered alike on the raw ASGI path and in Starlette."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from footfall.exceptions import (
    BodyTimeout,
    BodyTooLarge,
    ContactNotFound,
    EventNotFound,
    FootfallError,
    Forbidden,
    IdentityConflict,
    InvalidContact,
    InvalidEvent,
    InvalidQuery,
    InvalidTemplate,
    InvalidWebhook,
    InvalidWorkflow,
    KeyConflict,
    MalformedBody,
    PreviewFailed,
    RateLimited,
    StorageUnavailable,
    TemplateExists,
    TemplateNotFound,
    TooManyTemplates,
    TooManyWebhooks,
    TooManyWorkflows,
    Unauthorized,
    UnknownEventType,
    UnknownKey,
    UnknownWorkspace,
    WebhookNotFound,
    WorkflowExists,
    WorkflowNotFound,
)
from footfall.web.asgi import TEXT, Header, Send, send_reply
from footfall.web.services import services

__all__ = [
    "STORAGE_UNAVAILABLE",
    "TOO_DEEP",
    "Problem",
    "footfall_error",
    "gone",
    "not_found",
    "problem",
    "status_headers",
    "too_deep",
]

_MAPPING: list[tuple[type[FootfallError], int, str]] = [
    (MalformedBody, 400, "malformed_json"),
    (InvalidEvent, 400, "invalid"),
    (InvalidQuery, 400, "invalid_query"),
    (InvalidContact, 400, "invalid_contact"),
    (InvalidWebhook, 400, "invalid_webhook"),
    (WebhookNotFound, 404, "not_found"),
    (TooManyWebhooks, 409, "conflict"),
    (InvalidWorkflow, 400, "invalid_workflow"),
    (WorkflowNotFound, 404, "not_found"),
    (WorkflowExists, 409, "conflict"),
    (TooManyWorkflows, 409, "conflict"),
    (InvalidTemplate, 400, "invalid_template"),
    (TemplateNotFound, 404, "not_found"),
    (TemplateExists, 409, "conflict"),
    (TooManyTemplates, 409, "conflict"),
    (PreviewFailed, 422, "render_failed"),
    (EventNotFound, 404, "not_found"),
    (ContactNotFound, 404, "not_found"),
    (UnknownEventType, 404, "not_found"),
    (UnknownKey, 404, "not_found"),
    (IdentityConflict, 409, "conflict"),
    (KeyConflict, 409, "conflict"),
    (BodyTooLarge, 413, "too_large"),
    (BodyTimeout, 408, "timeout"),
    (Unauthorized, 401, "unauthorized"),
    (Forbidden, 403, "forbidden"),
    (RateLimited, 429, "rate_limited"),
    (StorageUnavailable, 503, "storage_unavailable"),
    (UnknownWorkspace, 404, "not_found"),
]
RETRY_AFTER_SECONDS = 1
# All a client hears of a storage problem: the driver's text (host, port, database name, file
# paths) goes to the logs only.
STORAGE_UNAVAILABLE = "storage unavailable: try again shortly"
# What the client hears when Python's recursion limit stops us on its input: the decoders refuse
# deep JSON themselves, but a third-party library (jsonschema) or a re-encoding may hit it too.
TOO_DEEP = "the body is nested too deeply"


def status_headers(status: int) -> list[Header]:
    """What a client needs to act on a refusal: how to authenticate, or when to come back."""
    if status == 401:
        return [(b"www-authenticate", b'Basic realm="footfall"')]
    if status in (429, 503):
        return [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())]
    return []


@dataclass(frozen=True, slots=True)
class Problem:
    """A refusal as the client sees it: a status and a plain-text body saying what is wrong."""

    status: int
    reason: str  # the label of the rejection metric
    message: str

    @property
    def body(self) -> bytes:
        return self.message.encode("utf-8", "replace")

    def response(self) -> Response:
        response = Response(self.body, status_code=self.status)
        response.raw_headers = [*response.raw_headers, TEXT, *status_headers(self.status)]
        return response

    async def send(self, send: Send) -> None:
        await send_reply(send, self.status, self.body, TEXT, status_headers(self.status))


def problem(exc: FootfallError) -> Problem:
    """The refusal for an error; errors without a mapping are server errors."""
    for kind, status, reason in _MAPPING:
        if isinstance(exc, kind):
            message = STORAGE_UNAVAILABLE if status == 503 else str(exc)
            return Problem(status, reason, message)
    return Problem(500, "error", str(exc))


async def footfall_error(request: Request, exc: Exception) -> Response:
    """Starlette's handler of every FootfallError a route lets through."""
    assert isinstance(exc, FootfallError)
    refusal = problem(exc)
    if refusal.status == 503:
        services(request).log.warning(
            "storage unavailable",
            action="storage.unavailable",
            path=request.url.path,
            error=str(exc),
        )
    return refusal.response()


async def too_deep(request: Request, exc: Exception) -> Response:
    """Starlette's handler of a RecursionError: the client's input was too deep for some step."""
    return problem(MalformedBody(TOO_DEEP)).response()


async def gone(request: Request, exc: Exception) -> Response:
    """Starlette's handler of a client that left before its body arrived: no one hears this."""
    return Response(b"", status_code=400)


async def not_found(request: Request, exc: Exception) -> Response:
    message = f"no route for {request.method} {request.url.path}"
    return Problem(404, "not_found", message).response()
