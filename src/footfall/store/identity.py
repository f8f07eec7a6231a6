"""Identity in SQL: what the store knows of contacts, merging two of them, recording conflicts.

Used by the event write path and by the contacts API, inside their open transaction. A merge
re-checks its rule under row locks, so concurrent requests asking for the same merge make it once,
and the later ones find it done.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from footfall.identity.merging import Person, may_merge, survivor_first
from footfall.store.cursor import Cursor
from footfall.store.dialect import Dialect
from footfall.store.identity_feed import record_merge
from footfall.store.schema import contact_references
from footfall.store.sql import Where, dumps, in_clause, loads, marks

# Tables that record identity history: a merge leaves their rows pointing at the contacts named.
AUDIT_TABLES = frozenset({"contact_merges", "identity_warnings"})
EXTERNAL_ID_CONFLICT = "conflicting-external-ids"
_CHUNK = 500


def load_people(
    tx: Cursor, wanted: dict[int, set[int]], sql: Dialect
) -> tuple[dict[tuple[int, int], Person], dict[tuple[int, int], int]]:
    """The contacts asked for, by (workspace, id), and where each one was merged to, if anywhere."""
    people: dict[tuple[int, int], Person] = {}
    canonical: dict[tuple[int, int], int] = {}
    hops: dict[int, set[int]] = defaultdict(set)
    for ws, ids in wanted.items():
        for row in _contact_rows(tx, ws, ids, sql):
            contact_id, merged_into = int(row[0]), row[1]
            if merged_into is not None:
                canonical[(ws, contact_id)] = int(merged_into)
                hops[ws].add(int(merged_into))
            else:
                people[(ws, contact_id)] = _person(row)
    for ws, ids in hops.items():
        for row in _contact_rows(tx, ws, ids - {i for w, i in people if w == ws}, sql):
            people[(ws, int(row[0]))] = _person(row)
    return people, canonical


def _person(row: Any) -> Person:
    return Person(int(row[0]), row[2], bool(row[3]), row[4] is not None)


def _contact_rows(tx: Cursor, ws: int, ids: Iterable[int], sql: Dialect) -> list[Any]:
    ordered = sorted(ids)
    rows: list[Any] = []
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        condition, args = in_clause("id", chunk, sql.arrays)
        rows += tx.all(
            "SELECT id, merged_into, external_customer_id, anonymous, deleted_us FROM contacts "
            f"WHERE workspace_id = ? AND {condition}",
            ws,
            *args,
        )
    return rows


def _lock(tx: Cursor, sql: Dialect, ws: int, contact_id: int) -> Person | None:
    """The contact ``contact_id`` ended up as, row-locked; None if it no longer exists."""
    for _ in range(8):  # chains are one hop; a concurrent merge may add one
        row = tx.one(
            "SELECT id, merged_into, external_customer_id, anonymous, deleted_us FROM contacts "
            f"WHERE workspace_id = ? AND id = ?{sql.for_update}",
            ws,
            contact_id,
        )
        if row is None:
            return None
        if row[1] is None:
            return _person(row)
        contact_id = int(row[1])
    return None


@dataclass(frozen=True, slots=True)
class Why:
    """Who asked for an identity change, and why (identifier kinds only, never values)."""

    reason: str
    via: str  # "event" or "api"
    key_id: int | None
    now_us: int


def merge(tx: Cursor, sql: Dialect, ws: int, a: int, b: int, why: Why) -> int | None:
    """Merge contacts ``a`` and ``b``; the survivor's id, or None when the rule refuses the merge
    (an identity warning is recorded then) or a contact is gone."""
    first, second = sorted((a, b))
    one, other = _lock(tx, sql, ws, first), _lock(tx, sql, ws, second)
    if one is None or other is None:
        return None
    if one.id == other.id:
        return one.id  # merged already, by this request or a concurrent one
    if not may_merge(one, other):
        warn(tx, ws, EXTERNAL_ID_CONFLICT, one.id, other.id, why)
        return None
    keep, drop = survivor_first(one, other)
    _fold_document(tx, keep.id, drop.id, why.now_us)
    for table, column in contact_references():
        if table in AUDIT_TABLES or (table, column) == ("contacts", "merged_into"):
            continue
        tx.execute(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", keep.id, drop.id)
    tx.execute("UPDATE contacts SET merged_into = ? WHERE merged_into = ?", keep.id, drop.id)
    tx.execute(
        "INSERT INTO contact_merges (workspace_id, survivor_id, merged_id, reason, via, key_id, "
        "created_us) VALUES (?, ?, ?, ?, ?, ?, ?)",
        ws,
        keep.id,
        drop.id,
        why.reason,
        why.via,
        why.key_id,
        why.now_us,
    )
    record_merge(tx, sql, ws, keep.id, drop.id, why.now_us)
    return keep.id


_DOCUMENT = ("external_customer_id", "first_name", "last_name", "language_code", "time_zone")


def _fold_document(tx: Cursor, keep: int, drop: int, now_us: int) -> None:
    """The survivor keeps its values and takes the merged contact's where it has none; the merged
    contact keeps no personal data."""
    columns = (*_DOCUMENT, "fields", "address", "deleted_us", "anonymous")
    rows = {
        int(r[0]): r[1:]
        for r in tx.all(
            f"SELECT id, {', '.join(columns)} FROM contacts WHERE id IN (?, ?)", keep, drop
        )
    }
    mine, theirs = rows[keep], rows[drop]
    values: list[Any] = [
        m if m is not None else t for m, t in zip(mine[:5], theirs[:5], strict=True)
    ]
    fields = {**(loads(theirs[5]) or {}), **(loads(mine[5]) or {})}
    address = loads(mine[6]) or loads(theirs[6])
    deleted = mine[7] if theirs[7] is not None else None
    anonymous = bool(mine[8]) and bool(theirs[8])
    sets = ", ".join(f"{c} = ?" for c in _DOCUMENT)
    tx.execute(
        "UPDATE contacts SET external_customer_id = NULL, first_name = NULL, last_name = NULL, "
        "fields = NULL, address = NULL, language_code = NULL, time_zone = NULL, "
        "anonymous = ?, merged_into = ?, updated_us = ? WHERE id = ?",
        False,
        keep,
        now_us,
        drop,
    )
    tx.execute(
        f"UPDATE contacts SET {sets}, fields = ?, address = ?, deleted_us = ?, anonymous = ?, "
        "updated_us = ? WHERE id = ?",
        *values,
        dumps(fields or None),
        dumps(address),
        deleted,
        anonymous,
        now_us,
        keep,
    )


def warn(
    tx: Cursor, ws: int, kind: str, contact: int, other: int | None, why: Why, times: int = 1
) -> None:
    """Record an identity conflict; the same one seen again is counted on its first record."""
    if other is not None and other < contact:
        contact, other = other, contact
    updated = tx.one(
        "UPDATE identity_warnings SET occurrences = occurrences + ?, last_seen_us = ? "
        "WHERE workspace_id = ? AND kind = ? AND contact_id = ? AND "
        "COALESCE(other_contact_id, 0) = COALESCE(?, 0) RETURNING id",
        times,
        why.now_us,
        ws,
        kind,
        contact,
        other,
    )
    if updated is not None:
        return
    tx.execute(
        "INSERT INTO identity_warnings (workspace_id, kind, contact_id, other_contact_id, detail, "
        "via, key_id, created_us, occurrences, last_seen_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ws,
        kind,
        contact,
        other,
        why.reason,
        why.via,
        why.key_id,
        why.now_us,
        times,
        why.now_us,
    )


def family(tx: Cursor, ws: int, contact_id: int) -> list[int]:
    """The contact and every contact merged into it."""
    rows = tx.all(
        "SELECT id FROM contacts WHERE workspace_id = ? AND merged_into = ? ORDER BY id",
        ws,
        contact_id,
    )
    return [contact_id, *(int(r[0]) for r in rows)]


# -- the identity audit ----------------------------------------------------------------------


# Table -> (its columns and their names in the API, the two columns naming contacts).
_AUDIT: dict[str, tuple[dict[str, str], tuple[str, str]]] = {
    "contact_merges": (
        {
            "id": "id",
            "survivor_id": "survivorId",
            "merged_id": "mergedId",
            "reason": "reason",
            "via": "via",
            "key_id": "keyId",
            "created_us": "createdAt",
        },
        ("survivor_id", "merged_id"),
    ),
    "identity_warnings": (
        {
            "id": "id",
            "kind": "kind",
            "contact_id": "contactId",
            "other_contact_id": "otherContactId",
            "detail": "detail",
            "via": "via",
            "key_id": "keyId",
            "created_us": "createdAt",
            "occurrences": "occurrences",
            "last_seen_us": "lastSeenAt",
        },
        ("contact_id", "other_contact_id"),
    ),
}


def _audit(
    tx: Cursor, table: str, ws: int, family: Sequence[int], before: int | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first; about a contact's family (itself and those merged into it) when given."""
    columns, (first, second) = _AUDIT[table]
    where = Where("workspace_id = ?", ws).below("id", before)
    if family:
        where.add(
            f"({first} IN ({marks(family)}) OR {second} IN ({marks(family)}))", *family, *family
        )
    rows = tx.all(
        f"SELECT {', '.join(columns)} FROM {table} WHERE {where.sql} ORDER BY id DESC LIMIT ?",
        *where.args,
        limit,
    )
    return [dict(zip(columns.values(), row, strict=True)) for row in rows]


def merges(
    tx: Cursor, ws: int, family: Sequence[int], before: int | None, limit: int
) -> list[dict[str, Any]]:
    return _audit(tx, "contact_merges", ws, family, before, limit)


def warnings(
    tx: Cursor, ws: int, family: Sequence[int], before: int | None, limit: int
) -> list[dict[str, Any]]:
    return _audit(tx, "identity_warnings", ws, family, before, limit)
