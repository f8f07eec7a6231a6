"""The write path of a group-commit batch: tie each event to its contact, then store everything.

Lookups are made per batch (one query per identifier kind, not per event) because the Python side
of a batch is the cost that limits throughput; inserts of events use one executemany.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from footfall.ingest.models import NewEvent, NewOrder
from footfall.store.cursor import Cursor

IdentifierKey = tuple[int, str, str]  # (workspace_id, kind, value)
_CHUNK = 500


def _event_of(item: NewEvent | NewOrder) -> NewEvent:
    return item.event if isinstance(item, NewOrder) else item


def _in(column: str, values: Sequence[Any], arrays: bool) -> tuple[str, list[Any]]:
    """``column IN (…)``; one array parameter where the backend has arrays (one plan for any size)."""
    if arrays:
        return f"{column} = ANY(?)", [list(values)]
    return f"{column} IN ({', '.join('?' * len(values))})", list(values)


def _known_owners(tx: Cursor, keys: set[IdentifierKey], arrays: bool) -> dict[IdentifierKey, int]:
    by_kind: dict[tuple[int, str], list[str]] = defaultdict(list)
    for ws, kind, value in keys:
        by_kind[(ws, kind)].append(value)
    owners: dict[IdentifierKey, int] = {}
    for (ws, kind), values in by_kind.items():
        for start in range(0, len(values), _CHUNK):
            condition, args = _in("value", values[start : start + _CHUNK], arrays)
            rows = tx.all(
                "SELECT value, contact_id FROM contact_identifiers WHERE workspace_id = ? "
                f"AND kind = ? AND {condition}",
                ws,
                kind,
                *args,
            )
            owners.update({(ws, kind, value): int(contact) for value, contact in rows})
    return owners


def _live_contacts(tx: Cursor, events: Sequence[NewEvent], arrays: bool) -> set[tuple[int, int]]:
    wanted: dict[int, set[int]] = defaultdict(set)
    for event in events:
        if event.locators.contact_id is not None:
            wanted[event.workspace_id].add(event.locators.contact_id)
    live: set[tuple[int, int]] = set()
    for ws, ids in wanted.items():
        condition, args = _in("id", sorted(ids), arrays)
        rows = tx.all(
            f"SELECT id FROM contacts WHERE workspace_id = ? AND {condition} AND deleted_us IS NULL",
            ws,
            *args,
        )
        live.update((ws, int(row[0])) for row in rows)
    return live


def _create_contact(tx: Cursor, event: NewEvent) -> int:
    row = tx.one(
        "INSERT INTO contacts (workspace_id, external_customer_id, source, created_us, updated_us) "
        "VALUES (?, ?, ?, ?, ?) RETURNING id",
        event.workspace_id,
        event.locators.external_id,
        "order" if event.source == "order" else "event",
        event.received_us,
        event.received_us,
    )
    return int(row[0])


def _claim(tx: Cursor, key: IdentifierKey, contact: int, now_us: int) -> int:
    """Give an unowned identifier to ``contact``; the owner when another writer got there first."""
    row = tx.one(
        "INSERT INTO contact_identifiers (workspace_id, kind, value, contact_id, created_us) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING contact_id",
        *key,
        contact,
        now_us,
    )
    if row is not None:
        return contact
    row = tx.one(
        "SELECT contact_id FROM contact_identifiers WHERE workspace_id = ? AND kind = ? "
        "AND value = ?",
        *key,
    )
    return int(row[0])


def _resolve(
    tx: Cursor, event: NewEvent, owners: dict[IdentifierKey, int], live: set[tuple[int, int]]
) -> int | None:
    """The contact of one event: contactId, else the first identifier in priority order that has
    an owner, else a new contact. Identifiers nobody owns yet are claimed for it."""
    ws = event.workspace_id
    keys = [(ws, kind, value) for kind, value in event.locators.identifiers()]
    contact_id = event.locators.contact_id
    contact = contact_id if contact_id is not None and (ws, contact_id) in live else None
    if contact is None:
        contact = next((owners[key] for key in keys if key in owners), None)
    created = contact is None
    if contact is None:
        if not keys:
            return None
        contact = _create_contact(tx, event)
    lost: int | None = None
    for key in keys:
        if key not in owners:
            owners[key] = _claim(tx, key, contact, event.received_us)
            if owners[key] != contact and lost is None:
                lost = owners[key]
    if created and lost is not None:
        # A concurrent writer created this person a moment ago: fold our brand-new contact,
        # which has no events yet, into theirs.
        tx.execute(
            "UPDATE contact_identifiers SET contact_id = ? WHERE contact_id = ?", lost, contact
        )
        tx.execute("DELETE FROM contacts WHERE id = ?", contact)
        for key, owner in owners.items():
            if owner == contact:
                owners[key] = lost
        contact = lost
    return contact


def _upsert_order(tx: Cursor, order: NewOrder, contact_id: int | None) -> None:
    now = order.event.received_us
    tx.execute(
        "INSERT INTO orders (workspace_id, external_order_id, contact_id, status, total_cost, "
        "currency, order_date, data, created_us, updated_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (workspace_id, external_order_id) DO UPDATE SET "
        "contact_id = excluded.contact_id, status = excluded.status, "
        "total_cost = excluded.total_cost, currency = excluded.currency, "
        "order_date = excluded.order_date, data = excluded.data, updated_us = excluded.updated_us",
        order.workspace_id,
        order.external_order_id,
        contact_id,
        order.status,
        order.total_cost,
        order.currency,
        order.order_date,
        order.data_json,
        now,
        now,
    )


def _count_event_types(tx: Cursor, events: Sequence[NewEvent], greatest: str, shard: int) -> None:
    stats: dict[tuple[int, str], list[int]] = {}
    for event in events:
        entry = stats.get((event.workspace_id, event.event_type_key))
        if entry is None:
            stats[(event.workspace_id, event.event_type_key)] = [1, event.received_us]
        else:
            entry[0] += 1
            entry[1] = max(entry[1], event.received_us)
    ordered = sorted(stats.items())  # one lock order for every writer: no deadlocks
    tx.executemany(
        "INSERT INTO event_types (workspace_id, key, first_seen_us) VALUES (?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        [(ws, key, seen) for (ws, key), (_, seen) in ordered],
    )
    tx.executemany(
        "INSERT INTO event_type_counts (workspace_id, key, shard, event_count, last_seen_us) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (workspace_id, key, shard) DO UPDATE SET "
        "event_count = event_type_counts.event_count + excluded.event_count, "
        f"last_seen_us = {greatest}(event_type_counts.last_seen_us, excluded.last_seen_us)",
        [(ws, key, shard, n, seen) for (ws, key), (n, seen) in ordered],
    )


def write_items(
    tx: Cursor,
    items: Sequence[NewEvent | NewOrder],
    *,
    txid: int,
    greatest: str,
    arrays: bool = False,
    shard: int = 0,
) -> None:
    """Everything a batch stores, inside the caller's open transaction."""
    events = [_event_of(item) for item in items]
    keys = {
        (e.workspace_id, kind, value) for e in events for kind, value in e.locators.identifiers()
    }
    owners = _known_owners(tx, keys, arrays)
    live = _live_contacts(tx, events, arrays)
    rows: list[tuple[Any, ...]] = []
    for item, event in zip(items, events, strict=True):
        contact = _resolve(tx, event, owners, live)
        if isinstance(item, NewOrder):
            _upsert_order(tx, item, contact)
        rows.append(
            (
                event.workspace_id,
                event.event_type_key,
                event.key_value,
                contact,
                event.params_json,
                event.raw,
                event.source,
                event.occurred_us,
                event.received_us,
                txid,
            )
        )
    tx.executemany(
        "INSERT INTO events (workspace_id, event_type_key, key_value, contact_id, params, raw, "
        "source, occurred_us, received_us, txid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    _count_event_types(tx, events, greatest, shard)
