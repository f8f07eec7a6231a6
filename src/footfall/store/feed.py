"""The ordered feeds consumers build on: accepted events, and identity changes beside them.

Both are read in commit order, so a consumer never skips a row: on PostgreSQL by (txid, id) and
never past a transaction still running (the dialect's feed window); on SQLite, where writes are
serial, by id, which AUTOINCREMENT keeps from being handed out twice (migration 0004).

A consumer is named; one process at a time owns it under the lease ``feed:<name>``
(store/leases.py), and ``consume`` reads a page after the saved position, lets the handler write
its effects and saves the new position in one transaction, under the lease: each page is handled
exactly once, or not at all. The identity feed (merges and erasures, ids only;
store/identity_feed.py) is consumed the same way under a name of its own: a consumer following
both uses two names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from footfall.clock import now_us
from footfall.store import leases
from footfall.store.cursor import Cursor
from footfall.store.dialect import Dialect
from footfall.store.events import EVENT_COLUMNS, stored_event
from footfall.store.identity_feed import IdentityChange, position_of, read_identity, rows_after
from footfall.store.leases import Transactions, micros
from footfall.store.rows import EventSpan, FeedEvent, FeedPosition

DEFAULT_TTL_SECONDS = 5.0
LAG_COUNTED = 100_000  # lag beyond this is reported as this: a count must stay cheap
FEEDS = {"events": ("events", "received_us"), "identity": ("identity_changes", "created_us")}


@dataclass(frozen=True, slots=True)
class Lag:
    """How far a consumer is behind: items it has yet to handle (at most LAG_COUNTED), and the
    age of the oldest of them in seconds (None when it is caught up)."""

    behind: int
    oldest_seconds: float | None


def lag(tx: Cursor, dialect: Dialect, stream: str, after: FeedPosition, now: int) -> Lag:
    table, time_column = FEEDS[stream]
    where, args, order = dialect.feed_window(after)
    first = tx.one(
        f"SELECT {time_column} FROM {table} WHERE {where} ORDER BY {order} LIMIT 1", *args
    )
    if first is None:
        return Lag(0, None)
    counted = tx.one(
        f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {where} LIMIT ?) AS behind",
        *args,
        LAG_COUNTED,
    )
    return Lag(int(counted[0]), max(0.0, (now - int(first[0])) / 1_000_000))


class Positioned(Protocol):
    @property
    def position(self) -> FeedPosition: ...


P = TypeVar("P", bound=Positioned)
Source = Callable[[Cursor, Dialect, FeedPosition, int], list[P]]
Handler = Callable[[Cursor, list[P]], object]


def read_events(tx: Cursor, dialect: Dialect, after: FeedPosition, limit: int) -> list[FeedEvent]:
    """Events committed after ``after``, in an order no later commit can insert into."""
    rows = rows_after(tx, dialect, "events", f"{EVENT_COLUMNS}, workspace_id", after, limit)
    return [FeedEvent(position_of(r), int(r[8]), stored_event(r)) for r in rows]


def read_event_span(
    tx: Cursor, dialect: Dialect, after: FeedPosition, limit: int
) -> list[EventSpan]:
    """The next page of events as its bounds (one row read however long the page): none when
    the feed has nothing after ``after``."""
    where, args, order = dialect.feed_window(after)
    last_first = ", ".join(f"{column.strip()} DESC" for column in order.split(","))
    row = tx.one(
        f"WITH page AS (SELECT txid, id FROM events WHERE {where} ORDER BY {order} LIMIT ?) "
        f"SELECT txid, id, (SELECT count(*) FROM page) FROM page ORDER BY {last_first} LIMIT 1",
        *args,
        limit,
    )
    if row is None:
        return []
    return [EventSpan(after, FeedPosition(int(row[0] or 0), int(row[1])), int(row[2]))]


# The feeds a consumer may follow, by name: events whole or as spans, identity changes.
SOURCES: dict[str, Source[Any]] = {
    "events": read_events,
    "event_span": read_event_span,
    "identity": read_identity,
}


def load_offset(tx: Cursor, consumer: str) -> FeedPosition:
    row = tx.one("SELECT last_txid, last_id FROM feed_offsets WHERE consumer = ?", consumer)
    return FeedPosition() if row is None else FeedPosition(int(row[0]), int(row[1]))


def save_offset(tx: Cursor, consumer: str, position: FeedPosition, now_us: int) -> None:
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


def lease_name(consumer: str) -> str:
    return f"feed:{consumer}"


@dataclass(frozen=True, slots=True)
class Consumption:
    """What one ``consume`` call needs besides the transaction."""

    consumer: str
    owner: str
    limit: int
    ttl_us: int
    now_us: int


def consume_page(
    tx: Cursor, dialect: Dialect, job: Consumption, source: Source[P], handle: Handler[P]
) -> int:
    """Under the consumer's lease: the next page after the saved position, handled and the
    position advanced, in the caller's transaction; the lease is renewed too. Raises LeaseLost
    (the transaction then rolls back) when ``job.owner`` does not hold the lease."""
    leases.hold(tx, dialect, lease_name(job.consumer), job.owner, job.now_us)
    page = source(tx, dialect, load_offset(tx, job.consumer), job.limit)
    if page:
        handle(tx, page)
        save_offset(tx, job.consumer, page[-1].position, job.now_us)
    leases.renew(tx, lease_name(job.consumer), job.owner, job.ttl_us, job.now_us)
    return _size(page)


def _size(page: Sequence[Positioned]) -> int:
    """How many feed items a page holds (a span stands for all of its events)."""
    if len(page) == 1 and isinstance(page[0], EventSpan):
        return page[0].count
    return len(page)


class FeedStore:
    """The feeds, offsets and consumer leases, each operation in a transaction of its own."""

    def __init__(self, db: Transactions, clock: Callable[[], int] = now_us) -> None:
        self._db = db
        self._clock = clock

    def read_events(self, after: FeedPosition, limit: int) -> list[FeedEvent]:
        with self._db.read() as tx:
            return read_events(tx, self._db.dialect, after, limit)

    def read_identity(self, after: FeedPosition, limit: int) -> list[IdentityChange]:
        with self._db.read() as tx:
            return read_identity(tx, self._db.dialect, after, limit)

    def load_offset(self, consumer: str) -> FeedPosition:
        with self._db.read() as tx:
            return load_offset(tx, consumer)

    def lag(self, consumer: str, stream: str) -> Lag:
        """How far ``consumer`` of ``stream`` ("events" or "identity") is behind."""
        with self._db.read() as tx:
            return lag(tx, self._db.dialect, stream, load_offset(tx, consumer), self._clock())

    def save_offset(self, consumer: str, position: FeedPosition) -> None:
        """Set a consumer's position outside ``consume`` (an operator rewinding it, a test)."""
        self._db.transact(lambda tx: save_offset(tx, consumer, position, self._clock()))

    def acquire(self, consumer: str, owner: str, ttl: float = DEFAULT_TTL_SECONDS) -> bool:
        """Own ``consumer`` for ``ttl`` seconds if nobody else does (or their lease expired)."""
        name = lease_name(consumer)
        return self._db.transact(
            lambda tx: leases.acquire(tx, name, owner, micros(ttl), self._clock())
        )

    def renew(self, consumer: str, owner: str, ttl: float = DEFAULT_TTL_SECONDS) -> bool:
        name = lease_name(consumer)
        return self._db.transact(
            lambda tx: leases.renew(tx, name, owner, micros(ttl), self._clock())
        )

    def release(self, consumer: str, owner: str) -> None:
        self._db.transact(lambda tx: leases.release(tx, lease_name(consumer), owner))

    def consume(
        self,
        consumer: str,
        owner: str,
        handle: Handler[FeedEvent],
        limit: int = 100,
        ttl: float = DEFAULT_TTL_SECONDS,
    ) -> int:
        """Handle the next page of events in one transaction with the new position (and the
        lease renewed for ``ttl``); how many were handled. Raises LeaseLost, with no effect,
        unless ``owner`` holds the consumer's lease."""
        return self._consume(consumer, owner, handle, limit, ttl, read_events)

    def consume_identity(
        self,
        consumer: str,
        owner: str,
        handle: Handler[IdentityChange],
        limit: int = 100,
        ttl: float = DEFAULT_TTL_SECONDS,
    ) -> int:
        """``consume`` for the identity feed: merges and erasures, so that what a consumer
        derived from a contact can follow it to the survivor, or be erased with it."""
        return self._consume(consumer, owner, handle, limit, ttl, read_identity)

    def consume_stream(
        self,
        stream: str,
        consumer: str,
        owner: str,
        handle: Handler[Any],
        limit: int = 100,
        ttl: float = DEFAULT_TTL_SECONDS,
    ) -> int:
        """``consume`` of the feed named ``stream`` (a key of SOURCES)."""
        return self._consume(consumer, owner, handle, limit, ttl, SOURCES[stream])

    def waiting(self, consumer: str, stream: str) -> bool:
        """Whether ``stream`` has anything after ``consumer``'s saved position (a read: an idle
        consumer writes nothing)."""
        with self._db.read() as tx:
            after = load_offset(tx, consumer)
            return bool(SOURCES[stream](tx, self._db.dialect, after, 1))

    def _consume(
        self,
        consumer: str,
        owner: str,
        handle: Handler[P],
        limit: int,
        ttl: float,
        source: Source[P],
    ) -> int:
        def work(tx: Cursor) -> int:
            job = Consumption(consumer, owner, limit, micros(ttl), self._clock())
            return consume_page(tx, self._db.dialect, job, source, handle)

        return self._db.transact(work)
