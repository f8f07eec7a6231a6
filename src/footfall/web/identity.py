"""The identity audit (full-scope keys): merges made and merges refused, newest first, paged by
``before``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from footfall.web.auth import full_key
from footfall.web.params import NEXT_BEFORE, PAGE_BEFORE, Id, integer, limit, page
from footfall.web.routing import Answer, Operation, Param, json_reply
from footfall.web.services import services

__all__ = ["OPERATIONS"]

MAX_AUDIT_ROWS = 1000
Reader = Callable[[int, int | None, int | None, int], list[dict[str, Any]]]


class Merge(msgspec.Struct, rename="camel"):
    id: int
    survivor_id: int
    merged_id: int
    reason: str  # identifier kinds, never their values
    via: str
    key_id: int | None
    created_at: int  # microseconds since the epoch


class IdentityWarning(msgspec.Struct, rename="camel"):
    id: int
    kind: str
    contact_id: int
    other_contact_id: int | None
    detail: str
    via: str
    key_id: int | None
    created_at: int
    occurrences: int
    last_seen_at: int


async def _audit(request: Request, reader: Reader, shape: type[msgspec.Struct]) -> Response:
    key = await full_key(request)
    params = request.query_params
    contact = integer(params, "contactId")
    before = integer(params, "before")
    size = limit(params, "limit", 100, MAX_AUDIT_ROWS)

    def fetch(n: int) -> list[dict[str, Any]]:
        return reader(key.workspace_id, contact, before, n)

    rows, headers = await page(fetch, size, NEXT_BEFORE, lambda row: str(row["id"]))
    return json_reply([msgspec.convert(row, shape) for row in rows], headers)


async def list_merges(request: Request) -> Response:
    """The merge audit trail, newest first: survivor, merged contact, reason, key, time."""
    return await _audit(request, services(request).store.contacts.list_merges, Merge)


async def list_warnings(request: Request) -> Response:
    """Identity conflicts, such as merges refused for different externalCustomerIds."""
    store = services(request).store.contacts
    return await _audit(request, store.list_identity_warnings, IdentityWarning)


_PARAMS = (
    Param("contactId", "query", "only about this contact and those merged into it", Id),
    Param("before", "query", "the X-Next-Before of the previous page", Id),
    Param("limit", "query", "rows per page", Annotated[int, msgspec.Meta(ge=1, le=MAX_AUDIT_ROWS)]),
)

OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/identity/merges",
        "Merges made, newest first",
        list_merges,
        {200: Answer("merges", list[Merge], headers={NEXT_BEFORE: PAGE_BEFORE})},
        params=_PARAMS,
        errors=(404,),
    ),
    Operation(
        "GET",
        "/api/v1/identity/warnings",
        "Identity warnings (merges refused), newest first",
        list_warnings,
        {200: Answer("warnings", list[IdentityWarning], headers={NEXT_BEFORE: PAGE_BEFORE})},
        params=_PARAMS,
        errors=(404,),
    ),
]
