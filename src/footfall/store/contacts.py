"""The contacts API in SQL: upsert with merges, update, read, search, delete, erase and export.

Every function runs inside the caller's transaction and is scoped to one workspace. A contact
merged into another answers for the survivor; the survivor's "family" is itself plus every
contact merged into it, and timelines, exports and erasure cover the whole family.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from footfall.exceptions import ContactNotFound, IdentityConflict, InvalidContact
from footfall.identity.contacts import (
    CHANNEL_KINDS,
    MAX_FIELDS,
    ContactInput,
    channel_type,
)
from footfall.identity.locators import EMAIL, EXTERNAL_ID, PHONE, PUSH_TOKEN
from footfall.identity.merging import Person
from footfall.store import erasure, identity
from footfall.store.contact_reads import ContactFilter, documents, search
from footfall.store.core import Database, RunAgain
from footfall.store.cursor import Cursor
from footfall.store.dialect import Dialect
from footfall.store.identity import Why, family, load_people, merge
from footfall.store.identity_feed import record_erasure
from footfall.store.sql import dumps, loads

_CHANNEL_TYPES = frozenset(CHANNEL_KINDS)
# Identifier kinds in the order a document's owners are looked at for the default upsert.
_ORDER = (EXTERNAL_ID, EMAIL, PHONE, PUSH_TOKEN)
DEDUPE_ON = ("email", "sms", "email_or_sms", "externalCustomerId", "id")
_DEDUPE_KINDS = {
    "email": (EMAIL,),
    "sms": (PHONE,),
    "email_or_sms": (EMAIL, PHONE),
    "externalCustomerId": (EXTERNAL_ID,),
}


class ClaimLost(IdentityConflict, RunAgain):
    """A concurrent request claimed an identifier first; the transaction is run again."""


@dataclass(frozen=True, slots=True)
class Saved:
    id: int
    created: bool
    notes: tuple[str, ...] = ()
    merges: int = 0


def canonical(tx: Cursor, ws: int, contact_id: int) -> int | None:
    """The contact ``contact_id`` is now (itself, or the one it was merged into); None if unknown."""
    for _ in range(8):
        row = tx.one(
            "SELECT merged_into FROM contacts WHERE workspace_id = ? AND id = ?", ws, contact_id
        )
        if row is None:
            return None
        if row[0] is None:
            return contact_id
        contact_id = int(row[0])
    return None


def live(tx: Cursor, ws: int, contact_id: int, deleted_ok: bool) -> int:
    """The contact ``contact_id`` is now; ContactNotFound if unknown (or deleted, unless ok)."""
    contact = canonical(tx, ws, contact_id)
    if contact is None or (not deleted_ok and is_deleted(tx, ws, contact)):
        raise ContactNotFound(f"no contact with id={contact_id}")
    return contact


def is_deleted(tx: Cursor, ws: int, contact_id: int) -> bool:
    row = tx.one(
        "SELECT deleted_us FROM contacts WHERE workspace_id = ? AND id = ?", ws, contact_id
    )
    return row is not None and row[0] is not None


def _owner(tx: Cursor, ws: int, kind: str, value: str) -> int | None:
    row = tx.one(
        "SELECT contact_id FROM contact_identifiers WHERE workspace_id = ? AND kind = ? "
        "AND value = ?",
        ws,
        kind,
        value,
    )
    return None if row is None else canonical(tx, ws, int(row[0]))


def find_by_external_id(tx: Cursor, ws: int, external_id: str) -> int | None:
    return _owner(tx, ws, EXTERNAL_ID, external_id)


# -- writing ---------------------------------------------------------------------------------


def _rank(kind: str) -> int:
    return _ORDER.index(kind) if kind in _ORDER else len(_ORDER)


def _primary(
    doc: ContactInput,
    owners: dict[tuple[str, str], int],
    people: dict[tuple[int, int], Person],
    ws: int,
    dedupe: str | None,
) -> int | None:
    """The contact a document is about, by the dedupe rule; None for a new contact."""
    ext = doc.external_id if isinstance(doc.external_id, str) else None
    if dedupe is not None:
        kinds = _DEDUPE_KINDS[dedupe]
        if not any(kind in kinds for kind, _ in doc.identifiers()):
            raise InvalidContact(f"dedupeOn {dedupe} needs a value for it in each contact")
        for kind in kinds:
            for value_kind, value in doc.identifiers():
                if value_kind == kind and (kind, value) in owners:
                    return owners[(kind, value)]
        return None
    for (kind, _), owner in sorted(owners.items(), key=lambda item: _rank(item[0][0])):
        person = people.get((ws, owner))
        if ext is not None and kind != EXTERNAL_ID and person and person.ext not in (None, ext):
            continue  # another customer's address: not this contact
        return owner
    return None


def upsert(
    tx: Cursor,
    sql: Dialect,
    ws: int,
    doc: ContactInput,
    why: Why,
    *,
    dedupe: str | None = None,
    restore: bool = True,
) -> Saved:
    """Create a contact, or update the one the document identifies (restoring it if deleted).

    Identifiers of the document that belong to other contacts merge those contacts into this
    one, unless both have different externalCustomerIds: then an identity warning is recorded
    and the identifier stays where it is.
    """
    if not doc.identifiers() and dedupe != "id":
        raise InvalidContact("a contact needs an externalCustomerId or at least one channel")
    owners: dict[tuple[str, str], int] = {}
    for kind, value in doc.identifiers():
        owner = _owner(tx, ws, kind, value)
        if owner is not None:
            owners[(kind, value)] = owner
    people, _ = load_people(tx, {ws: set(owners.values())}, sql)
    if dedupe == "id":
        if doc.id is None:
            raise InvalidContact("dedupeOn id needs the id of each contact")
        contact = canonical(tx, ws, doc.id)
        if contact is None:
            raise ContactNotFound(f"no contact with id={doc.id}")
    else:
        contact = _primary(doc, owners, people, ws, dedupe)
    created = contact is None
    if contact is None:
        contact = _create(tx, ws, doc, why.now_us)
    elif is_deleted(tx, ws, contact) and not restore:
        raise ContactNotFound(f"contact {contact} is deleted; set restoreDeleted to update it")
    notes: list[str] = []
    merged = 0
    refused: set[tuple[str, str]] = set()
    for (kind, value), owner in owners.items():
        current = canonical(tx, ws, owner)
        if current is None or current == contact:
            continue
        survivor = merge(tx, sql, ws, current, contact, why)
        if survivor is None:
            refused.add((kind, value))
            notes.append(
                f"the {kind} given belongs to contact {current}, which has a different "
                "externalCustomerId: the contacts were not merged"
            )
        else:
            contact = survivor
            merged += 1
    _apply(tx, ws, contact, doc, why.now_us, skip=refused, replace_external_id=False, racing=True)
    return Saved(contact, created, tuple(notes), merged)


@dataclass(frozen=True, slots=True)
class Bulk:
    saved: list[Saved]
    failed: list[tuple[int, str]]  # (index in the request, why)


def upsert_many(
    tx: Cursor,
    sql: Dialect,
    ws: int,
    docs: Sequence[tuple[int, ContactInput]],
    why: Why,
    *,
    dedupe: str | None,
    restore: bool,
) -> Bulk:
    """Upsert each document under its own savepoint: a refused one leaves no trace and does not
    fail the others, and the whole import is one transaction (one fsync)."""
    saved: list[Saved] = []
    failed: list[tuple[int, str]] = []
    for index, doc in docs:
        tx.execute("SAVEPOINT contact")
        try:
            saved.append(upsert(tx, sql, ws, doc, why, dedupe=dedupe, restore=restore))
        except ClaimLost:
            raise
        except (InvalidContact, ContactNotFound, IdentityConflict) as exc:
            tx.execute("ROLLBACK TO SAVEPOINT contact")
            failed.append((index, str(exc)))
        tx.execute("RELEASE SAVEPOINT contact")
    return Bulk(saved, failed)


def update(tx: Cursor, ws: int, contact_id: int, doc: ContactInput, now_us: int) -> int:
    """Change a contact; an identifier another contact owns is a conflict, never a merge."""
    contact = canonical(tx, ws, contact_id)
    if contact is None or is_deleted(tx, ws, contact):
        raise ContactNotFound(f"no contact with id={contact_id}")
    for kind, value in doc.identifiers():
        owner = _owner(tx, ws, kind, value)
        if owner is not None and owner != contact:
            raise IdentityConflict(f"the {kind} {value!r} belongs to contact {owner}")
    _apply(tx, ws, contact, doc, now_us, skip=set(), replace_external_id=True, racing=False)
    return contact


def _create(tx: Cursor, ws: int, doc: ContactInput, now_us: int) -> int:
    ext = doc.external_id if isinstance(doc.external_id, str) else None
    row = tx.one(
        "INSERT INTO contacts (workspace_id, external_customer_id, source, created_us, "
        "updated_us, anonymous) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        ws,
        ext,
        "api",
        now_us,
        now_us,
        False,
    )
    return int(row[0])


def _apply(
    tx: Cursor,
    ws: int,
    contact: int,
    doc: ContactInput,
    now_us: int,
    *,
    skip: set[tuple[str, str]],
    replace_external_id: bool,
    racing: bool,
) -> None:
    """Write the document's fields and identifiers. ``racing``: an identifier found taken was
    claimed by a concurrent request (the caller's lookups saw it free), so run again."""
    row = tx.one(
        "SELECT external_customer_id, fields FROM contacts WHERE workspace_id = ? AND id = ?",
        ws,
        contact,
    )
    current_ext, current_fields = row[0], loads(row[1]) or {}
    sets: dict[str, Any] = {"anonymous": False, "deleted_us": None, "updated_us": now_us}
    for column, value in (
        ("first_name", doc.first_name),
        ("last_name", doc.last_name),
        ("language_code", doc.language_code),
        ("time_zone", doc.time_zone),
    ):
        if value is not msgspec.UNSET:
            sets[column] = value
    if doc.address is not msgspec.UNSET:
        sets["address"] = dumps(doc.address)
    if doc.fields is not msgspec.UNSET:
        fields = None if doc.fields is None else {**current_fields, **doc.fields}
        sets["fields"] = dumps(fields or None)
    if doc.external_id is not msgspec.UNSET:
        ext = doc.external_id
        if ext is not None and current_ext not in (None, ext) and not replace_external_id:
            raise IdentityConflict(
                f"contact {contact} has externalCustomerId {current_ext!r}, not {ext!r}"
            )
        sets["external_customer_id"] = ext
        wanted_ext = [] if ext is None else [(EXTERNAL_ID, ext, None)]
        _replace(tx, ws, contact, {channel_type(EXTERNAL_ID, None)}, wanted_ext, now_us, racing)
    if doc.channels is not msgspec.UNSET:
        types = doc.channel_types() if doc.channels else set(_CHANNEL_TYPES)
        wanted = [
            (c.kind, c.value, c.type) for c in doc.channels or () if (c.kind, c.value) not in skip
        ]
        _replace(tx, ws, contact, types, wanted, now_us, racing)
    assignments = ", ".join(f"{column} = ?" for column in sets)
    tx.execute(
        f"UPDATE contacts SET {assignments} WHERE workspace_id = ? AND id = ?",
        *sets.values(),
        ws,
        contact,
    )


def _replace(
    tx: Cursor,
    ws: int,
    contact: int,
    types: set[str],
    wanted: Sequence[tuple[str, str, str | None]],
    now_us: int,
    racing: bool,
) -> None:
    """Make the contact's identifiers of channel ``types`` exactly ``wanted`` (kind, value,
    channel type); a push token keeps its type, so webpush and mobilepush are apart."""
    keep = {(kind, value) for kind, value, _ in wanted}
    for kind, value, channel in tx.all(
        "SELECT kind, value, channel FROM contact_identifiers WHERE contact_id = ?", contact
    ):
        if channel_type(kind, channel) in types and (kind, value) not in keep:
            tx.execute(
                "DELETE FROM contact_identifiers WHERE workspace_id = ? AND kind = ? AND value = ?",
                ws,
                kind,
                value,
            )
    for kind, value, channel in wanted:
        inserted = tx.one(
            "INSERT INTO contact_identifiers (workspace_id, kind, value, contact_id, created_us, "
            "channel) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING contact_id",
            ws,
            kind,
            value,
            contact,
            now_us,
            channel,
        )
        if inserted is not None:
            continue
        owner = _owner(tx, ws, kind, value)
        if owner != contact:
            error = ClaimLost if racing else IdentityConflict
            raise error(f"the {kind} {value!r} belongs to contact {owner}")
        tx.execute(
            "UPDATE contact_identifiers SET channel = COALESCE(?, channel) WHERE workspace_id = ? "
            "AND kind = ? AND value = ?",
            channel,
            ws,
            kind,
            value,
        )


# -- deleting ------------------------------------------------------------------------------


# A contact's named fields by the name a workflow's setField block uses, and their column.
NAMED_COLUMNS = {
    "firstName": "first_name",
    "lastName": "last_name",
    "languageCode": "language_code",
    "timeZone": "time_zone",
}


def set_field(
    tx: Cursor, dialect: Dialect, contact: int, name: str, value: Any, now_us: int
) -> str | None:
    """Set one field of a live contact (a named one, whose value is text or null, or a custom
    one), its row locked; why not, or None when it is set."""
    row = tx.one(
        f"SELECT fields, deleted_us FROM contacts WHERE id = ?{dialect.for_update}", contact
    )
    if row is None or row[1] is not None:
        return "the contact is gone"
    column = NAMED_COLUMNS.get(name)
    if column is not None:
        if value is not None and not isinstance(value, str):
            return f"{name} takes text, not {type(value).__name__}"
        tx.execute(
            f"UPDATE contacts SET {column} = ?, updated_us = ? WHERE id = ?", value, now_us, contact
        )
        return None
    fields = loads(row[0]) or {}
    fields = fields if isinstance(fields, dict) else {}
    if name not in fields and len(fields) >= MAX_FIELDS:
        return f"the contact already has {MAX_FIELDS} fields"
    fields[name] = value
    tx.execute(
        "UPDATE contacts SET fields = ?, updated_us = ? WHERE id = ?",
        dumps(fields),
        now_us,
        contact,
    )
    return None


def soft_delete(tx: Cursor, ws: int, contact: int, now_us: int) -> None:
    tx.execute(
        "UPDATE contacts SET deleted_us = COALESCE(deleted_us, ?), updated_us = ? "
        "WHERE workspace_id = ? AND id = ?",
        now_us,
        now_us,
        ws,
        contact,
    )


class ContactStore:
    """The contacts API's operations, each in its own transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._sql = db.dialect

    def upsert_contact(
        self,
        workspace_id: int,
        doc: ContactInput,
        why: Why,
        *,
        dedupe: str | None = None,
        restore: bool = True,
    ) -> Saved:
        return self._db.transact(
            lambda tx: upsert(tx, self._sql, workspace_id, doc, why, dedupe=dedupe, restore=restore)
        )

    def upsert_contacts(
        self,
        workspace_id: int,
        docs: Sequence[tuple[int, ContactInput]],
        why: Why,
        *,
        dedupe: str | None,
        restore: bool,
    ) -> Bulk:
        return self._db.transact(
            lambda tx: upsert_many(
                tx, self._sql, workspace_id, docs, why, dedupe=dedupe, restore=restore
            )
        )

    def update_contact(
        self, workspace_id: int, contact_id: int, doc: ContactInput, now: int
    ) -> int:
        return self._db.transact(lambda tx: update(tx, workspace_id, contact_id, doc, now))

    def get_contact(self, workspace_id: int, contact_id: int) -> dict[str, Any]:
        with self._db.read() as tx:
            contact = live(tx, workspace_id, contact_id, deleted_ok=False)
            return documents(tx, workspace_id, [contact])[0]

    def find_contacts(
        self, workspace_id: int, filters: ContactFilter, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        with self._db.read() as tx:
            return search(tx, self._sql, workspace_id, filters, offset, limit)

    def contact_by_external_id(self, workspace_id: int, external_id: str) -> int:
        with self._db.read() as tx:
            contact = find_by_external_id(tx, workspace_id, external_id)
        if contact is None:
            raise ContactNotFound(f"no contact with externalCustomerId={external_id!r}")
        return contact

    def delete_contact(self, workspace_id: int, contact_id: int, erase: bool, now: int) -> int:
        """Mark the contact deleted, or erase it and everything derived from it."""

        earlier = None
        if erase and self._sql.serial_ids:
            # The long part of an erasure, reading every body that may name the person, runs
            # without the write lock that SQLite's other writers wait for.
            with self._db.read() as tx:
                contact = live(tx, workspace_id, contact_id, deleted_ok=True)
                ids = family(tx, workspace_id, contact)
                earlier = erasure.scan(tx, self._sql, workspace_id, ids)

        def work(tx: Cursor) -> int:
            contact = live(tx, workspace_id, contact_id, deleted_ok=True)
            if erase:
                ids = family(tx, workspace_id, contact)
                erasure.erase(tx, self._sql, workspace_id, ids, earlier)
                record_erasure(tx, self._sql, workspace_id, ids, now)
            else:
                soft_delete(tx, workspace_id, contact, now)
            return contact

        contact = self._db.transact(work)
        if erase:
            self._db.scrub()
        return contact

    def contact_family(self, workspace_id: int, contact_id: int) -> list[int]:
        """A live contact and every contact merged into it."""
        with self._db.read() as tx:
            contact = live(tx, workspace_id, contact_id, deleted_ok=False)
            return family(tx, workspace_id, contact)

    def export_contact(self, workspace_id: int, contact_id: int) -> dict[str, Any]:
        with self._db.snapshot() as tx:
            contact = live(tx, workspace_id, contact_id, deleted_ok=True)
            records = erasure.export(tx, self._sql, workspace_id, family(tx, workspace_id, contact))
            return {"contact": documents(tx, workspace_id, [contact])[0], "records": records}

    def list_merges(
        self, workspace_id: int, contact_id: int | None, before: int | None, limit: int
    ) -> list[dict[str, Any]]:
        with self._db.read() as tx:
            ids = self._family_of(tx, workspace_id, contact_id)
            return identity.merges(tx, workspace_id, ids, before, limit)

    def list_identity_warnings(
        self, workspace_id: int, contact_id: int | None, before: int | None, limit: int
    ) -> list[dict[str, Any]]:
        with self._db.read() as tx:
            ids = self._family_of(tx, workspace_id, contact_id)
            return identity.warnings(tx, workspace_id, ids, before, limit)

    @staticmethod
    def _family_of(tx: Cursor, workspace_id: int, contact_id: int | None) -> list[int]:
        if contact_id is None:
            return []
        return family(tx, workspace_id, live(tx, workspace_id, contact_id, deleted_ok=True))
