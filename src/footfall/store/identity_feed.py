"""The identity feed: merges and erasures, in commit order, beside the events feed.

A consumer that derived something from a contact (a segment, a webhook subscriber's copy, a model)
follows this feed to fold a merged contact into its survivor and to erase what it holds of an
erased one. Only ids are recorded: an erased contact's id outlives it here, its data does not.

Rows are written by the merge and the erasure themselves, in their transaction, so the change is
in the feed exactly when it is committed. This module imports nothing of the write path, so
``store/identity.py`` and ``store/contacts.py`` can call it; ``store/feed.py`` reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from footfall.store.cursor import Cursor
from footfall.store.dialect import FEED, Dialect
from footfall.store.rows import FeedPosition

MERGED = "contactMerged"
ERASED = "contactErased"


@dataclass(frozen=True, slots=True)
class IdentityChange:
    """``contactMerged``: ``merged_id`` was folded into ``contact_id``; ``contactErased``:
    ``contact_id`` and everything derived from it is gone (``merged_id`` is None)."""

    position: FeedPosition
    workspace_id: int
    kind: str
    contact_id: int
    merged_id: int | None
    created_us: int


def rows_after(
    tx: Cursor, dialect: Dialect, table: str, columns: str, after: FeedPosition, limit: int
) -> list[Any]:
    """A page of a feed table (one with ``txid`` and ``id``): ``columns``, then txid and id."""
    where, args, order = dialect.feed_window(after)
    return tx.all(
        f"SELECT {columns}, txid, id FROM {table} WHERE {where} ORDER BY {order} LIMIT ?",
        *args,
        limit,
    )


def position_of(row: Sequence[Any]) -> FeedPosition:
    """The position of a row from ``rows_after``."""
    return FeedPosition(int(row[-2] or 0), int(row[-1]))


def read_identity(
    tx: Cursor, dialect: Dialect, after: FeedPosition, limit: int
) -> list[IdentityChange]:
    """Merges and erasures committed after ``after``, in commit order like events."""
    columns = "workspace_id, kind, contact_id, merged_id, created_us"
    return [
        IdentityChange(
            position_of(r),
            int(r[0]),
            r[1],
            int(r[2]),
            None if r[3] is None else int(r[3]),
            int(r[4]),
        )
        for r in rows_after(tx, dialect, "identity_changes", columns, after, limit)
    ]


def record_merge(
    tx: Cursor, dialect: Dialect, ws: int, survivor: int, merged: int, now_us: int
) -> None:
    """Note, in the merge's own transaction, that ``merged`` was folded into ``survivor``."""
    _record(tx, dialect, ws, [(MERGED, survivor, merged)], now_us)


def record_erasure(
    tx: Cursor, dialect: Dialect, ws: int, contact_ids: Sequence[int], now_us: int
) -> None:
    """Note, in the erasure's own transaction, that these contacts are gone (ids only)."""
    _record(tx, dialect, ws, [(ERASED, c, None) for c in contact_ids], now_us)


def _record(
    tx: Cursor, dialect: Dialect, ws: int, changes: list[tuple[str, int, int | None]], now_us: int
) -> None:
    txid = dialect.current_txid(tx)
    tx.executemany(
        "INSERT INTO identity_changes (workspace_id, kind, contact_id, merged_id, txid, "
        "created_us) VALUES (?, ?, ?, ?, ?, ?)",
        [(ws, kind, contact, merged, txid, now_us) for kind, contact, merged in changes],
    )
    dialect.notify(tx, FEED)
