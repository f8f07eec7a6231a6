"""One contact (full-scope keys): eSputnik's contact routes, plus the contact's timeline and its
export (the right of access). The ``/contacts`` collection is in ``contact_list``."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from footfall.clock import now_us
from footfall.exceptions import InvalidQuery
from footfall.identity.contacts import ContactRequest, decode_contact_request
from footfall.ingest.dates import from_us
from footfall.store.contacts import ContactStore
from footfall.store.identity import Why
from footfall.store.rows import ApiKey
from footfall.web.auth import full_key
from footfall.web.history import PAGE, PAGE_PARAMS, event_page, event_query
from footfall.web.params import Id, request_body, text, truth, whole_number
from footfall.web.routing import Answer, Operation, Param, json_reply
from footfall.web.services import services

__all__ = [
    "OPERATIONS",
    "ContactDocument",
    "contact_document",
    "contact_id",
    "count_identity",
    "why",
]


class Channel(msgspec.Struct):
    type: str
    value: str


class Field(msgspec.Struct):
    id: int | str
    value: Any


class ContactDocument(msgspec.Struct, rename="camel"):
    id: int
    external_customer_id: str | None
    first_name: str | None
    last_name: str | None
    channels: list[Channel]
    address: dict[str, Any] | None
    fields: list[Field]
    language_code: str | None
    time_zone: str | None
    anonymous: bool
    source: str
    created_at: str  # ISO 8601 in UTC, like an event's occurred
    updated_at: str


class Created(msgspec.Struct):
    id: int
    warnings: list[str] | msgspec.UnsetType = msgspec.UNSET  # merges refused


class ContactExport(msgspec.Struct):
    contact: ContactDocument
    records: dict[str, list[dict[str, Any]]]  # table -> its rows about the contact


def contact_document(found: dict[str, Any]) -> ContactDocument:
    """A contact as the store reads it, its times in ISO 8601 like events'."""
    times = {"createdAt": from_us(found["createdAt"]), "updatedAt": from_us(found["updatedAt"])}
    return msgspec.convert({**found, **times}, ContactDocument)


def contact_id(request: Request) -> int:
    return whole_number(request.path_params["contact_id"], "the contact id in the path", least=1)


def why(key: ApiKey) -> Why:
    return Why(
        "one contacts API call carried identifiers of both contacts", "api", key.key_id, now_us()
    )


def count_identity(request: Request, merges: int, notes: int) -> None:
    services(request).metrics.count_identity(merges, notes)


def _contacts(request: Request) -> ContactStore:
    return services(request).store.contacts


async def create_contact(request: Request) -> Response:
    """``POST /contact``: create, or update the contact the document (bare or wrapped) names."""
    key = await full_key(request)
    doc = decode_contact_request(await request_body(request))
    upsert = _contacts(request).upsert_contact
    saved = await run_in_threadpool(upsert, key.workspace_id, doc, why(key))
    count_identity(request, saved.merges, len(saved.notes))
    return json_reply(Created(saved.id, list(saved.notes) if saved.notes else msgspec.UNSET))


async def update_contact(request: Request) -> Response:
    """``PUT /contact/{id}``: change what the document names (bare or wrapped in ``contact``)."""
    key = await full_key(request)
    contact = contact_id(request)
    doc = decode_contact_request(await request_body(request))
    update = _contacts(request).update_contact
    await run_in_threadpool(update, key.workspace_id, contact, doc, now_us())
    return PlainTextResponse(f"Contact with id='{contact}' has been updated")


async def get_contact(request: Request) -> Response:
    key = await full_key(request)
    found = _contacts(request).get_contact
    document = await run_in_threadpool(found, key.workspace_id, contact_id(request))
    return json_reply(contact_document(document))


def _erase(request: Request) -> bool:
    return bool(truth(request.query_params, "erase", False))


async def delete_contact(request: Request) -> Response:
    """``DELETE /contact/{id}`` marks it deleted; ``?erase=true`` removes it and its data."""
    key = await full_key(request)
    contact = contact_id(request)
    delete = _contacts(request).delete_contact
    await run_in_threadpool(delete, key.workspace_id, contact, _erase(request), now_us())
    return PlainTextResponse(f"Contact with id='{contact}' has been deleted")


async def delete_contact_by_external_id(request: Request) -> Response:
    key = await full_key(request)
    external_id = (text(request.query_params, "externalCustomerId") or "").strip()
    if not external_id:
        raise InvalidQuery("externalCustomerId is required")
    erase = _erase(request)
    store = _contacts(request)
    contact = await run_in_threadpool(store.contact_by_external_id, key.workspace_id, external_id)
    await run_in_threadpool(store.delete_contact, key.workspace_id, contact, erase, now_us())
    return PlainTextResponse(f"Contact with id='{contact}' has been deleted")


async def contact_events(request: Request) -> Response:
    """The contact's timeline, newest first, merged contacts included; pages by ``cursor``."""
    key = await full_key(request)
    family = _contacts(request).contact_family
    ids = await run_in_threadpool(family, key.workspace_id, contact_id(request))
    query = dataclasses.replace(event_query(request.query_params), contact_ids=tuple(ids))
    return await event_page(request, key.workspace_id, query)


async def export_contact(request: Request) -> Response:
    key = await full_key(request)
    export = _contacts(request).export_contact
    exported = await run_in_threadpool(export, key.workspace_id, contact_id(request))
    return json_reply(
        ContactExport(contact_document(exported["contact"]), exported["records"]),
        {"Content-Disposition": "attachment; filename=contact-export.json"},
    )


_ID = Param("contact_id", "path", "the contact's id (a merged contact's old id too)", Id, True)
_ERASE = Param("erase", "query", "true: erase it and its data, not only mark it deleted", bool)
_DELETED = {200: Answer("deleted", media_type="text/plain")}

OPERATIONS = [
    Operation(
        "POST",
        "/api/v1/contact",
        "Create or update a contact",
        create_contact,
        {200: Answer("the contact's id, and any merges refused", Created)},
        request=ContactRequest,
        errors=(409,),
    ),
    Operation(
        "DELETE",
        "/api/v1/contact",
        "Delete the contact with an externalCustomerId",
        delete_contact_by_external_id,
        _DELETED,
        params=(Param("externalCustomerId", "query", "whose contact", str, True), _ERASE),
        errors=(404,),
    ),
    Operation(
        "GET",
        "/api/v1/contact/{contact_id}",
        "A contact",
        get_contact,
        {200: Answer("the contact", ContactDocument)},
        params=(_ID,),
    ),
    Operation(
        "PUT",
        "/api/v1/contact/{contact_id}",
        "Update a contact",
        update_contact,
        {200: Answer("updated", media_type="text/plain")},
        request=ContactRequest,
        params=(_ID,),
        errors=(409,),
    ),
    Operation(
        "DELETE",
        "/api/v1/contact/{contact_id}",
        "Delete a contact",
        delete_contact,
        _DELETED,
        params=(_ID, _ERASE),
    ),
    Operation(
        "GET",
        "/api/v1/contact/{contact_id}/events",
        "A contact's timeline, merged contacts included",
        contact_events,
        {200: PAGE},
        params=(_ID, *PAGE_PARAMS),
    ),
    Operation(
        "GET",
        "/api/v1/contact/{contact_id}/export",
        "Everything stored about a contact",
        export_contact,
        {200: Answer("the contact and its rows, table by table", ContactExport)},
        params=(_ID,),
    ),
]
