"""What differs between SQLite and PostgreSQL: connecting, SQL spellings, error classes.

Everything else in the store is written once, with ``?`` placeholders, against these few facts.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from footfall.store.cursor import Cursor

if TYPE_CHECKING:
    from footfall.store.rows import FeedPosition


FEED, DUE = "footfall_feed", "footfall_due"  # notification channels


class Dialect(ABC):
    name: str
    begin_sql = "BEGIN"
    # A read transaction in which every statement sees the same data.
    snapshot_sql = "BEGIN"
    greatest = "max"
    lower = "lower"  # a lower() that folds every alphabet (SQLite's own folds ASCII only)
    ilike = "LIKE"  # a LIKE that ignores the case of ASCII letters (SQLite's own does)
    serial_ids = False  # ids grow in commit order (one writer at a time)
    arrays = False  # array parameters (``= ANY(?)``) instead of IN lists
    for_update = ""  # row locks; empty where writers are serial
    skip_locked = ""  # row locks that concurrent readers skip
    # Without statistics SQLite would walk a whole workspace by time to find one contact's
    # events; PostgreSQL picks the contact index by itself.
    contact_index_hint = ""
    # True when the Python side of a group-commit batch may run on the event loop thread.
    write_on_loop = False
    # One write transaction at a time per database: this process's writers take turns in
    # order (core.WriteTurns) rather than each waiting for the database's lock on its own.
    one_writer = False
    lock_wait_seconds = 5.0  # the longest wait for a turn
    cursor_class: type[Cursor] = Cursor

    @abstractmethod
    def connect(self) -> Any:
        """A new connection in autocommit mode (transactions are begun explicitly)."""

    @abstractmethod
    def translate(self, sql: str) -> str:
        """The driver's spelling of a statement written with ``?`` placeholders."""

    @abstractmethod
    def is_unavailable(self, exc: BaseException) -> bool:
        """True when ``exc`` means the database cannot be reached or used (answered with 503)."""

    def is_retryable(self, exc: BaseException) -> bool:
        """True for a transaction the database aborted to break a deadlock or a conflict."""
        return False

    def cursor(self, connection: Any) -> Cursor:
        return self.cursor_class(connection.cursor(), self.translate)

    def try_begin(self, connection: Any) -> bool:
        """Begin a write transaction without waiting; False when it would have to wait."""
        return False

    def begin(self, connection: Any) -> None:
        """Begin a write transaction, waiting for the lock as long as the backend allows."""
        connection.execute(self.begin_sql)

    def current_txid(self, tx: Cursor) -> int:
        """The id of the open transaction, where the feed needs it to keep commit order."""
        return 0

    def feed_window(self, after: FeedPosition) -> tuple[str, list[Any], str]:
        """WHERE, its arguments and ORDER BY of a feed after ``after`` (serial writers: by id)."""
        return "id > ?", [after.id], "id"

    def feed_upto(self, last: FeedPosition) -> tuple[str, list[Any]]:
        """WHERE and its arguments: feed rows at or before ``last``."""
        return "id <= ?", [last.id]

    # JSON built by the database (the webhooks' payloads), SQLite's spellings here.
    json_object = "json_object"

    def json_value(self, column: str) -> str:
        """A stored JSON column as a JSON value (not a string) inside ``json_object``."""
        return f"json(CAST({column} AS TEXT))"

    def json_text_has(self, array: str, value: str) -> str:
        """True when the JSON array stored as text in ``array`` holds the string ``value``."""
        return f"EXISTS (SELECT 1 FROM json_each({array}) WHERE json_each.value = {value})"

    def json_string_at(self, column: str) -> str:
        """The string a JSON object in ``column`` holds at the key given as the one parameter
        (the exact key, whatever characters it has); NULL when it holds no string there."""
        return f"(SELECT j.value FROM json_each({column}) AS j WHERE j.key = ? AND j.type = 'text')"

    def iso_millis(self, micros: str) -> str:
        """Microseconds since the epoch as ``2024-01-02T03:04:05.678Z`` (ingest.dates.from_us)."""
        fraction = f"(({micros} % 1000000) + 1000000) % 1000000"
        return (
            f"strftime('%Y-%m-%dT%H:%M:%S', ({micros} - {fraction}) / 1000000, 'unixepoch') "
            f"|| printf('.%03dZ', {fraction} / 1000)"
        )

    def joined(self, text: str, order: str) -> str:
        """An aggregate joining ``text`` with commas. SQLite's takes the rows in the order its
        ordered subquery gives them, which it does not promise: callers check (by ``order``)."""
        return f"group_concat({text}, ',')"

    def notify(self, tx: Cursor, channel: str) -> None:  # noqa: B027 (a hook, empty here)
        """Tell other processes, once this transaction commits, that ``channel`` has news
        (FEED: new events or identity changes; DUE: deliveries due). Serial writers: nothing,
        they share one process."""

    def listen(  # noqa: B027 (a hook, empty here)
        self, channels: Sequence[str], heard: Callable[[str], None], stopping: threading.Event
    ) -> None:
        """Call ``heard(channel)`` for each notification until ``stopping`` is set (blocking:
        run it in a thread of its own). Without notifications: return at once."""

    def scrub(self, tx: Cursor) -> bool:
        """After an erasure: push deleted rows out of the database's files; False if it must be
        tried again later (PostgreSQL: autovacuum removes dead rows)."""
        return True
