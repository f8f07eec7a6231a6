"""The store: a short list of named operations over SQL shared by SQLite and PostgreSQL.

Subclasses only say how to connect, how to open a write transaction and what differs in SQL.
Driver errors are translated here, once, into StorageUnavailable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import msgspec

from footfall.exceptions import (
    ContactNotFound,
    InvalidEvent,
    StorageUnavailable,
    WorkspaceExists,
)
from footfall.identity.contacts import ContactInput
from footfall.ingest.models import NewEvent, NewFailure, NewOrder
from footfall.store import contacts, registry
from footfall.store.cursor import Cursor
from footfall.store.identity import Sql, Why
from footfall.store.records import (
    ApiKey,
    EventQuery,
    EventTypeStats,
    FeedEvent,
    FeedPosition,
    StoredEvent,
)
from footfall.store.writer import IdentityChanges, write_items

Write = NewEvent | NewOrder | NewFailure
T = TypeVar("T")
_RETRIES = 5

_EVENT_COLUMNS = (
    "id, event_type_key, key_value, contact_id, params, source, occurred_us, received_us"
)


COUNTER_SHARDS = 16


class Store(ABC):
    """Named operations; each opens and finishes its own transaction."""

    dialect: str
    greatest: str

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()
        self._writer: Any = None
        self._opened: list[Any] = []
        self._opened_lock = threading.Lock()
        # Bumped whenever a connection is found broken: every thread then reconnects instead of
        # failing once more on its own connection that the same outage cut.
        self._epoch = 0
        self.counter_shard = random.randrange(COUNTER_SHARDS) if self.has_arrays else 0
        # (workspace, type, param, JSON type) -> when this process last recorded it, and what
        # the open write transaction recorded (added to the former once it has committed).
        self._observed: dict[Any, int] = {}
        self._noted: dict[Any, int] = {}

    # -- what a backend provides -------------------------------------------------------------
    begin_sql = "BEGIN"
    write_on_loop = False  # True when the Python side of a batch may run on the event loop
    has_arrays = False  # array parameters (``= ANY(?)``) instead of IN lists

    @abstractmethod
    def _connect(self) -> Any: ...

    @abstractmethod
    def _translate(self, sql: str) -> str: ...

    @abstractmethod
    def _is_unavailable(self, exc: BaseException) -> bool: ...

    def _current_txid(self, tx: Cursor) -> int:
        return 0

    def _feed_window(self, after: FeedPosition) -> tuple[str, list[Any], str]:
        """WHERE, its arguments and ORDER BY of the feed after ``after`` (serial writers: by id)."""
        return "id > ?", [after.id], "id"

    # -- connections: one per thread plus the group committer's, replaced when broken ---------
    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is not None and getattr(self._local, "epoch", 0) != self._epoch:
            self._discard_local()
            connection = None
        if connection is None:
            epoch = self._epoch
            connection = self._connect()
            self._local.connection = connection
            self._local.epoch = epoch
            with self._opened_lock:
                self._opened.append(connection)
        return connection

    @staticmethod
    def _close_quietly(connection: Any) -> None:
        if connection is not None:
            with contextlib.suppress(Exception):  # it is broken already
                connection.close()

    @contextmanager
    def _guard(self, on_failure: Callable[[], None]) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            if self._is_unavailable(exc):
                self._epoch += 1
                on_failure()
                raise StorageUnavailable(f"storage unavailable: {exc}".strip()) from exc
            raise

    def _discard_local(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            with self._opened_lock:
                if connection in self._opened:
                    self._opened.remove(connection)
            self._close_quietly(connection)

    cursor_class: type[Cursor] = Cursor

    def _cursor(self, connection: Any) -> Cursor:
        return self.cursor_class(connection.cursor(), self._translate)

    @contextmanager
    def write(self) -> Iterator[Cursor]:
        """A short write transaction on this thread's connection."""
        with self._guard(self._discard_local):
            connection = self._connection()
            connection.execute(self.begin_sql)
            try:
                yield self._cursor(connection)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def _retryable(self, exc: BaseException) -> bool:
        """True for a transaction the database aborted to break a deadlock or conflict."""
        return False

    def transact(self, work: Callable[[Cursor], T]) -> T:
        """Run ``work`` in a write transaction, again from the start if the database aborted it."""
        for attempt in range(_RETRIES):
            try:
                with self.write() as tx:
                    return work(tx)
            except Exception as exc:
                again = self._retryable(exc) or isinstance(exc, contacts.ClaimLost)
                if attempt == _RETRIES - 1 or not again:
                    raise
                time.sleep(0.005 * (attempt + 1))
        raise AssertionError("unreachable")

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        with self._guard(self._discard_local):
            yield self._cursor(self._connection())

    def close(self) -> None:
        """Close every connection this store opened, on any thread."""
        self._discard_writer()
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            self._close_quietly(connection)
        self._local = threading.local()

    # -- the group committer's connection: begin, write, commit as separate steps ------------
    def _discard_writer(self) -> None:
        self._close_quietly(self._writer)
        self._writer = None

    def writer_begin(self) -> None:
        with self._guard(self._discard_writer):
            if self._writer is None:
                self._writer = self._connect()
            self._writer.execute(self.begin_sql)

    def writer_try_begin(self) -> bool:
        """Begin without waiting for a lock; False when it would have to wait (use writer_begin)."""
        return False

    lower_function = "lower"

    @property
    def sql(self) -> Sql:
        for_update = " FOR UPDATE" if self.has_arrays else ""
        return Sql(self.greatest, self.has_arrays, for_update, self.lower_function)

    def writer_write(self, items: Sequence[Write]) -> IdentityChanges:
        with self._guard(self._discard_writer):
            tx = self._cursor(self._writer)
            txid = self._current_txid(tx)
            return write_items(
                tx,
                items,
                txid=txid,
                sql=self.sql,
                shard=self.counter_shard,
                observed=self._observed,
                noted=self._noted,
            )

    def _remember_observed(self, noted: dict[Any, int]) -> None:
        if len(self._observed) > 100_000:
            self._observed.clear()
        self._observed.update(noted)
        noted.clear()

    def writer_commit(self) -> None:
        with self._guard(self._discard_writer):
            self._writer.execute("COMMIT")
        self._remember_observed(self._noted)

    def writer_rollback(self) -> None:
        self._noted.clear()
        with self._guard(self._discard_writer):
            if self._writer is not None:
                self._writer.execute("ROLLBACK")

    def commit_batch(self, items: Sequence[Write]) -> IdentityChanges:
        """Store events and orders in one durable transaction, each tied to its contact."""
        self.writer_begin()
        try:
            changes = self.writer_write(items)
        except BaseException:
            self.writer_rollback()
            raise
        self.writer_commit()
        return changes

    # -- health ------------------------------------------------------------------------------
    def ping(self) -> None:
        """Read a page of the database itself, so a vanished or unreadable file shows too."""
        with self.read() as tx:
            tx.one("SELECT count(*) FROM workspaces")

    # -- workspaces and keys -----------------------------------------------------------------
    def create_workspace(self, name: str, now_us: int) -> int:
        with self.write() as tx:
            if tx.one("SELECT id FROM workspaces WHERE name = ?", name) is not None:
                raise WorkspaceExists(f"workspace {name!r} already exists")
            row = tx.one(
                "INSERT INTO workspaces (name, created_us) VALUES (?, ?) RETURNING id", name, now_us
            )
            return int(row[0])

    def workspace_id(self, name: str) -> int | None:
        with self.read() as tx:
            row = tx.one("SELECT id FROM workspaces WHERE name = ?", name)
        return None if row is None else int(row[0])

    def create_api_key(
        self, workspace_id: int, key_hash: str, prefix: str, scope: str, now_us: int
    ) -> int:
        with self.write() as tx:
            row = tx.one(
                "INSERT INTO api_keys (workspace_id, key_hash, prefix, scope, created_us) "
                "VALUES (?, ?, ?, ?, ?) RETURNING id",
                workspace_id,
                key_hash,
                prefix,
                scope,
                now_us,
            )
            return int(row[0])

    def find_api_key(self, key_hash: str) -> ApiKey | None:
        with self.read() as tx:
            row = tx.one(
                "SELECT k.id, k.workspace_id, w.name, k.scope FROM api_keys k "
                "JOIN workspaces w ON w.id = k.workspace_id "
                "WHERE k.key_hash = ? AND k.revoked_us IS NULL",
                key_hash,
            )
        return None if row is None else ApiKey(int(row[0]), int(row[1]), row[2], row[3])

    def create_token(self, token_hash: str, key_id: int, expires_us: int, now_us: int) -> None:
        with self.write() as tx:
            tx.execute("DELETE FROM auth_tokens WHERE expires_us < ?", now_us)
            tx.execute(
                "INSERT INTO auth_tokens (token_hash, key_id, expires_us) VALUES (?, ?, ?)",
                token_hash,
                key_id,
                expires_us,
            )

    def find_token(self, token_hash: str, now_us: int) -> ApiKey | None:
        with self.read() as tx:
            row = tx.one(
                "SELECT k.id, k.workspace_id, w.name, k.scope, t.expires_us FROM auth_tokens t "
                "JOIN api_keys k ON k.id = t.key_id JOIN workspaces w ON w.id = k.workspace_id "
                "WHERE t.token_hash = ? AND t.expires_us > ? AND k.revoked_us IS NULL",
                token_hash,
                now_us,
            )
        if row is None:
            return None
        return ApiKey(int(row[0]), int(row[1]), row[2], row[3], int(row[4]))

    # -- reads -------------------------------------------------------------------------------
    def _event(self, row: Sequence[Any]) -> StoredEvent:
        params = row[4]
        if isinstance(params, str | bytes):
            params = msgspec.json.decode(params)
        return StoredEvent(
            id=int(row[0]),
            event_type_key=row[1],
            key_value=row[2],
            contact_id=None if row[3] is None else int(row[3]),
            params=params,
            source=row[5],
            occurred_us=int(row[6]),
            received_us=int(row[7]),
        )

    def list_events(self, workspace_id: int, query: EventQuery) -> list[StoredEvent]:
        """Newest first by occurred time; ``query.before`` continues after the last page."""
        where = ["workspace_id = ?"]
        args: list[Any] = [workspace_id]
        for column, value in (
            ("event_type_key", query.event_type_key),
            ("key_value", query.key_value),
            ("contact_id", query.contact_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if query.contact_ids:
            where.append(f"contact_id IN ({', '.join('?' * len(query.contact_ids))})")
            args.extend(query.contact_ids)
        if query.occurred_from_us is not None:
            where.append("occurred_us >= ?")
            args.append(query.occurred_from_us)
        if query.occurred_to_us is not None:
            where.append("occurred_us <= ?")
            args.append(query.occurred_to_us)
        if query.before is not None:
            # The plain bound lets the index start at the cursor instead of filtering every
            # newer row; the OR then breaks ties within one microsecond.
            where.append("occurred_us <= ? AND (occurred_us < ? OR (occurred_us = ? AND id < ?))")
            args.extend([query.before[0], query.before[0], query.before[0], query.before[1]])
        by_contact = query.contact_id is not None or bool(query.contact_ids)
        sql = (
            f"SELECT {_EVENT_COLUMNS} FROM events{self.contact_index_hint if by_contact else ''} "
            f"WHERE {' AND '.join(where)} "
            "ORDER BY occurred_us DESC, id DESC LIMIT ?"
        )
        with self.read() as tx:
            rows = tx.all(sql, *args, query.limit)
        return [self._event(row) for row in rows]

    def list_event_types(self, workspace_id: int) -> list[EventTypeStats]:
        with self.read() as tx:
            rows = tx.all(
                "SELECT t.key, COALESCE(SUM(c.event_count), 0), t.first_seen_us, "
                "COALESCE(MAX(c.last_seen_us), t.first_seen_us) FROM event_types t "
                "LEFT JOIN event_type_counts c ON c.workspace_id = t.workspace_id AND c.key = t.key "
                "WHERE t.workspace_id = ? GROUP BY t.key, t.first_seen_us ORDER BY t.key",
                workspace_id,
            )
        return [EventTypeStats(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]

    def get_order(self, workspace_id: int, external_order_id: str) -> dict[str, Any] | None:
        with self.read() as tx:
            row = tx.one(
                "SELECT external_order_id, contact_id, status, total_cost, currency, order_date, "
                "data FROM orders WHERE workspace_id = ? AND external_order_id = ?",
                workspace_id,
                external_order_id,
            )
        if row is None:
            return None
        data = msgspec.json.decode(row[6]) if isinstance(row[6], str | bytes) else row[6]
        keys = ("externalOrderId", "contactId", "status", "totalCost", "currency", "date")
        return dict(zip(keys, row[:6], strict=True)) | {"data": data}

    # -- the ordered feed --------------------------------------------------------------------
    def read_feed(self, after: FeedPosition, limit: int) -> list[FeedEvent]:
        """Events committed after ``after``, in an order no later commit can insert into."""
        where, args, order = self._feed_window(after)
        with self.read() as tx:
            rows = tx.all(
                f"SELECT {_EVENT_COLUMNS}, txid, workspace_id FROM events WHERE {where} "
                f"ORDER BY {order} LIMIT ?",
                *args,
                limit,
            )
        return [
            FeedEvent(FeedPosition(int(r[8]), int(r[0])), int(r[9]), self._event(r)) for r in rows
        ]

    def load_offset(self, consumer: str) -> FeedPosition:
        with self.read() as tx:
            row = tx.one("SELECT last_txid, last_id FROM feed_offsets WHERE consumer = ?", consumer)
        return FeedPosition() if row is None else FeedPosition(int(row[0]), int(row[1]))

    def save_offset(self, consumer: str, position: FeedPosition, now_us: int) -> None:
        with self.write() as tx:
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

    # -- contacts ----------------------------------------------------------------------------
    def upsert_contact(
        self,
        workspace_id: int,
        doc: ContactInput,
        why: Why,
        *,
        dedupe: str | None = None,
        restore: bool = True,
    ) -> contacts.Saved:
        return self.transact(
            lambda tx: contacts.upsert(
                tx, self.sql, workspace_id, doc, why, dedupe=dedupe, restore=restore
            )
        )

    def upsert_contacts(
        self,
        workspace_id: int,
        docs: Sequence[tuple[int, ContactInput]],
        why: Why,
        *,
        dedupe: str | None,
        restore: bool,
    ) -> contacts.Bulk:
        return self.transact(
            lambda tx: contacts.upsert_many(
                tx, self.sql, workspace_id, docs, why, dedupe=dedupe, restore=restore
            )
        )

    def update_contact(
        self, workspace_id: int, contact_id: int, doc: ContactInput, now: int
    ) -> int:
        return self.transact(lambda tx: contacts.update(tx, workspace_id, contact_id, doc, now))

    def _live(self, tx: Cursor, workspace_id: int, contact_id: int, deleted_ok: bool) -> int:
        contact = contacts.canonical(tx, workspace_id, contact_id)
        if contact is None or (not deleted_ok and contacts.is_deleted(tx, workspace_id, contact)):
            raise ContactNotFound(f"no contact with id={contact_id}")
        return contact

    def get_contact(self, workspace_id: int, contact_id: int) -> dict[str, Any]:
        with self.read() as tx:
            contact = self._live(tx, workspace_id, contact_id, deleted_ok=False)
            return contacts.documents(tx, workspace_id, [contact])[0]

    def find_contacts(
        self, workspace_id: int, where: contacts.ContactFilter, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        with self.read() as tx:
            return contacts.search(tx, self.sql, workspace_id, where, offset, limit)

    def contact_by_external_id(self, workspace_id: int, external_id: str) -> int:
        with self.read() as tx:
            contact = contacts.find_by_external_id(tx, workspace_id, external_id)
        if contact is None:
            raise ContactNotFound(f"no contact with externalCustomerId={external_id!r}")
        return contact

    def delete_contact(self, workspace_id: int, contact_id: int, erase: bool, now: int) -> int:
        """Mark the contact deleted, or erase it and everything derived from it."""

        def work(tx: Cursor) -> int:
            contact = self._live(tx, workspace_id, contact_id, deleted_ok=True)
            if erase:
                contacts.erase(tx, self.sql, workspace_id, contact)
            else:
                contacts.soft_delete(tx, workspace_id, contact, now)
            return contact

        contact = self.transact(work)
        if erase:
            self.scrub()
        return contact

    def scrub(self) -> None:
        """After an erasure: make sure deleted rows are gone from the database's files too."""
        return None  # PostgreSQL: autovacuum removes the dead rows

    def contact_family(self, workspace_id: int, contact_id: int) -> list[int]:
        """A live contact and every contact merged into it."""
        with self.read() as tx:
            contact = self._live(tx, workspace_id, contact_id, deleted_ok=False)
            return contacts.family(tx, workspace_id, contact)

    snapshot_sql = "BEGIN"  # a read transaction: every statement sees the same data
    # Without statistics SQLite would walk the whole workspace by time to find one contact's
    # events; PostgreSQL picks the contact index by itself.
    contact_index_hint = ""

    def export_contact(self, workspace_id: int, contact_id: int) -> dict[str, Any]:
        with self.read() as tx:
            tx.execute(self.snapshot_sql)
            try:
                contact = self._live(tx, workspace_id, contact_id, deleted_ok=True)
                return contacts.export(tx, self.sql, workspace_id, contact)
            finally:
                tx.execute("COMMIT")

    def list_merges(
        self, workspace_id: int, contact_id: int | None, before: int | None, limit: int
    ) -> list[dict[str, Any]]:
        with self.read() as tx:
            if contact_id is not None:
                contact_id = self._live(tx, workspace_id, contact_id, deleted_ok=True)
            return contacts.merges(tx, workspace_id, contact_id, before, limit)

    def list_identity_warnings(
        self, workspace_id: int, contact_id: int | None, before: int | None, limit: int
    ) -> list[dict[str, Any]]:
        with self.read() as tx:
            if contact_id is not None:
                contact_id = self._live(tx, workspace_id, contact_id, deleted_ok=True)
            return contacts.warnings(tx, workspace_id, contact_id, before, limit)

    # -- the event-type registry and the failed-event log --------------------------------------
    def all_type_settings(self) -> list[tuple[int, str, Any]]:
        with self.read() as tx:
            return registry.all_settings(tx)

    def type_settings(self, workspace_id: int, key: str) -> Any:
        with self.read() as tx:
            return registry.settings_of(tx, workspace_id, key)

    def set_type_settings(self, workspace_id: int, key: str, settings_json: str, now: int) -> None:
        self.transact(lambda tx: registry.set_settings(tx, workspace_id, key, settings_json, now))

    def type_params(self, workspace_id: int, key: str) -> list[registry.ObservedParam]:
        with self.read() as tx:
            return registry.observed_params(tx, workspace_id, key)

    def type_hourly(
        self, workspace_id: int, key: str, from_us: int, to_us: int
    ) -> list[tuple[int, str, int]]:
        with self.read() as tx:
            return registry.hourly(tx, workspace_id, key, from_us, to_us)

    def list_failures(
        self, workspace_id: int, query: registry.FailureQuery
    ) -> list[dict[str, Any]]:
        with self.read() as tx:
            return registry.failures(tx, workspace_id, query)

    def replay_failures(
        self, selection: registry.ReplaySelection, reparse: registry.Reparse, now: int
    ) -> list[registry.Replayed]:
        """Re-submit failed events, a chunk per transaction. An accepted one is stored and
        marked replayed in the same transaction, under a row lock: replayed exactly once, even
        by concurrent replays."""
        done: list[registry.Replayed] = []
        while len(done) < selection.total:
            chunk = self.transact(
                functools.partial(self._replay_chunk, selection=selection, reparse=reparse, now=now)
            )
            done += chunk
            if len(chunk) < selection.limit:
                return done
            selection = dataclasses.replace(selection, after=chunk[-1].id)
        return done

    skip_locked = ""

    def _replay_chunk(
        self,
        tx: Cursor,
        *,
        selection: registry.ReplaySelection,
        reparse: registry.Reparse,
        now: int,
    ) -> list[registry.Replayed]:
        rows = registry.pending(tx, selection, self.skip_locked)
        events: list[NewEvent] = []
        outcomes: list[registry.Replayed] = []
        for row in rows:
            try:
                events.append(reparse(row))
            except InvalidEvent as exc:
                outcomes.append(registry.Replayed(row.id, False, str(exc)))
            except Exception as exc:  # one odd row never blocks the replay of the others
                error = f"cannot be replayed: {type(exc).__name__}: {exc}"
                outcomes.append(registry.Replayed(row.id, False, error[:2000]))
            else:
                outcomes.append(registry.Replayed(row.id, True))
        if events:
            # Structure seen during replay is recorded, but not remembered as recorded: the
            # next live batch writes it again, which is harmless if this transaction rolled back.
            write_items(
                tx,
                events,
                txid=self._current_txid(tx),
                sql=self.sql,
                shard=self.counter_shard,
                observed=self._observed,
            )
        registry.mark(tx, outcomes, now)
        return outcomes

    def prune_failures(self, older_than_us: int) -> int:
        return self.transact(lambda tx: registry.prune(tx, older_than_us))
