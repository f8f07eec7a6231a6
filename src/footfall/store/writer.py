"""The write path of a group-commit batch: tie each event to its contact, then store everything.

An event whose locators belong to two contacts merges them (the rules: ``identity.merging``), unless both
carry different externalCustomerIds: then it goes to the contact its first locator names and an
identity warning is recorded. An anonymous visitor id alone makes an anonymous contact, whose
history moves to the known contact once an event ties the two.

Lookups, contact creation and identifier claims are made per batch, not per event: on PostgreSQL
each statement is a round trip, and on both backends the Python side of a batch is what limits
throughput. Events go in with one COPY (PostgreSQL) or executemany (SQLite).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from footfall.identity.locators import ANONYMOUS_ID, EXTERNAL_ID
from footfall.identity.merging import (
    IdentifierKey,
    MergePlan,
    identifier_keys,
    plan_batch,
    undecided,
)
from footfall.records import ACCEPTED, HOUR_US, IdentityChanges, NewEvent, NewFailure, NewOrder
from footfall.store.cursor import Cursor
from footfall.store.dialect import FEED, Dialect
from footfall.store.identity import EXTERNAL_ID_CONFLICT, Why, load_people, merge, warn
from footfall.store.sql import marks

INSERT_COLUMNS = (
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
                rows = tx.all(
                    "SELECT value, contact_id FROM contact_identifiers WHERE workspace_id = ? "
                    f"AND kind = ? AND value IN ({marks(chunk)})",
                    ws,
                    kind,
                    *chunk,
                )
            owners.update({(ws, kind, value): int(contact) for value, contact in rows})
    return owners


def _create_contacts(tx: Cursor, plan: MergePlan, sql: Dialect) -> dict[int, int]:
    """Create the batch's new contacts that survived planning; their planned id -> real id."""
    planned = [
        (new, event)
        for new, event in plan.new_contacts.items()
        if (event.workspace_id, new) not in plan.alias
    ]
    if not planned:
        return {}
    rows = []
    for new, e in planned:
        person = plan.people[(e.workspace_id, new)]
        source = "order" if e.source == "order" else "event"
        rows.append(
            (e.workspace_id, person.ext, source, e.received_us, e.received_us, person.anonymous)
        )
    columns = "workspace_id, external_customer_id, source, created_us, updated_us, anonymous"
    if not sql.arrays:
        ids = [
            int(
                tx.one(
                    f"INSERT INTO contacts ({columns}) VALUES (?, ?, ?, ?, ?, ?) RETURNING id", *row
                )[0]
            )
            for row in rows
        ]
    else:
        # Ids drawn from the sequence up front: one round trip for any number of new contacts.
        ids = [
            int(r[0])
            for r in tx.all(
                "SELECT nextval(pg_get_serial_sequence('contacts', 'id')) FROM generate_series(1, ?)",
                len(rows),
            )
        ]
        tx.executemany(
            f"INSERT INTO contacts (id, {columns}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(new_id, *row) for new_id, row in zip(ids, rows, strict=True)],
        )
    return {new: real for (new, _), real in zip(planned, ids, strict=True)}


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


def _note_claims(
    tx: Cursor,
    claims: list[tuple[IdentifierKey, int]],
    unnamed: set[tuple[int, int]],
    anonymous: set[tuple[int, int]],
) -> None:
    """Contacts that existed before the batch and gained an externalCustomerId, or their first
    real identifier (new contacts were created with both already right)."""
    named = {(k[0], c): k[2] for k, c in claims if k[1] == EXTERNAL_ID and (k[0], c) in unnamed}
    tx.executemany(
        "UPDATE contacts SET external_customer_id = ? WHERE workspace_id = ? AND id = ? "
        "AND external_customer_id IS NULL",
        [(ext, ws, contact) for (ws, contact), ext in sorted(named.items())],
    )
    known = {(k[0], c) for k, c in claims if k[1] != ANONYMOUS_ID and (k[0], c) in anonymous}
    tx.executemany(
        "UPDATE contacts SET anonymous = ? WHERE workspace_id = ? AND id = ?",
        [(False, ws, contact) for ws, contact in sorted(known)],
    )


def _resolve_all(
    tx: Cursor, events: Sequence[NewEvent], sql: Dialect
) -> tuple[list[int | None], IdentityChanges]:
    """The contact id of each event, creating, claiming and merging in bulk."""
    all_keys = [identifier_keys(event) for event in events]
    owners = _known_owners(tx, {key for keys in all_keys for key in keys}, sql.arrays)
    people, merged = load_people(tx, undecided(events, all_keys, owners), sql)
    # As read, before planning changes them: who was anonymous or unnamed at the start.
    unnamed = {key for key, p in people.items() if p.ext is None}
    anonymous = {key for key, p in people.items() if p.anonymous}
    if merged:
        owners = {key: merged.get((key[0], owner), owner) for key, owner in owners.items()}
    live: dict[Any, int] = {}
    for e in events:
        ws, asked = e.workspace_id, e.locators.contact_id
        if asked is None:
            continue
        final = merged.get((ws, asked), asked)
        if (ws, final) in people and not people[(ws, final)].deleted:
            live[(ws, asked)] = final
    plan = plan_batch(events, owners, people, live, all_keys)
    created = _create_contacts(tx, plan, sql)

    def real(ws: int, contact: int) -> int:
        contact = plan.canon(ws, contact)
        return created.get(contact, contact)

    claims = [(key, real(key[0], contact)) for key, contact in plan.claims.items()]
    now = events[0].received_us if events else 0
    taken = _claim_all(tx, claims, now, sql.arrays)
    new_ids = set(created.values())
    folded: dict[int, int] = {}
    for key, contact in claims:
        if key in taken and contact in new_ids and contact not in folded:
            # A concurrent writer created this person a moment ago: fold our brand-new contact,
            # which has no events yet, into theirs.
            folded[contact] = taken[key]
    for new, owner in folded.items():
        tx.execute("UPDATE contact_identifiers SET contact_id = ? WHERE contact_id = ?", owner, new)
        tx.execute("DELETE FROM contacts WHERE id = ?", new)
    _note_claims(tx, [(k, c) for k, c in claims if k not in taken], unnamed, anonymous)
    moved: dict[tuple[int, int], int] = {}
    merges = 0
    for m in plan.merges:
        ws = m.workspace_id
        if m.merged < 0 and m.merged not in created:
            continue  # planned as new, never created: nothing to move
        # The ids as created (not through the plan's aliases, which already point at the survivor).
        a, b = (folded.get(created.get(c, c), created.get(c, c)) for c in (m.merged, m.survivor))
        a, b = moved.get((ws, a), a), moved.get((ws, b), b)
        why = Why(m.reason, "event", m.key_id or None, now)
        survivor = merge(tx, sql, ws, a, b, why)
        if survivor is not None and a != b:
            merges += 1
            for contact in (a, b):
                if contact != survivor:
                    moved[(ws, contact)] = survivor
    warnings = 0
    for (ws, contact, other), (reason, key_id, times) in sorted(plan.warnings.items(), key=str):
        why = Why(reason, "event", key_id or None, now)
        second = None if other is None else real(ws, other)
        warn(tx, ws, EXTERNAL_ID_CONFLICT, real(ws, contact), second, why, times)
        warnings += times
    if not (plan.alias or folded or moved):  # nothing merged or folded: the common case
        finals = [
            None if planned is None else created.get(planned, planned) for planned in plan.contacts
        ]
        return finals, IdentityChanges(merges, warnings)
    finals = []
    for event, planned in zip(events, plan.contacts, strict=True):
        if planned is None:
            finals.append(None)
            continue
        ws = event.workspace_id
        final = real(ws, planned)
        final = folded.get(final, final)
        finals.append(moved.get((ws, final), final))
    return finals, IdentityChanges(merges, warnings)


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


OBSERVE_EVERY_US = 60_000_000  # how often a process refreshes a parameter's last-seen time


def _count_hourly(tx: Cursor, counts: dict[tuple[int, str, int, str], int], shard: int) -> None:
    """Add to the per-type, per-hour outcome counters (sorted: one lock order for all writers)."""
    tx.executemany(
        "INSERT INTO event_type_hourly (workspace_id, key, hour_us, outcome, shard, event_count) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (workspace_id, key, hour_us, outcome, shard) "
        "DO UPDATE SET event_count = event_type_hourly.event_count + excluded.event_count",
        [
            (ws, key, hour, outcome, shard, n)
            for (ws, key, hour, outcome), n in sorted(counts.items())
        ],
    )


def _observe(
    tx: Cursor,
    events: Sequence[NewEvent],
    observed: dict[Any, int],
    greatest: str,
    noted: dict[Any, int],
) -> None:
    """Record each parameter name and JSON type seen per type; a process refreshes one it has
    written already at most once a minute. What is written goes to ``noted``, for the caller to
    add to ``observed`` once the transaction has committed."""
    fresh: dict[tuple[int, str, str, str], int] = {}
    for event in events:
        for name, kind in event.shape:
            key = (event.workspace_id, event.event_type_key, name, kind)
            if event.received_us - observed.get(key, 0) >= OBSERVE_EVERY_US:
                fresh[key] = max(fresh.get(key, 0), event.received_us)
    if not fresh:
        return
    noted.update(fresh)
    tx.executemany(
        "INSERT INTO event_type_params (workspace_id, key, name, json_type, first_seen_us, "
        "last_seen_us) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (workspace_id, key, name, json_type) "
        f"DO UPDATE SET last_seen_us = {greatest}(event_type_params.last_seen_us, "
        "excluded.last_seen_us)",
        [(*key, seen, seen) for key, seen in sorted(fresh.items())],
    )


def _record_failures(tx: Cursor, failures: Sequence[NewFailure], shard: int) -> None:
    tx.executemany(
        "INSERT INTO failed_events (workspace_id, event_type_key, key_value, route, reason, "
        "field, error, raw, raw_bytes, received_us, attempts) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
        [
            (
                f.workspace_id,
                f.event_type_key,
                f.key_value,
                f.route,
                f.reason,
                f.field,
                f.error,
                f.raw,
                f.raw_bytes,
                f.received_us,
            )
            for f in failures
        ],
    )
    counts: dict[tuple[int, str, int, str], int] = defaultdict(int)
    for f in failures:
        key = f.event_type_key if f.typed_stats else ""
        counts[(f.workspace_id, key, f.received_us // HOUR_US * HOUR_US, f.reason)] += 1
    _count_hourly(tx, counts, shard)


def write_items(
    tx: Cursor,
    items: Sequence[NewEvent | NewOrder | NewFailure],
    *,
    txid: int,
    sql: Dialect,
    shard: int = 0,
    observed: dict[Any, int] | None = None,
    noted: dict[Any, int] | None = None,
) -> IdentityChanges:
    """Everything a batch stores, inside the caller's open transaction."""
    failures = [item for item in items if isinstance(item, NewFailure)]
    if failures:
        _record_failures(tx, failures, shard)
        items = [item for item in items if not isinstance(item, NewFailure)]
        if not items:
            return IdentityChanges()
    stored: Sequence[NewEvent | NewOrder] = items  # type: ignore[assignment]
    events = [_event_of(item) for item in stored]
    contacts, changes = _resolve_all(tx, events, sql)
    for item, contact in zip(stored, contacts, strict=True):
        if isinstance(item, NewOrder):
            _upsert_order(tx, item, contact)
    tx.copy_rows(
        "events",
        INSERT_COLUMNS,
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
    _count_event_types(tx, events, sql.greatest, shard)
    hourly: dict[tuple[int, str, int, str], int] = defaultdict(int)
    for e in events:
        hourly[
            (e.workspace_id, e.event_type_key, e.received_us // HOUR_US * HOUR_US, ACCEPTED)
        ] += 1
    _count_hourly(tx, hourly, shard)
    _observe(
        tx,
        events,
        {} if observed is None else observed,
        sql.greatest,
        {} if noted is None else noted,
    )
    sql.notify(tx, FEED)
    return changes
