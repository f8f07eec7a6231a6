"""Erasure and the right of access: every record of a contact, in every table and form.

The tables are read from the schema (every column that references a contact), so a table added
later is covered without a change here. Events and failed events of others (or of no contact)
that name one of the person's identifiers anywhere (their key, their body, JSON inside strings,
a phone in another format) are covered too: ``footfall.identity.mentions`` decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from footfall.identity.mentions import Person
from footfall.store.cursor import Cursor
from footfall.store.dialect import Dialect
from footfall.store.schema import contact_references, metadata
from footfall.store.sql import loads, marks
from footfall.store.webhooks import forget_erased_events
from footfall.store.workflow_runs import forget_runs

_BODIES = ("events", "failed_events")  # the tables that keep what clients sent
_PAGE = 500


def person(tx: Cursor, ids: Sequence[int]) -> Person:
    """The identifiers of a contact family, normalised."""
    rows = tx.all(
        f"SELECT kind, value FROM contact_identifiers WHERE contact_id IN ({marks(ids)})", *ids
    )
    return Person.of((r[0], r[1]) for r in rows)


@dataclass(frozen=True)
class Scan:
    """The rows of ``events`` and ``failed_events`` found naming a person, up to some id."""

    person: Person
    naming: dict[str, list[int]]
    up_to: dict[str, int]


def _like(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _candidates(sql: Dialect, who: Person) -> tuple[str, list[Any]]:
    """A coarse SQL filter that every body naming the person passes (see ``Person.named_in``):
    the terms are printable ASCII, so the databases' own case-insensitive LIKE does."""
    like = f"raw {sql.ilike} ? ESCAPE '\\'"
    texts = [(like, _like(t)) for t in who.search_terms()]
    # A phone's digits in order, whatever is written between them (the check sorts it out).
    digits = [("raw LIKE ?", "%" + "%".join(d) + "%") for d in who.phone_digits()]
    clauses = texts + digits
    return "(" + " OR ".join(c for c, _ in clauses) + ")", [a for _, a in clauses]


def _naming(
    tx: Cursor, sql: Dialect, table: str, ws: int, who: Person, after: int = 0
) -> tuple[list[int], int]:
    """Ids of the rows of ``table`` after ``after`` whose body or key names the person (read a
    page at a time), and the last id that was looked at."""
    last = after
    found: list[int] = []
    if who.empty:
        return found, last
    condition, args = _candidates(sql, who)
    while True:
        rows = tx.all(
            f"SELECT id, raw, key_value FROM {table} WHERE workspace_id = ? AND id > ? "
            f"AND {condition} ORDER BY id LIMIT {_PAGE}",
            ws,
            last,
            *args,
        )
        found += [r[0] for r in rows if who.named_in(r[1], r[2])]
        if len(rows) < _PAGE:
            top = tx.one(f"SELECT coalesce(max(id), 0) FROM {table}")[0]
            return found, max(top, last)
        last = rows[-1][0]


def scan(tx: Cursor, sql: Dialect, ws: int, ids: Sequence[int]) -> Scan:
    """Find what names the contact family, in a read transaction, so that SQLite's writers go
    on meanwhile; ``erase`` then only reads rows added since. Only where ids grow in commit
    order (``Dialect.serial_ids``): elsewhere a row with a smaller id may commit later."""
    who = person(tx, ids)
    naming, up_to = {}, {}
    for table in _BODIES:
        naming[table], up_to[table] = _naming(tx, sql, table, ws, who)
    return Scan(who, naming, up_to)


def _delete(tx: Cursor, table: str, ids: Sequence[int]) -> None:
    for start in range(0, len(ids), _PAGE):
        chunk = ids[start : start + _PAGE]
        tx.execute(f"DELETE FROM {table} WHERE id IN ({marks(chunk)})", *chunk)


def erase(
    tx: Cursor, sql: Dialect, ws: int, ids: Sequence[int], earlier: Scan | None = None
) -> None:
    """Delete the contact, everything merged into it and every record that points at any of
    them, and the events of others (or of no contact) that name one of its identifiers.

    With an ``earlier`` scan of the same identifiers, only rows added since are read here.
    """
    who = person(tx, ids)
    if earlier is not None and earlier.person != who:
        earlier = None  # identifiers changed since (a merge): look at everything again
    forget_runs(tx, sql, ids)  # with their steps and due work, which point at runs, not contacts
    for table, column in contact_references():
        if table == "contacts":
            continue
        tx.execute(f"DELETE FROM {table} WHERE {column} IN ({marks(ids)})", *ids)
    for table in _BODIES:
        after = earlier.up_to[table] if earlier else 0
        found, _ = _naming(tx, sql, table, ws, who, after)
        _delete(tx, table, sorted(set(found) | set(earlier.naming[table] if earlier else [])))
    tx.execute(f"UPDATE contacts SET merged_into = NULL WHERE id IN ({marks(ids)})", *ids)
    tx.execute(f"DELETE FROM contacts WHERE workspace_id = ? AND id IN ({marks(ids)})", ws, *ids)
    forget_erased_events(tx, ws)


def export(
    tx: Cursor, sql: Dialect, ws: int, ids: Sequence[int]
) -> dict[str, list[dict[str, Any]]]:
    """Everything stored about a contact family, table by table (the right of access)."""
    who = person(tx, ids)
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
        naming, _ = _naming(tx, sql, table, ws, who)
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
