"""Erasure and the right of access: every record of a contact, in every table and form.

The tables are read from the schema (every column that references a contact), so a table added
later is covered without a change here. Events and failed events of others (or of no contact)
that name one of the person's identifiers anywhere (their key, their body, JSON inside strings,
a phone in another format) are covered too: ``footfall.identity.mentions`` decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from footfall.identity.mentions import Person
from footfall.store.cursor import Cursor
from footfall.store.dialect import Dialect
from footfall.store.schema import contact_references, metadata
from footfall.store.sql import loads, marks

_BODIES = ("events", "failed_events")  # the tables that keep what clients sent
_PAGE = 500


def _person(tx: Cursor, ids: Sequence[int]) -> Person:
    rows = tx.all(
        f"SELECT kind, value FROM contact_identifiers WHERE contact_id IN ({marks(ids)})", *ids
    )
    return Person.of((r[0], r[1]) for r in rows)


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _candidates(sql: Dialect, person: Person) -> tuple[str, list[Any]]:
    """A coarse SQL filter that every body naming the person passes (see ``Person.named_in``)."""
    texts = [(f"{sql.lower}(raw) LIKE ? ESCAPE '\\'", _like(t)) for t in person.search_terms()]
    digits = [(f"{sql.digits('raw')} LIKE ?", f"%{d}%") for d in person.phone_digits()]
    clauses = texts + digits
    return "(" + " OR ".join(c for c, _ in clauses) + ")", [a for _, a in clauses]


def _naming(tx: Cursor, sql: Dialect, table: str, ws: int, person: Person) -> list[int]:
    """Ids of the rows of ``events`` or ``failed_events`` whose body or key names the person,
    read a page at a time."""
    if person.empty:
        return []
    condition, args = _candidates(sql, person)
    found: list[int] = []
    after = 0
    while True:
        rows = tx.all(
            f"SELECT id, raw, key_value FROM {table} WHERE workspace_id = ? AND id > ? "
            f"AND {condition} ORDER BY id LIMIT {_PAGE}",
            ws,
            after,
            *args,
        )
        found += [r[0] for r in rows if person.named_in(r[1], r[2])]
        if len(rows) < _PAGE:
            return found
        after = rows[-1][0]


def _delete(tx: Cursor, table: str, ids: Sequence[int]) -> None:
    for start in range(0, len(ids), _PAGE):
        chunk = ids[start : start + _PAGE]
        tx.execute(f"DELETE FROM {table} WHERE id IN ({marks(chunk)})", *chunk)


def erase(tx: Cursor, sql: Dialect, ws: int, ids: Sequence[int]) -> None:
    """Delete the contact, everything merged into it and every record that points at any of
    them, and the events of others that name one of its identifiers."""
    person = _person(tx, ids)
    for table, column in contact_references():
        if table == "contacts":
            continue
        tx.execute(f"DELETE FROM {table} WHERE {column} IN ({marks(ids)})", *ids)
    # Others' events, events of no contact and the failed-event log (raw bodies) that name
    # the person go too.
    for table in _BODIES:
        _delete(tx, table, _naming(tx, sql, table, ws, person))
    tx.execute(f"UPDATE contacts SET merged_into = NULL WHERE id IN ({marks(ids)})", *ids)
    tx.execute(f"DELETE FROM contacts WHERE workspace_id = ? AND id IN ({marks(ids)})", ws, *ids)


def export(
    tx: Cursor, sql: Dialect, ws: int, ids: Sequence[int]
) -> dict[str, list[dict[str, Any]]]:
    """Everything stored about a contact family, table by table (the right of access)."""
    person = _person(tx, ids)
    records: dict[str, list[dict[str, Any]]] = {}
    queries = [(table, column) for table, column in contact_references()]
    queries.insert(0, ("contacts", "id"))
    for table, column in queries:
        names = [c.name for c in metadata.tables[table].columns]
        rows = tx.all(
            f"SELECT {', '.join(names)} FROM {table} WHERE {column} IN ({marks(ids)})", *ids
        )
        records.setdefault(table, []).extend(_row(names, r) for r in rows)
    for table in _BODIES:
        names = [c.name for c in metadata.tables[table].columns]
        naming = _naming(tx, sql, table, ws, person)
        found = records.setdefault(table, [])
        for start in range(0, len(naming), _PAGE):
            chunk = naming[start : start + _PAGE]
            rows = tx.all(
                f"SELECT {', '.join(names)} FROM {table} WHERE id IN ({marks(chunk)})", *chunk
            )
            found.extend(_row(names, r) for r in rows)
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
