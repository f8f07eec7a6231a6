"""Footfall errors to HTTP: status code, metric reason and plain-text body."""

from __future__ import annotations

from footfall.exceptions import (
    BodyTooLarge,
    ContactNotFound,
    FootfallError,
    Forbidden,
    IdentityConflict,
    InvalidContact,
    InvalidEvent,
    InvalidQuery,
    MalformedBody,
    RateLimited,
    StorageUnavailable,
    Unauthorized,
    UnknownEventType,
    UnknownWorkspace,
)

_MAPPING: list[tuple[type[FootfallError], int, str]] = [
    (MalformedBody, 400, "malformed_json"),
    (InvalidEvent, 400, "invalid"),
    (InvalidQuery, 400, "invalid_query"),
    (InvalidContact, 400, "invalid_contact"),
    (ContactNotFound, 404, "not_found"),
    (UnknownEventType, 404, "not_found"),
    (IdentityConflict, 409, "conflict"),
    (BodyTooLarge, 413, "too_large"),
    (Unauthorized, 401, "unauthorized"),
    (Forbidden, 403, "forbidden"),
    (RateLimited, 429, "rate_limited"),
    (StorageUnavailable, 503, "storage_unavailable"),
    (UnknownWorkspace, 404, "not_found"),
]


def status_for(exc: FootfallError) -> tuple[int, str]:
    """(HTTP status, metric reason) for an error; unknown ones are server errors."""
    for kind, status, reason in _MAPPING:
        if isinstance(exc, kind):
            return status, reason
    return 500, "error"


def extra_headers(status: int) -> list[tuple[bytes, bytes]]:
    if status == 401:
        return [(b"www-authenticate", b'Basic realm="footfall"')]
    if status in (429, 503):
        return [(b"retry-after", b"1")]
    return []
