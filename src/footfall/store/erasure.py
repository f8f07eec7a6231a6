"""Erasure and the right of access: every record of a contact, in every table and form.

The tables are read from the schema (every column that references a contact), so a table added
later is covered without a change here. Events and failed events of others that name one of the
person's identifiers (as their key, or as a JSON string in their body) are covered too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from footfall.store.cursor import Cursor
from footfall.store.dialect import Dialect
from footfall.store.schema import contact_references, metadata
from footfall.store.sql import loads, marks


def _identifier_values(tx: Cursor, ids: Sequence[int]) -> list[str]:
    rows = tx.all(f"SELECT value FROM contact_identifiers WHERE contact_id IN ({marks(ids)})", *ids)
    return sorted({r[0] for r in rows})


def _like(value: str) -> str:
    escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f'%"{escaped}"%'


def _mentioning(values: Sequence[str], lower: str) -> tuple[str, list[Any]]:
    """Events not tied to the contact that are keyed by one of its identifiers, or carry one as
    a JSON string anywhere in their body (another contact's event that named this person)."""
    if not values:
        return "1 = 0", []
    keyed = f"key_value IN ({marks(values)})"
    quoted = " OR ".join(f"{lower}(raw) LIKE ? ESCAPE '\\'" for _ in values)
    return f"({keyed} OR {quoted})", [*values, *(_like(v) for v in values)]


def erase(tx: Cursor, sql: Dialect, ws: int, ids: Sequence[int]) -> None:
    """Delete the contact, everything merged into it and every record that points at any of
    them, and the events of others that name one of its identifiers."""
    condition, args = _mentioning(_identifier_values(tx, ids), sql.lower)
    for table, column in contact_references():
        if table == "contacts":
            continue
        tx.execute(f"DELETE FROM {table} WHERE {column} IN ({marks(ids)})", *ids)
    tx.execute(f"DELETE FROM events WHERE workspace_id = ? AND {condition}", ws, *args)
    # The failed-event log keeps raw bodies too: those naming the person go.
    tx.execute(f"DELETE FROM failed_events WHERE workspace_id = ? AND {condition}", ws, *args)
    tx.execute(f"UPDATE contacts SET merged_into = NULL WHERE id IN ({marks(ids)})", *ids)
    tx.execute(f"DELETE FROM contacts WHERE workspace_id = ? AND id IN ({marks(ids)})", ws, *ids)


def export(
    tx: Cursor, sql: Dialect, ws: int, ids: Sequence[int]
) -> dict[str, list[dict[str, Any]]]:
    """Everything stored about a contact family, table by table (the right of access)."""
    condition, args = _mentioning(_identifier_values(tx, ids), sql.lower)
    records: dict[str, list[dict[str, Any]]] = {}
    queries = [(table, column) for table, column in contact_references()]
    queries.insert(0, ("contacts", "id"))
    for table, column in queries:
        names = [c.name for c in metadata.tables[table].columns]
        rows = tx.all(
            f"SELECT {', '.join(names)} FROM {table} WHERE {column} IN ({marks(ids)})", *ids
        )
        records.setdefault(table, []).extend(_row(names, r) for r in rows)
    names = [c.name for c in metadata.tables["events"].columns]
    rows = tx.all(
        f"SELECT {', '.join(names)} FROM events WHERE workspace_id = ? AND {condition}", ws, *args
    )
    records.setdefault("events", []).extend(_row(names, r) for r in rows)
    names = [c.name for c in metadata.tables["failed_events"].columns]
    rows = tx.all(
        f"SELECT {', '.join(names)} FROM failed_events WHERE workspace_id = ? AND {condition}",
        ws,
        *args,
    )
    records["failed_events"] = [_row(names, r) for r in rows]
    for table, rows_of in records.items():
        unique = {msgspec.json.encode(r): r for r in rows_of}
        records[table] = list(unique.values())
    return records


def _row(names: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    out = {}
    for name, value in zip(names, row, strict=True):
        if name in ("params", "data", "fields", "address") and isinstance(value, str):
            value = loads(value)
        out[name] = value
    return out
