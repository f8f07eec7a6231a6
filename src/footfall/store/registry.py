"""The event-type registry in SQL: settings, observed structure, growth per day, hourly outcomes,
failed events."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from footfall.exceptions import InvalidEvent
from footfall.records import NewEvent
from footfall.store.core import Database
from footfall.store.cursor import Cursor
from footfall.store.events import EventStore
from footfall.store.rows import EventTypeStats
from footfall.store.sql import Where, loads, marks

# Each type's count and last-seen time, the shards added up, for the type ``t`` of the query.
_COUNTS = (
    "(SELECT COALESCE(SUM(c.event_count), 0) FROM event_type_counts c "
    "WHERE c.workspace_id = t.workspace_id AND c.key = t.key), "
    "(SELECT MAX(c.last_seen_us) FROM event_type_counts c "
    "WHERE c.workspace_id = t.workspace_id AND c.key = t.key)"
)


def _stats(row: Sequence[Any]) -> EventTypeStats:
    key, first_seen, settings, count, last_seen = row
    last = int(first_seen) if last_seen is None else int(last_seen)
    return EventTypeStats(key, int(count), int(first_seen), last, loads(settings))


def event_types(tx: Cursor, ws: int, after: str | None, limit: int) -> list[EventTypeStats]:
    """A page of types by key, after ``after``: each with its rules, count and last-seen time,
    read by the primary key (a page costs the same however many types the workspace has)."""
    where = Where("t.workspace_id = ?", ws)
    if after is not None:
        where.add("t.key > ?", after)
    rows = tx.all(
        f"SELECT t.key, t.first_seen_us, t.settings, {_COUNTS} FROM event_types t "
        f"WHERE {where.sql} ORDER BY t.key LIMIT ?",
        *where.args,
        limit,
    )
    return [_stats(row) for row in rows]


def event_type(tx: Cursor, ws: int, key: str) -> EventTypeStats | None:
    row = tx.one(
        f"SELECT t.key, t.first_seen_us, t.settings, {_COUNTS} FROM event_types t "
        "WHERE t.workspace_id = ? AND t.key = ?",
        ws,
        key,
    )
    return None if row is None else _stats(row)


def type_settings(tx: Cursor, ws: int, key: str) -> Any | None:
    """One type's settings, None when it has none."""
    row = tx.one("SELECT settings FROM event_types WHERE workspace_id = ? AND key = ?", ws, key)
    return None if row is None or row[0] is None else loads(row[0])


def all_settings(tx: Cursor) -> list[tuple[int, str, Any]]:
    rows = tx.all("SELECT workspace_id, key, settings FROM event_types WHERE settings IS NOT NULL")
    return [(int(ws), key, loads(settings)) for ws, key, settings in rows]


def settings_version(tx: Cursor) -> tuple[int, int, int]:
    """A fingerprint of every type's settings that changes whenever one of them does (each PUT
    sets updated_us): one small read for the rules cache of each process to compare. The sum
    (of milliseconds, so SQLite's integer sum cannot overflow) sees a change that leaves the max
    alone: a PUT through a host whose clock is behind."""
    row = tx.one(
        "SELECT count(*), COALESCE(max(updated_us), 0), COALESCE(sum(updated_us / 1000), 0) "
        "FROM event_types WHERE updated_us IS NOT NULL"
    )
    return int(row[0]), int(row[1]), int(row[2])


def set_settings(tx: Cursor, ws: int, key: str, settings_json: str, now_us: int) -> None:
    tx.execute(
        "INSERT INTO event_types (workspace_id, key, first_seen_us, settings, updated_us) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (workspace_id, key) DO UPDATE SET "
        "settings = excluded.settings, updated_us = excluded.updated_us",
        ws,
        key,
        now_us,
        settings_json,
        now_us,
    )


@dataclass(frozen=True, slots=True)
class ObservedParam:
    name: str
    json_type: str
    first_seen_us: int
    last_seen_us: int


def observed_params(tx: Cursor, ws: int, key: str) -> list[ObservedParam]:
    rows = tx.all(
        "SELECT name, json_type, first_seen_us, last_seen_us FROM event_type_params "
        "WHERE workspace_id = ? AND key = ? ORDER BY name, json_type",
        ws,
        key,
    )
    return [ObservedParam(r[0], r[1], int(r[2]), int(r[3])) for r in rows]


def hourly(tx: Cursor, ws: int, key: str, from_us: int, to_us: int) -> list[tuple[int, str, int]]:
    """(hour, outcome, count) with the shards added up, oldest hour first."""
    rows = tx.all(
        "SELECT hour_us, outcome, SUM(event_count) FROM event_type_hourly WHERE workspace_id = ? "
        "AND key = ? AND hour_us >= ? AND hour_us <= ? GROUP BY hour_us, outcome "
        "ORDER BY hour_us, outcome",
        ws,
        key,
        from_us,
        to_us,
    )
    return [(int(r[0]), r[1], int(r[2])) for r in rows]


# -- how fast each workspace's registry grows -------------------------------------------------

_CHUNK = 500


def _present(tx: Cursor, ws: int, key: str | None, values: list[str], arrays: bool) -> set[str]:
    """Which ``values`` are types of the workspace (``key`` None) or names of its type ``key``.

    On PostgreSQL one primary-key probe per value (LATERAL ... LIMIT 1): with statistics that
    predate a burst of new rows, the planner would otherwise filter every name of the type for
    each look-up. SQLite probes its index for each value of an IN list by itself."""
    table, column = ("event_types", "key") if key is None else ("event_type_params", "name")
    scope = "workspace_id = ?" + ("" if key is None else " AND key = ?")
    scoped = [ws] if key is None else [ws, key]
    found: set[str] = set()
    size = 10 * _CHUNK if arrays else _CHUNK  # an array is one parameter; an IN list is many
    for start in range(0, len(values), size):
        chunk = values[start : start + size]
        if arrays:
            rows = tx.all(
                "SELECT v.value FROM unnest(?::text[]) AS v(value) CROSS JOIN LATERAL (SELECT 1 "
                f"FROM {table} WHERE {scope} AND {column} = v.value LIMIT 1) hit",
                chunk,
                *scoped,
            )
        else:
            rows = tx.all(
                f"SELECT DISTINCT {column} FROM {table} WHERE {scope} AND {column} IN ({marks(chunk)})",
                *scoped,
                *chunk,
            )
        found.update(row[0] for row in rows)
    return found


def existing(
    tx: Cursor, ws: int, types: Collection[str], names: Mapping[str, Collection[str]], arrays: bool
) -> tuple[set[str], dict[str, set[str]]]:
    """Which of ``types``, and of the parameter ``names`` of each type, the registry has."""
    asked = sorted(set(types) | {key for key, wanted in names.items() if wanted})
    found = _present(tx, ws, None, asked, arrays)
    seen = {  # a type the registry lacks has no names yet
        key: _present(tx, ws, key, list(names[key]), arrays) for key in sorted(found & set(names))
    }
    return found & set(types), seen


Take = Callable[[int, int], tuple[int, int]]


def claim_growth(tx: Cursor, ws: int, day: int, take: Take, lock: str) -> None:
    """Under the workspace's row lock: what it added on ``day`` so far goes to ``take``, which
    answers how many more types and names it adds."""
    tx.execute(
        "INSERT INTO event_type_growth (workspace_id, day, new_types, new_names) "
        "VALUES (?, ?, 0, 0) ON CONFLICT (workspace_id) DO NOTHING",
        ws,
        day,
    )
    row = tx.one(
        f"SELECT day, new_types, new_names FROM event_type_growth WHERE workspace_id = ?{lock}", ws
    )
    used = (int(row[1]), int(row[2])) if int(row[0]) == day else (0, 0)
    types, names = take(*used)
    if types or names:
        tx.execute(
            "UPDATE event_type_growth SET day = ?, new_types = ?, new_names = ? "
            "WHERE workspace_id = ?",
            day,
            used[0] + types,
            used[1] + names,
            ws,
        )


# -- the failed-event log --------------------------------------------------------------------

_FAILURE_COLUMNS = (
    "id, event_type_key, key_value, route, reason, field, error, raw, raw_bytes, received_us, "
    "attempts, replayed_us"
)
_FAILURE_KEYS = (
    "id",
    "eventTypeKey",
    "keyValue",
    "route",
    "reason",
    "field",
    "error",
    "raw",
    "rawBytes",
    "receivedUs",
    "attempts",
    "replayedUs",
)


@dataclass(frozen=True, slots=True)
class FailureQuery:
    event_type_key: str | None = None
    reason: str | None = None
    from_us: int | None = None
    to_us: int | None = None
    replayed: bool | None = None
    before: int | None = None
    limit: int = 100


def failures(tx: Cursor, ws: int, query: FailureQuery) -> list[dict[str, Any]]:
    where = Where("workspace_id = ?", ws)
    where.equals("event_type_key", query.event_type_key).equals("reason", query.reason)
    where.at_least("received_us", query.from_us).at_most("received_us", query.to_us)
    if query.replayed is not None:
        where.add("replayed_us IS NOT NULL" if query.replayed else "replayed_us IS NULL")
    where.below("id", query.before)
    rows = tx.all(
        f"SELECT {_FAILURE_COLUMNS} FROM failed_events WHERE {where.sql} ORDER BY id DESC LIMIT ?",
        *where.args,
        query.limit,
    )
    return [dict(zip(_FAILURE_KEYS, row, strict=True)) for row in rows]


@dataclass(frozen=True, slots=True)
class Pending:
    """A failed event picked for replay."""

    id: int
    workspace_id: int
    event_type_key: str
    route: str
    raw: str
    raw_bytes: int
    received_us: int


@dataclass(frozen=True, slots=True)
class ReplaySelection:
    event_type_key: str
    workspace_id: int | None = None
    since_us: int | None = None
    ids: tuple[int, ...] = ()
    limit: int = 500
    after: int = 0  # continue after this failed-event id
    total: int = 2**62  # stop after about this many (whole chunks)


def pending(tx: Cursor, selection: ReplaySelection, lock: str) -> list[Pending]:
    """Failed events not replayed yet, oldest first, row-locked (concurrent replays skip them)."""
    where = Where(
        "replayed_us IS NULL AND event_type_key = ? AND id > ?",
        selection.event_type_key,
        selection.after,
    )
    where.equals("workspace_id", selection.workspace_id)
    where.at_least("received_us", selection.since_us).among("id", selection.ids)
    rows = tx.all(
        "SELECT id, workspace_id, event_type_key, route, raw, raw_bytes, received_us "
        f"FROM failed_events WHERE {where.sql} ORDER BY id LIMIT ?{lock}",
        *where.args,
        selection.limit,
    )
    return [Pending(int(r[0]), int(r[1]), r[2], r[3], r[4], int(r[5]), int(r[6])) for r in rows]


@dataclass(frozen=True, slots=True)
class Replayed:
    id: int
    accepted: bool
    error: str | None = None


Reparse = Callable[[Pending], NewEvent]


def mark(tx: Cursor, outcomes: Sequence[Replayed], now_us: int) -> None:
    """Replayed rows are done (in the transaction that stored their events); the others count
    one more attempt and keep their latest error."""
    tx.executemany(
        "UPDATE failed_events SET replayed_us = ?, attempts = attempts + 1 WHERE id = ?",
        [(now_us, o.id) for o in outcomes if o.accepted],
    )
    tx.executemany(
        "UPDATE failed_events SET attempts = attempts + 1, error = ? WHERE id = ?",
        [(o.error or "", o.id) for o in outcomes if not o.accepted],
    )


def prune(tx: Cursor, older_than_us: int) -> int:
    row = tx.one("SELECT count(*) FROM failed_events WHERE received_us < ?", older_than_us)
    tx.execute("DELETE FROM failed_events WHERE received_us < ?", older_than_us)
    return int(row[0])


class TypeStore:
    """The registry and the failed-event log, each operation in a transaction of its own; replay
    writes through the event write path so that replayed events count like live ones."""

    def __init__(self, db: Database, events: EventStore) -> None:
        self._db = db
        self._events = events

    def list_event_types(
        self, workspace_id: int, after: str | None = None, limit: int = 100
    ) -> list[EventTypeStats]:
        with self._db.read() as tx:
            return event_types(tx, workspace_id, after, limit)

    def event_type(
        self, workspace_id: int, key: str
    ) -> tuple[EventTypeStats | None, list[ObservedParam]]:
        """One type (None if unknown) and its observed structure, both read by key."""
        with self._db.read() as tx:
            found = event_type(tx, workspace_id, key)
            return found, [] if found is None else observed_params(tx, workspace_id, key)

    def all_type_settings(self) -> list[tuple[int, str, Any]]:
        with self._db.read() as tx:
            return all_settings(tx)

    def type_settings_version(self) -> tuple[int, int, int]:
        with self._db.read() as tx:
            return settings_version(tx)

    def set_type_settings(self, workspace_id: int, key: str, settings_json: str, now: int) -> None:
        self._db.transact(lambda tx: set_settings(tx, workspace_id, key, settings_json, now))

    def type_hourly(
        self, workspace_id: int, key: str, from_us: int, to_us: int
    ) -> list[tuple[int, str, int]]:
        with self._db.read() as tx:
            return hourly(tx, workspace_id, key, from_us, to_us)

    def existing(
        self, workspace_id: int, types: Collection[str], names: Mapping[str, Collection[str]]
    ) -> tuple[set[str], dict[str, set[str]]]:
        with self._db.read() as tx:
            return existing(tx, workspace_id, types, names, self._db.dialect.arrays)

    def claim_growth(self, workspace_id: int, day: int, take: Take) -> None:
        lock = self._db.dialect.for_update
        self._db.transact(lambda tx: claim_growth(tx, workspace_id, day, take, lock))

    def list_failures(self, workspace_id: int, query: FailureQuery) -> list[dict[str, Any]]:
        with self._db.read() as tx:
            return failures(tx, workspace_id, query)

    def replay_failures(
        self, selection: ReplaySelection, reparse: Reparse, now: int
    ) -> list[Replayed]:
        """Re-submit failed events, a chunk per transaction. An accepted one is stored and
        marked replayed in the same transaction, under a row lock: replayed exactly once, even
        by concurrent replays."""
        done: list[Replayed] = []
        while len(done) < selection.total:
            chunk = self._db.transact(
                functools.partial(self._replay_chunk, selection=selection, reparse=reparse, now=now)
            )
            done += chunk
            if len(chunk) < selection.limit:
                return done
            selection = dataclasses.replace(selection, after=chunk[-1].id)
        return done

    def _replay_chunk(
        self, tx: Cursor, *, selection: ReplaySelection, reparse: Reparse, now: int
    ) -> list[Replayed]:
        events: list[NewEvent] = []
        outcomes: list[Replayed] = []
        for row in pending(tx, selection, self._db.dialect.skip_locked):
            try:
                events.append(reparse(row))
            except InvalidEvent as exc:
                outcomes.append(Replayed(row.id, False, str(exc)))
            except Exception as exc:  # one odd row never blocks the replay of the others
                error = f"cannot be replayed: {type(exc).__name__}: {exc}"
                outcomes.append(Replayed(row.id, False, error[:2000]))
            else:
                outcomes.append(Replayed(row.id, True))
        if events:
            # Structure seen during replay is recorded, but not remembered as recorded: the
            # next live batch writes it again, which is harmless if this transaction rolled back.
            self._events.write(tx, events)
        mark(tx, outcomes, now)
        return outcomes

    def prune_failures(self, older_than_us: int) -> int:
        return self._db.transact(lambda tx: prune(tx, older_than_us))
