"""Events in SQL: the group-commit write path, the history, orders.

The write path keeps two per-process caches: the counter shard this process adds to (so that
writers never queue on one hot counter row) and which parameters of which types it recorded
lately (so the observed structure is refreshed at most once a minute per process).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

from footfall.records import IdentityChanges, NewEvent, NewFailure, NewOrder
from footfall.store.core import ATTEMPTS, BatchConnection, Database, backoff
from footfall.store.cursor import Cursor
from footfall.store.rows import EventQuery, StoredEvent
from footfall.store.sql import Where, loads
from footfall.store.writer import write_items

Write = NewEvent | NewOrder | NewFailure
COUNTER_SHARDS = 16
# The params as JSON text on both backends: passed through to clients as they are stored, never
# decoded on a read (so no stored value, however deep, can fail a page of history).
EVENT_COLUMNS = (
    "id, event_type_key, key_value, contact_id, CAST(params AS TEXT), source, occurred_us, "
    "received_us"
)


def stored_event(row: Sequence[Any]) -> StoredEvent:
    """An events row (EVENT_COLUMNS, in that order) as a record."""
    return StoredEvent(
        id=int(row[0]),
        event_type_key=row[1],
        key_value=row[2],
        contact_id=None if row[3] is None else int(row[3]),
        params_json=str(row[4]),
        source=row[5],
        occurred_us=int(row[6]),
        received_us=int(row[7]),
    )


def list_events(tx: Cursor, hint: str, ws: int, query: EventQuery) -> list[StoredEvent]:
    """Newest first by occurred time; ``query.before`` continues after the last page."""
    where = Where("workspace_id = ?", ws)
    where.equals("event_type_key", query.event_type_key).equals("key_value", query.key_value)
    where.equals("contact_id", query.contact_id).among("contact_id", query.contact_ids)
    where.at_least("occurred_us", query.occurred_from_us)
    where.at_most("occurred_us", query.occurred_to_us)
    if query.before is not None:
        # The plain bound lets the index start at the cursor instead of filtering every newer
        # row; the OR then breaks ties within one microsecond.
        occurred, last_id = query.before
        where.add(
            "occurred_us <= ? AND (occurred_us < ? OR (occurred_us = ? AND id < ?))",
            occurred,
            occurred,
            occurred,
            last_id,
        )
    by_contact = query.contact_id is not None or bool(query.contact_ids)
    rows = tx.all(
        f"SELECT {EVENT_COLUMNS} FROM events{hint if by_contact else ''} WHERE {where.sql} "
        "ORDER BY occurred_us DESC, id DESC LIMIT ?",
        *where.args,
        query.limit,
    )
    return [stored_event(row) for row in rows]


def get_order(tx: Cursor, ws: int, external_order_id: str) -> dict[str, Any] | None:
    row = tx.one(
        "SELECT external_order_id, contact_id, status, total_cost, currency, order_date, "
        "data FROM orders WHERE workspace_id = ? AND external_order_id = ?",
        ws,
        external_order_id,
    )
    if row is None:
        return None
    keys = ("externalOrderId", "contactId", "status", "totalCost", "currency", "date")
    return dict(zip(keys, row[:6], strict=True)) | {"data": loads(row[6])}


class EventStore:
    """Writing batches (group commit) and reading the history."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self.batch = BatchConnection(db)
        self.write_on_loop = db.dialect.write_on_loop
        self.counter_shard = random.randrange(COUNTER_SHARDS) if db.dialect.arrays else 0
        # (workspace, type, param, JSON type) -> when this process last recorded it, and what
        # the open batch recorded (added to the former once it has committed).
        self._observed: dict[Any, int] = {}
        self._noted: dict[Any, int] = {}

    def write(
        self, tx: Cursor, items: Sequence[Write], *, remember: bool = False
    ) -> IdentityChanges:
        """Store ``items`` inside the caller's transaction. Structure written is remembered as
        written only with ``remember`` (the caller then calls ``committed`` after commit)."""
        return write_items(
            tx,
            items,
            txid=self._db.dialect.current_txid(tx),
            sql=self._db.dialect,
            shard=self.counter_shard,
            observed=self._observed,
            noted=self._noted if remember else None,
        )

    # -- group commit: begin, write and commit as separate steps ----------------------------
    def try_begin(self) -> bool:
        return self.batch.try_begin()

    def begin(self) -> None:
        self.batch.begin()

    def write_batch(self, items: Sequence[Write]) -> IdentityChanges:
        with self.batch.guarded():
            return self.write(self.batch.cursor(), items, remember=True)

    def commit(self) -> None:
        self.batch.commit()
        if len(self._observed) > 100_000:
            self._observed.clear()
        self._observed.update(self._noted)
        self._noted.clear()

    def rollback(self) -> None:
        self._noted.clear()
        self.batch.rollback()

    def commit_batch(self, items: Sequence[Write]) -> IdentityChanges:
        """Store events and orders in one durable transaction, each tied to its contact; run
        again from the start when the database aborts it for a deadlock."""
        for attempt in range(ATTEMPTS):
            self.begin()
            try:
                changes = self.write_batch(items)
            except BaseException as exc:
                self.rollback()
                if attempt == ATTEMPTS - 1 or not self._db.dialect.is_retryable(exc):
                    raise
                time.sleep(backoff(attempt))
                continue
            self.commit()
            return changes
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.batch.close()

    # -- reads -------------------------------------------------------------------------------
    def list_events(self, workspace_id: int, query: EventQuery) -> list[StoredEvent]:
        with self._db.read() as tx:
            return list_events(tx, self._db.dialect.contact_index_hint, workspace_id, query)

    def get_order(self, workspace_id: int, external_order_id: str) -> dict[str, Any] | None:
        with self._db.read() as tx:
            return get_order(tx, workspace_id, external_order_id)
