"""The write path of a group-commit batch: tie each event to its contact, then store everything.

Lookups, contact creation and identifier claims are made per batch, not per event: on PostgreSQL
each statement is a round trip, and on both backends the Python side of a batch is what limits
throughput. Events go in with one COPY (PostgreSQL) or executemany (SQLite).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from footfall.ingest.models import NewEvent, NewOrder
from footfall.store.cursor import Cursor

IdentifierKey = tuple[int, str, str]  # (workspace_id, kind, value)
EVENT_COLUMNS = (
    "workspace_id",
    "event_type_key",
    "key_value",
    "contact_id",
    "params",
    "raw",
    "source",
    "occurred_us",
    "received_us",
    "txid",
)
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
            chunk = values[start : start + _CHUNK]
            if arrays:
                # One primary-key probe per value (OFFSET 0 keeps the planner from turning this
                # into a scan of the workspace's identifiers when its statistics are stale).
                rows = tx.all(
                    "SELECT v.value, ci.contact_id FROM unnest(?::text[]) AS v(value) "
                    "CROSS JOIN LATERAL (SELECT contact_id FROM contact_identifiers "
                    "WHERE workspace_id = ? AND kind = ? AND value = v.value OFFSET 0) ci",
                    chunk,
                    ws,
                    kind,
                )
            else:
                marks = ", ".join("?" * len(chunk))
                rows = tx.all(
                    "SELECT value, contact_id FROM contact_identifiers WHERE workspace_id = ? "
                    f"AND kind = ? AND value IN ({marks})",
                    ws,
                    kind,
                    *chunk,
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


@dataclass
class _Plan:
    """Who each event of a batch is about. New contacts have no id yet: they are numbered -1, -2…"""

    owners: dict[IdentifierKey, int]
    new_contacts: list[NewEvent] = field(default_factory=list)
    claims: dict[IdentifierKey, int] = field(default_factory=dict)
    contacts: list[int | None] = field(default_factory=list)


def _plan(
    events: Sequence[NewEvent], owners: dict[IdentifierKey, int], live: set[tuple[int, int]]
) -> _Plan:
    """contactId wins, then the first identifier in priority order that has an owner (earlier events
    of the batch included), else a new contact. Identifiers nobody owns are claimed for it."""
    plan = _Plan(owners)
    for event in events:
        ws = event.workspace_id
        keys = [(ws, kind, value) for kind, value in event.locators.identifiers()]
        contact_id = event.locators.contact_id
        contact = contact_id if contact_id is not None and (ws, contact_id) in live else None
        if contact is None:
            contact = next((owners[key] for key in keys if key in owners), None)
        if contact is None and keys:
            plan.new_contacts.append(event)
            contact = -len(plan.new_contacts)
        for key in keys:
            if key not in owners:
                assert contact is not None  # found or created: there are keys
                owners[key] = plan.claims[key] = contact
        plan.contacts.append(contact)
    return plan


def _create_contacts(tx: Cursor, events: Sequence[NewEvent], arrays: bool) -> list[int]:
    if not events:
        return []
    rows = [
        (
            e.workspace_id,
            e.locators.external_id,
            "order" if e.source == "order" else "event",
            e.received_us,
            e.received_us,
        )
        for e in events
    ]
    if not arrays:
        return [
            int(
                tx.one(
                    "INSERT INTO contacts (workspace_id, external_customer_id, source, "
                    "created_us, updated_us) VALUES (?, ?, ?, ?, ?) RETURNING id",
                    *row,
                )[0]
            )
            for row in rows
        ]
    # Ids drawn from the sequence up front: one round trip for any number of new contacts.
    ids = [
        int(r[0])
        for r in tx.all(
            "SELECT nextval(pg_get_serial_sequence('contacts', 'id')) FROM generate_series(1, ?)",
            len(rows),
        )
    ]
    tx.executemany(
        "INSERT INTO contacts (id, workspace_id, external_customer_id, source, created_us, "
        "updated_us) VALUES (?, ?, ?, ?, ?, ?)",
        [(new_id, *row) for new_id, row in zip(ids, rows, strict=True)],
    )
    return ids


def _claim_all(
    tx: Cursor, claims: list[tuple[IdentifierKey, int]], now_us: int, arrays: bool
) -> dict[IdentifierKey, int]:
    """Claim identifiers; returns the owner of each one another writer claimed first."""
    if not claims:
        return {}
    claims = sorted(claims)  # one lock order for every writer
    if arrays:
        rows = tx.all(
            "INSERT INTO contact_identifiers (workspace_id, kind, value, contact_id, created_us) "
            "SELECT * FROM unnest(?::bigint[], ?::text[], ?::text[], ?::bigint[], ?::bigint[]) "
            "ON CONFLICT DO NOTHING RETURNING workspace_id, kind, value",
            [k[0] for k, _ in claims],
            [k[1] for k, _ in claims],
            [k[2] for k, _ in claims],
            [c for _, c in claims],
            [now_us] * len(claims),
        )
        won = {(int(r[0]), r[1], r[2]) for r in rows}
    else:
        won = set()
        for key, contact in claims:
            row = tx.one(
                "INSERT INTO contact_identifiers (workspace_id, kind, value, contact_id, "
                "created_us) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING contact_id",
                *key,
                contact,
                now_us,
            )
            if row is not None:
                won.add(key)
    lost = {key for key, _ in claims if key not in won}
    return _known_owners(tx, lost, arrays) if lost else {}


def _resolve_all(
    tx: Cursor,
    events: Sequence[NewEvent],
    owners: dict[IdentifierKey, int],
    live: set[tuple[int, int]],
    arrays: bool,
) -> list[int | None]:
    """The contact id of each event, creating and claiming in bulk."""
    plan = _plan(events, owners, live)
    ids = _create_contacts(tx, plan.new_contacts, arrays)

    def real(contact: int) -> int:
        return ids[-contact - 1] if contact < 0 else contact

    claims = [(key, real(contact)) for key, contact in plan.claims.items()]
    now = events[0].received_us if events else 0
    taken = _claim_all(tx, claims, now, arrays)
    created = set(ids)
    folded: dict[int, int] = {}
    for key, contact in claims:
        if key in taken and contact in created and contact not in folded:
            # A concurrent writer created this person a moment ago: fold our brand-new contact,
            # which has no events yet, into theirs.
            folded[contact] = taken[key]
    for new, owner in folded.items():
        tx.execute("UPDATE contact_identifiers SET contact_id = ? WHERE contact_id = ?", owner, new)
        tx.execute("DELETE FROM contacts WHERE id = ?", new)
    finals = [None if c is None else real(c) for c in plan.contacts]
    return [None if c is None else folded.get(c, c) for c in finals]


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
    contacts = _resolve_all(tx, events, owners, live, arrays)
    for item, contact in zip(items, contacts, strict=True):
        if isinstance(item, NewOrder):
            _upsert_order(tx, item, contact)
    tx.copy_rows(
        "events",
        EVENT_COLUMNS,
        [
            (
                e.workspace_id,
                e.event_type_key,
                e.key_value,
                contact,
                e.params_json,
                e.raw,
                e.source,
                e.occurred_us,
                e.received_us,
                txid,
            )
            for e, contact in zip(events, contacts, strict=True)
        ],
    )
    _count_event_types(tx, events, greatest, shard)
