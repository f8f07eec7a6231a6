"""The event-type registry in SQL: settings, observed structure, hourly outcomes, failed events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from footfall.ingest.models import NewEvent
from footfall.store.cursor import Cursor


def _json(value: Any) -> Any:
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else value


def all_settings(tx: Cursor) -> list[tuple[int, str, Any]]:
    rows = tx.all("SELECT workspace_id, key, settings FROM event_types WHERE settings IS NOT NULL")
    return [(int(ws), key, _json(settings)) for ws, key, settings in rows]


def settings_of(tx: Cursor, ws: int, key: str) -> Any:
    row = tx.one("SELECT settings FROM event_types WHERE workspace_id = ? AND key = ?", ws, key)
    return None if row is None else _json(row[0])


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
    where: list[str] = ["workspace_id = ?"]
    args: list[Any] = [ws]
    for column, value in (("event_type_key", query.event_type_key), ("reason", query.reason)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if query.from_us is not None:
        where.append("received_us >= ?")
        args.append(query.from_us)
    if query.to_us is not None:
        where.append("received_us <= ?")
        args.append(query.to_us)
    if query.replayed is not None:
        where.append("replayed_us IS NOT NULL" if query.replayed else "replayed_us IS NULL")
    if query.before is not None:
        where.append("id < ?")
        args.append(query.before)
    rows = tx.all(
        f"SELECT {_FAILURE_COLUMNS} FROM failed_events WHERE {' AND '.join(where)} "
        "ORDER BY id DESC LIMIT ?",
        *args,
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
    where = ["replayed_us IS NULL", "event_type_key = ?", "id > ?"]
    args: list[Any] = [selection.event_type_key, selection.after]
    if selection.workspace_id is not None:
        where.append("workspace_id = ?")
        args.append(selection.workspace_id)
    if selection.since_us is not None:
        where.append("received_us >= ?")
        args.append(selection.since_us)
    if selection.ids:
        where.append(f"id IN ({', '.join('?' * len(selection.ids))})")
        args.extend(selection.ids)
    rows = tx.all(
        "SELECT id, workspace_id, event_type_key, route, raw, raw_bytes, received_us "
        f"FROM failed_events WHERE {' AND '.join(where)} ORDER BY id LIMIT ?{lock}",
        *args,
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
