"""The ``/contacts`` collection (full-scope keys): search with eSputnik's paging, and bulk upsert
of up to 3000 contacts in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from footfall.decoding import decode_json
from footfall.exceptions import InvalidContact, InvalidQuery, MalformedBody
from footfall.identity.contacts import ContactBody, decode_contact
from footfall.identity.normalize import normalize_email, normalize_phone
from footfall.store.contact_reads import ContactFilter
from footfall.store.contacts import DEDUPE_ON, ContactStore
from footfall.store.rows import ApiKey
from footfall.web.auth import full_key
from footfall.web.contacts import ContactDocument, contact_document, count_identity, why
from footfall.web.params import MAX_ID, Id, Params, limit, request_body, text
from footfall.web.routing import Answer, Operation, Param, json_reply
from footfall.web.services import services

__all__ = ["OPERATIONS"]

MAX_ROWS = 500
MAX_BULK = 3000


class FailedContact(msgspec.Struct):
    index: int
    errors: str


class BulkReply(msgspec.Struct, rename="camel"):
    async_session_id: str
    failed_contacts: list[FailedContact]


class BulkBody(msgspec.Struct):
    contacts: list[msgspec.Raw]
    dedupeOn: str | None = None  # noqa: N815 - wire name
    restoreDeleted: bool = False  # noqa: N815


class BulkRequest(msgspec.Struct):
    """``BulkBody`` as documented: each item is decoded as a ``ContactBody`` on its own."""

    contacts: Annotated[list[ContactBody], msgspec.Meta(max_length=MAX_BULK)]
    dedupeOn: str | None = None  # noqa: N815 - wire name
    restoreDeleted: bool = False  # noqa: N815


def _normalized(
    params: Params, name: str, normalize: Callable[[str], str | None], what: str
) -> str | None:
    given = text(params, name)
    if given is None:
        return None
    value = normalize(given)
    if value is None:
        raise InvalidQuery(f"{name} {given!r} is not a valid {what}")
    return value


def _filter(params: Params) -> ContactFilter:
    return ContactFilter(
        external_id=text(params, "externalCustomerId"),
        email=_normalized(params, "email", normalize_email, "e-mail address"),
        phone=_normalized(params, "sms", normalize_phone, "phone number"),
        first_name=text(params, "firstname"),
        last_name=text(params, "lastname"),
    )


async def search_contacts(request: Request) -> Response:
    """``GET /contacts``: 1-based ``startindex``, ``maxrows`` ≤ 500, ``TotalCount`` header."""
    key = await full_key(request)
    params = request.query_params
    start = limit(params, "startindex", 1, MAX_ID)
    rows = limit(params, "maxrows", MAX_ROWS, MAX_ROWS)
    find = services(request).store.contacts.find_contacts
    found, total = await run_in_threadpool(find, key.workspace_id, _filter(params), start - 1, rows)
    documents = [contact_document(contact) for contact in found]
    return json_reply(documents, {"TotalCount": str(total)})


_bulk_decoder = msgspec.json.Decoder(BulkBody)


def _invalid_body(exc: msgspec.ValidationError) -> InvalidContact:
    return InvalidContact(f"invalid body: {exc}")


def _bulk(body: bytes) -> BulkBody:
    bulk = decode_json(body, _bulk_decoder, _invalid_body, "body")
    if len(bulk.contacts) > MAX_BULK:
        raise InvalidContact(f"at most {MAX_BULK} contacts per request, got {len(bulk.contacts)}")
    if bulk.dedupeOn is not None and bulk.dedupeOn not in DEDUPE_ON:
        raise InvalidContact(
            f"dedupeOn must be one of {', '.join(DEDUPE_ON)}, got {bulk.dedupeOn!r}"
        )
    return bulk


def _save_all(
    store: ContactStore, key: ApiKey, bulk: BulkBody
) -> tuple[list[FailedContact], int, int]:
    """Validate every contact, then store the valid ones in one transaction."""
    failed: list[FailedContact] = []
    docs = []
    for index, raw in enumerate(bulk.contacts):
        try:
            docs.append((index, decode_contact(raw, where=f"contacts[{index}].")))
        except (InvalidContact, MalformedBody) as exc:
            failed.append(FailedContact(index, str(exc)))
    result = store.upsert_contacts(
        key.workspace_id, docs, why(key), dedupe=bulk.dedupeOn, restore=bulk.restoreDeleted
    )
    failed += [FailedContact(index, error) for index, error in result.failed]
    failed.sort(key=lambda item: item.index)
    merged = sum(saved.merges for saved in result.saved)
    warned = sum(len(saved.notes) for saved in result.saved)
    return failed, merged, warned


async def bulk_contacts(request: Request) -> Response:
    """``POST /contacts``: up to 3000 contacts, upserted by ``dedupeOn``.

    eSputnik answers at once and imports in the background; Footfall imports before answering,
    so ``failedContacts`` is already complete and ``asyncSessionId`` is only for compatibility.
    """
    key = await full_key(request)
    bulk = _bulk(await request_body(request))
    store = services(request).store.contacts
    failed, merged, warned = await run_in_threadpool(_save_all, store, key, bulk)
    count_identity(request, merged, warned)
    return json_reply(BulkReply(str(uuid.uuid4()), failed))


_SEARCH = (
    Param("externalCustomerId", "query", "exact externalCustomerId"),
    Param("email", "query", "e-mail address"),
    Param("sms", "query", "phone number"),
    Param("firstname", "query", "first name (case-insensitive)"),
    Param("lastname", "query", "last name (case-insensitive)"),
    Param("startindex", "query", "1-based index of the first row", Id),
    Param("maxrows", "query", "rows per page", Annotated[int, msgspec.Meta(ge=1, le=MAX_ROWS)]),
)
_FOUND = Answer(
    "known, live contacts by id",
    list[ContactDocument],
    headers={"TotalCount": "how many contacts match in all"},
)

OPERATIONS = [
    Operation(
        "GET", "/api/v1/contacts", "Search contacts", search_contacts, {200: _FOUND}, params=_SEARCH
    ),
    Operation(
        "POST",
        "/api/v1/contacts",
        "Upsert up to 3000 contacts",
        bulk_contacts,
        {200: Answer("the contacts refused, by index", BulkReply)},
        request=BulkRequest,
    ),
]
