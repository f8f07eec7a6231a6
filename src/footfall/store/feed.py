"""The ordered feed of accepted events (ported as-is from the old store/base.py by the lead;
the feed helper owns this module and extends it)."""

from __future__ import annotations

from footfall.store.core import Database
from footfall.store.events import EVENT_COLUMNS, stored_event
from footfall.store.records import FeedEvent, FeedPosition


class FeedStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def read_feed(self, after: FeedPosition, limit: int) -> list[FeedEvent]:
        """Events committed after ``after``, in an order no later commit can insert into."""
        where, args, order = self._db.dialect.feed_window(after)
        with self._db.read() as tx:
            rows = tx.all(
                f"SELECT {EVENT_COLUMNS}, txid, workspace_id FROM events WHERE {where} "
                f"ORDER BY {order} LIMIT ?",
                *args,
                limit,
            )
        return [
            FeedEvent(FeedPosition(int(r[8]), int(r[0])), int(r[9]), stored_event(r)) for r in rows
        ]

    def load_offset(self, consumer: str) -> FeedPosition:
        with self._db.read() as tx:
            row = tx.one("SELECT last_txid, last_id FROM feed_offsets WHERE consumer = ?", consumer)
        return FeedPosition() if row is None else FeedPosition(int(row[0]), int(row[1]))

    def save_offset(self, consumer: str, position: FeedPosition, now_us: int) -> None:
        with self._db.write() as tx:
            tx.execute(
                "INSERT INTO feed_offsets (consumer, last_txid, last_id, updated_us) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (consumer) DO UPDATE SET "
                "last_txid = excluded.last_txid, last_id = excluded.last_id, "
                "updated_us = excluded.updated_us",
                consumer,
                position.txid,
                position.id,
                now_us,
            )
