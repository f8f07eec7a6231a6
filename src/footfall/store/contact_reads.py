"""Reading contacts in the API's shape: documents with their channels, and the search.

Only live, known contacts are listed (not merged, deleted or anonymous); every query is scoped
to one workspace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from footfall.identity.contacts import channel_type, field_id
from footfall.identity.locators import ANONYMOUS_ID, EMAIL, EXTERNAL_ID, PHONE
from footfall.store.cursor import Cursor
from footfall.store.dialect import Dialect
from footfall.store.sql import Where, loads, marks

_CONTACT_COLUMNS = (
    "id, external_customer_id, first_name, last_name, fields, address, language_code, "
    "time_zone, anonymous, source, created_us, updated_us"
)


def documents(tx: Cursor, ws: int, ids: Sequence[int]) -> list[dict[str, Any]]:
    """Contacts in the API's shape, in the order of ``ids``."""
    if not ids:
        return []
    rows = {
        int(r[0]): r
        for r in tx.all(
            f"SELECT {_CONTACT_COLUMNS} FROM contacts WHERE workspace_id = ? AND id IN ({marks(ids)})",
            ws,
            *ids,
        )
    }
    channels: dict[int, list[dict[str, str]]] = {i: [] for i in ids}
    for contact, kind, value, channel in tx.all(
        "SELECT contact_id, kind, value, channel FROM contact_identifiers WHERE workspace_id = ? "
        f"AND contact_id IN ({marks(ids)}) ORDER BY created_us, kind, value",
        ws,
        *ids,
    ):
        if kind not in (EXTERNAL_ID, ANONYMOUS_ID):
            channels[int(contact)].append({"type": channel_type(kind, channel), "value": value})
    return [_document(rows[i], channels[i]) for i in ids if i in rows]


def _document(row: Any, channels: list[dict[str, str]]) -> dict[str, Any]:
    fields = loads(row[4]) or {}
    return {
        "id": int(row[0]),
        "externalCustomerId": row[1],
        "firstName": row[2],
        "lastName": row[3],
        "channels": channels,
        "address": loads(row[5]),
        "fields": [{"id": field_id(name), "value": value} for name, value in fields.items()],
        "languageCode": row[6],
        "timeZone": row[7],
        "anonymous": bool(row[8]),
        "source": row[9],
        "createdAt": int(row[10]),
        "updatedAt": int(row[11]),
    }


@dataclass(frozen=True, slots=True)
class ContactFilter:
    external_id: str | None = None
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None


def search(
    tx: Cursor, sql: Dialect, ws: int, filters: ContactFilter, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """Live, known contacts matching every filter given, by id; and how many match in all."""
    where = Where("workspace_id = ?", ws).add("merged_into IS NULL AND deleted_us IS NULL")
    where.add("NOT anonymous")
    for kind, value in (
        (EXTERNAL_ID, filters.external_id),
        (EMAIL, filters.email),
        (PHONE, filters.phone),
    ):
        if value is not None:
            where.add(
                "id IN (SELECT contact_id FROM contact_identifiers WHERE workspace_id = ? "
                "AND kind = ? AND value = ?)",
                ws,
                kind,
                value,
            )
    for column, value in (("first_name", filters.first_name), ("last_name", filters.last_name)):
        if value is not None:
            where.add(f"{sql.lower}({column}) = {sql.lower}(?)", value)
    total = int(tx.one(f"SELECT count(*) FROM contacts WHERE {where.sql}", *where.args)[0])
    ids = [
        int(r[0])
        for r in tx.all(
            f"SELECT id FROM contacts WHERE {where.sql} ORDER BY id LIMIT ? OFFSET ?",
            *where.args,
            limit,
            offset,
        )
    ]
    return documents(tx, ws, ids), total
