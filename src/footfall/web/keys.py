"""API keys of the caller's workspace (full-scope keys): list, create, revoke, rotate.

A key sees only its own workspace's keys: any other id is a 404. A revocation made through a
process takes effect in it at once (its cache forgets the key and the key's tokens), and in the
other processes within FOOTFALL_KEY_CACHE_SECONDS.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from footfall import access
from footfall.decoding import decode_json
from footfall.exceptions import InvalidQuery
from footfall.ingest.dates import from_us
from footfall.store.rows import KeyRecord
from footfall.web.auth import full_key
from footfall.web.params import (
    NEXT_BEFORE,
    PAGE_BEFORE,
    Id,
    integer,
    limit,
    page,
    request_body,
    whole_number,
)
from footfall.web.routing import Answer, Operation, Param, json_reply
from footfall.web.services import services

__all__ = ["OPERATIONS"]

MAX_KEYS_PAGE = 1000
Scope = Literal["events", "full"]


class KeyView(msgspec.Struct, rename="camel"):
    """A key as listed: never its secret."""

    id: int
    workspace: str
    scope: str
    prefix: str  # the secret's first characters, to tell keys apart
    created: str
    last_used: str | None  # updated at most once a minute, on a lookup the cache did not answer
    revoked: str | None  # when it stopped (or, during a rotation's grace period, stops) working


class NewKey(msgspec.Struct, rename="camel"):
    """A key just created: the secret is shown this once."""

    id: int
    workspace: str
    scope: str
    api_key: str


class CreateKeyBody(msgspec.Struct):
    scope: Scope = "events"


def key_view(record: KeyRecord) -> KeyView:
    return KeyView(
        id=record.key_id,
        workspace=record.workspace,
        scope=record.scope,
        prefix=record.prefix,
        created=from_us(record.created_us),
        last_used=None if record.last_used_us is None else from_us(record.last_used_us),
        revoked=None if record.revoked_us is None else from_us(record.revoked_us),
    )


def _new(issued: access.IssuedKey) -> NewKey:
    return NewKey(issued.key_id, issued.workspace, issued.scope, issued.api_key)


def _key_id(request: Request) -> int:
    return whole_number(request.path_params["key_id"], "the key id in the path", least=1)


async def list_keys(request: Request) -> Response:
    """The workspace's keys, revoked ones included, newest first; the next page with
    ``X-Next-Before`` passed as ``before``."""
    key = await full_key(request)
    before = integer(request.query_params, "before")
    size = limit(request.query_params, "limit", 100, MAX_KEYS_PAGE)
    store = services(request).store.access

    def fetch(count: int) -> list[KeyRecord]:
        return store.list_api_keys(key.workspace_id, before, count)

    rows, headers = await page(fetch, size, NEXT_BEFORE, lambda row: str(row.key_id))
    return json_reply([key_view(row) for row in rows], headers)


_create_decoder = msgspec.json.Decoder(CreateKeyBody)


def _invalid_create(exc: msgspec.ValidationError) -> InvalidQuery:
    return InvalidQuery(f"invalid key request: {exc}")


async def create_key(request: Request) -> Response:
    """Another key for the caller's workspace (at most 1,000 that work at once)."""
    key = await full_key(request)
    body = decode_json(await request_body(request), _create_decoder, _invalid_create, "body")
    store = services(request).store.access
    issued = await run_in_threadpool(
        access.add_key, store, key.workspace_id, key.workspace, body.scope
    )
    services(request).log.info("key created", action="key.created", key_id=issued.key_id)
    return json_reply(_new(issued), status=201)


async def revoke_key(request: Request) -> Response:
    """Stop a key, and every bearer token issued for it, now. A key may revoke itself; revoking
    a revoked key changes nothing."""
    key = await full_key(request)
    found = services(request)
    record = await run_in_threadpool(
        access.revoke_key, found.store.access, _key_id(request), key.workspace_id
    )
    found.auth.forget(record.key_id)
    found.log.info("key revoked", action="key.revoked", key_id=record.key_id, by=key.key_id)
    return json_reply(key_view(record))


async def rotate_key(request: Request) -> Response:
    """A new key of the same scope in place of this one, which stops working after ``grace``
    seconds (0, the default: at once)."""
    key = await full_key(request)
    grace = limit(request.query_params, "grace", 0, access.MAX_GRACE_SECONDS, least=0)
    found = services(request)
    old = _key_id(request)
    issued = await run_in_threadpool(
        access.rotate_key, found.store.access, old, key.workspace_id, grace
    )
    found.auth.forget(old)
    found.log.info("key rotated", action="key.rotated", key_id=old, new_key_id=issued.key_id)
    return json_reply(_new(issued))


_ID = Param("key_id", "path", "the key's id, as listed", Id, True)
_GRACE = Annotated[int, msgspec.Meta(ge=0, le=access.MAX_GRACE_SECONDS)]

OPERATIONS = [
    Operation(
        "GET",
        "/api/v1/keys",
        "The workspace's API keys, newest first",
        list_keys,
        {
            200: Answer(
                "keys, never their secrets", list[KeyView], headers={NEXT_BEFORE: PAGE_BEFORE}
            )
        },
        params=(
            Param("before", "query", "the X-Next-Before of the previous page", Id),
            Param(
                "limit",
                "query",
                "keys per page",
                Annotated[int, msgspec.Meta(ge=1, le=MAX_KEYS_PAGE)],
            ),
        ),
    ),
    Operation(
        "POST",
        "/api/v1/keys",
        "Create an API key in this workspace",
        create_key,
        {201: Answer("the key; its secret is shown only now", NewKey)},
        request=CreateKeyBody,
        errors=(409,),
    ),
    Operation(
        "DELETE",
        "/api/v1/keys/{key_id}",
        "Revoke an API key and its bearer tokens",
        revoke_key,
        {200: Answer("the key, revoked", KeyView)},
        params=(_ID,),
    ),
    Operation(
        "POST",
        "/api/v1/keys/{key_id}/rotate",
        "Replace an API key with a new one of the same scope",
        rotate_key,
        {200: Answer("the new key; its secret is shown only now", NewKey)},
        params=(_ID, Param("grace", "query", "seconds the old key keeps working", _GRACE)),
        errors=(409,),
    ),
]
