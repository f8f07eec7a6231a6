"""The contacts API (full-scope keys): eSputnik's contact routes, plus timeline, export and the
identity audit (merges and warnings)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from footfall.access import now_us
from footfall.exceptions import (
    InvalidContact,
    InvalidQuery,
    MalformedBody,
)
from footfall.identity.contacts import ContactBody, decode_contact, invalid_shape, validate
from footfall.identity.normalize import normalize_email, normalize_phone
from footfall.store.contacts import DEDUPE_ON, ContactFilter
from footfall.store.identity import Why
from footfall.store.records import ApiKey
from footfall.web.read import _full_key, _int, event_page, event_query, request_body

MAX_ROWS = 500
MAX_BULK = 3000
MAX_AUDIT_ROWS = 1000


class BulkBody(msgspec.Struct):
    contacts: list[msgspec.Raw]
    dedupeOn: str | None = None  # noqa: N815 - wire name
    restoreDeleted: bool = False  # noqa: N815


def _contact_id(request: Request) -> int:
    text = request.path_params["contact_id"]
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 2**63:
        raise InvalidQuery(f"a contact id is a positive integer, got {text!r}")
    return int(text)


def _why(key: ApiKey, reason: str) -> Why:
    return Why(reason, "api", key.key_id, now_us())


def _count_identity(request: Request, merges: int, notes: int) -> None:
    metrics = request.app.state.services.metrics
    if merges:
        metrics.identity_merges.inc(merges)
    if notes:
        metrics.identity_warnings.inc(notes)


def _erase(request: Request) -> bool:
    text = request.query_params.get("erase", "false").strip().lower()
    if text not in ("true", "false", "1", "0", ""):
        raise InvalidQuery(f"erase must be true or false, got {text!r}")
    return text in ("true", "1")


async def create_contact(request: Request) -> Response:
    """``POST /contact``: create, or update the contact the document identifies."""
    key = await _full_key(request)
    doc = decode_contact(await request_body(request))
    store = request.app.state.services.store
    why = _why(key, "one contacts API call carried identifiers of both contacts")
    saved = await run_in_threadpool(store.contacts.upsert_contact, key.workspace_id, doc, why)
    _count_identity(request, saved.merges, len(saved.notes))
    reply: dict[str, Any] = {"id": saved.id}
    if saved.notes:
        reply["warnings"] = list(saved.notes)
    return JSONResponse(reply)


async def update_contact(request: Request) -> Response:
    key = await _full_key(request)
    contact_id = _contact_id(request)
    doc = decode_contact(await request_body(request))
    store = request.app.state.services.store
    await run_in_threadpool(
        store.contacts.update_contact, key.workspace_id, contact_id, doc, now_us()
    )
    return PlainTextResponse(f"Contact with id='{contact_id}' has been updated")


async def get_contact(request: Request) -> Response:
    key = await _full_key(request)
    store = request.app.state.services.store
    document = await run_in_threadpool(
        store.contacts.get_contact, key.workspace_id, _contact_id(request)
    )
    return JSONResponse(document)


async def delete_contact(request: Request) -> Response:
    """``DELETE /contact/{id}`` marks it deleted; ``?erase=true`` removes it and its data."""
    key = await _full_key(request)
    contact_id = _contact_id(request)
    store = request.app.state.services.store
    await run_in_threadpool(
        store.contacts.delete_contact, key.workspace_id, contact_id, _erase(request), now_us()
    )
    return PlainTextResponse(f"Contact with id='{contact_id}' has been deleted")


async def delete_contact_by_external_id(request: Request) -> Response:
    key = await _full_key(request)
    external_id = (request.query_params.get("externalCustomerId") or "").strip()
    if not external_id:
        raise InvalidQuery("externalCustomerId is required")
    store = request.app.state.services.store
    erase = _erase(request)
    contact = await run_in_threadpool(
        store.contacts.contact_by_external_id, key.workspace_id, external_id
    )
    await run_in_threadpool(
        store.contacts.delete_contact, key.workspace_id, contact, erase, now_us()
    )
    return PlainTextResponse(f"Contact with id='{contact}' has been deleted")


def _filter(params: Any) -> ContactFilter:
    email = params.get("email")
    if email:
        email = normalize_email(email)
        if email is None:
            raise InvalidQuery(f"email {params.get('email')!r} is not a valid e-mail address")
    phone = params.get("sms")
    if phone:
        phone = normalize_phone(phone)
        if phone is None:
            raise InvalidQuery(f"sms {params.get('sms')!r} is not a valid phone number")
    return ContactFilter(
        external_id=params.get("externalCustomerId") or None,
        email=email or None,
        phone=phone or None,
        first_name=params.get("firstname") or None,
        last_name=params.get("lastname") or None,
    )


async def search_contacts(request: Request) -> Response:
    """``GET /contacts``: 1-based ``startindex``, ``maxrows`` ≤ 500, ``TotalCount`` header."""
    key = await _full_key(request)
    params = request.query_params
    start = _int(params, "startindex", 1)
    rows = _int(params, "maxrows", MAX_ROWS)
    assert start is not None and rows is not None
    if start < 1:
        raise InvalidQuery(f"startindex is 1-based, got {start}")
    if not 1 <= rows <= MAX_ROWS:
        raise InvalidQuery(f"maxrows must be between 1 and {MAX_ROWS}, got {rows}")
    store = request.app.state.services.store
    found, total = await run_in_threadpool(
        store.contacts.find_contacts, key.workspace_id, _filter(params), start - 1, rows
    )
    return JSONResponse(found, headers={"TotalCount": str(total)})


_bulk_decoder = msgspec.json.Decoder(BulkBody)
_item_decoder = msgspec.json.Decoder(ContactBody)


def _bulk(body: bytes) -> BulkBody:
    try:
        bulk = _bulk_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidContact(f"invalid body: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc}") from exc
    if len(bulk.contacts) > MAX_BULK:
        raise InvalidContact(f"at most {MAX_BULK} contacts per request, got {len(bulk.contacts)}")
    if bulk.dedupeOn is not None and bulk.dedupeOn not in DEDUPE_ON:
        raise InvalidContact(
            f"dedupeOn must be one of {', '.join(DEDUPE_ON)}, got {bulk.dedupeOn!r}"
        )
    return bulk


def _save_all(store: Any, key: ApiKey, bulk: BulkBody) -> tuple[list[dict[str, Any]], int, int]:
    """Validate every contact, then store the valid ones in one transaction."""
    failed: list[dict[str, Any]] = []
    docs = []
    for index, raw in enumerate(bulk.contacts):
        try:
            docs.append((index, validate(_item_decoder.decode(raw), where=f"contacts[{index}].")))
        except msgspec.ValidationError as exc:
            failed.append(
                {"index": index, "errors": str(invalid_shape(exc, f"contacts[{index}]."))}
            )
        except InvalidContact as exc:
            failed.append({"index": index, "errors": str(exc)})
    why = _why(key, "one contacts API call carried identifiers of both contacts")
    result = store.contacts.upsert_contacts(
        key.workspace_id, docs, why, dedupe=bulk.dedupeOn, restore=bulk.restoreDeleted
    )
    failed += [{"index": index, "errors": error} for index, error in result.failed]
    failed.sort(key=lambda item: item["index"])
    merged = sum(saved.merges for saved in result.saved)
    warned = sum(len(saved.notes) for saved in result.saved)
    return failed, merged, warned


async def bulk_contacts(request: Request) -> Response:
    """``POST /contacts``: up to 3000 contacts, upserted by ``dedupeOn``.

    eSputnik answers at once and imports in the background; Footfall imports before answering,
    so ``failedContacts`` is already complete and ``asyncSessionId`` is only for compatibility.
    """
    key = await _full_key(request)
    bulk = _bulk(await request_body(request))
    store = request.app.state.services.store
    failed, merged, warned = await run_in_threadpool(_save_all, store, key, bulk)
    _count_identity(request, merged, warned)
    return JSONResponse({"asyncSessionId": str(uuid.uuid4()), "failedContacts": failed})


async def contact_events(request: Request) -> Response:
    """The contact's timeline, newest first, merged contacts included; pages by ``cursor``."""
    key = await _full_key(request)
    store = request.app.state.services.store
    ids = await run_in_threadpool(
        store.contacts.contact_family, key.workspace_id, _contact_id(request)
    )
    query = dataclasses.replace(event_query(request.query_params), contact_ids=tuple(ids))
    return await event_page(request, key.workspace_id, query)


async def export_contact(request: Request) -> Response:
    key = await _full_key(request)
    store = request.app.state.services.store
    exported = await run_in_threadpool(
        store.contacts.export_contact, key.workspace_id, _contact_id(request)
    )
    return Response(
        msgspec.json.encode(exported),
        media_type="application/json",
        headers={"Content-Disposition": "attachment; filename=contact-export.json"},
    )


def _audit_page(request: Request) -> tuple[int | None, int | None, int]:
    params = request.query_params
    limit = _int(params, "limit", 100)
    assert limit is not None
    if not 1 <= limit <= MAX_AUDIT_ROWS:
        raise InvalidQuery(f"limit must be between 1 and {MAX_AUDIT_ROWS}, got {limit}")
    return _int(params, "contactId", None), _int(params, "before", None), limit


async def _audit(request: Request, reader: str) -> Response:
    key = await _full_key(request)
    contact, before, limit = _audit_page(request)
    store = request.app.state.services.store
    rows = await run_in_threadpool(
        getattr(store.contacts, reader), key.workspace_id, contact, before, limit + 1
    )
    headers = {}
    if len(rows) > limit:
        rows = rows[:limit]
        headers["X-Next-Before"] = str(rows[-1]["id"])
    return JSONResponse(rows, headers=headers)


async def list_merges(request: Request) -> Response:
    """The merge audit trail, newest first: survivor, merged contact, reason, key, time."""
    return await _audit(request, "list_merges")


async def list_warnings(request: Request) -> Response:
    """Identity conflicts, such as merges refused for different externalCustomerIds."""
    return await _audit(request, "list_identity_warnings")


ROUTES = [
    Route("/api/v1/contact", create_contact, methods=["POST"]),
    Route("/api/v1/contact", delete_contact_by_external_id, methods=["DELETE"]),
    Route("/api/v1/contact/{contact_id}", get_contact, methods=["GET"]),
    Route("/api/v1/contact/{contact_id}", update_contact, methods=["PUT"]),
    Route("/api/v1/contact/{contact_id}", delete_contact, methods=["DELETE"]),
    Route("/api/v1/contact/{contact_id}/events", contact_events, methods=["GET"]),
    Route("/api/v1/contact/{contact_id}/export", export_contact, methods=["GET"]),
    Route("/api/v1/contacts", search_contacts, methods=["GET"]),
    Route("/api/v1/contacts", bulk_contacts, methods=["POST"]),
    Route("/api/v1/identity/merges", list_merges, methods=["GET"]),
    Route("/api/v1/identity/warnings", list_warnings, methods=["GET"]),
]
