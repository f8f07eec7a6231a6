"""Workflows started by a contact date: where each workflow's date scan is, the pages of contacts
it reads, and the runs it starts, moves and stops.

A run started by a contact date has no starting event (``event_id`` 0) and carries its occasion
(the anniversary it is for). It is created ahead of its moment, waiting at no block, with its
first step (``{"do": "start"}``) due at the moment; its ``started_us`` is that moment. What the
scan decides is pure (``footfall.workflows.dating``); this module reads and writes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from footfall.store.core import Database
from footfall.store.cursor import Cursor
from footfall.store.dialect import Dialect
from footfall.store.sql import marks
from footfall.store.workflow_runs import (
    ACTIVE,
    KIND,
    STOPPED,
    WAITING,
    Run,
    SpanEvent,
    add_steps,
    chunks,
    end_run,
    events_after,
    span_event,
)

__all__ = [
    "DateFlow",
    "DateRun",
    "DateStore",
    "DatedContact",
    "ScanPosition",
    "Waiting",
    "active_counts",
    "contacts_after",
    "contacts_changed",
    "date_workflows",
    "earlier_date_runs",
    "events_since_start",
    "forget_position",
    "move_date_run",
    "occasions_of",
    "read_position",
    "save_position",
    "stale_positions",
    "start_date_runs",
    "stop_waiting",
    "waiting_in",
    "waiting_of",
]

T = TypeVar("T")
_ORDER_LAG_US = 24 * 3_600_000_000  # an order may arrive up to a day after its date and be news
_START = msgspec.json.encode({"do": "start"}).decode()
# A run stopped before its moment (a date run waits with started_us ahead) never started.
_BEGUN = "NOT (status = ? AND ended_us IS NOT NULL AND ended_us < started_us)"


@dataclass(frozen=True, slots=True)
class DateFlow:
    """An enabled workflow started by a contact date, at its current version."""

    id: int
    workspace_id: int
    version: int


@dataclass(frozen=True, slots=True)
class ScanPosition:
    spec: str
    until_us: int
    pass_until_us: int | None
    pass_after: int
    changed_us: int
    changed_id: int


@dataclass(frozen=True, slots=True)
class DatedContact:
    id: int
    value: str | None  # what the date field holds, when it is a string
    time_zone: str | None
    gone: bool  # deleted, or merged into another contact
    updated_us: int


@dataclass(frozen=True, slots=True)
class Waiting:
    """A run started by a contact date whose moment has not come."""

    run_id: int
    contact_id: int
    occasion: str
    due_us: int


@dataclass(frozen=True, slots=True)
class DateRun:
    """A run to start for a contact: due at ``due_us``; ``stopped``: recorded as stopped at
    once, for that reason (a stop event came within stop.lookBack before the moment)."""

    contact_id: int
    occasion: str
    due_us: int
    note: str
    stopped: str | None = None


def date_workflows(tx: Cursor) -> list[DateFlow]:
    """Every enabled workflow whose current version starts on a contact date, by id."""
    rows = tx.all(
        "SELECT id, workspace_id, version FROM workflows WHERE enabled = TRUE "
        "AND start_event IS NULL ORDER BY id"
    )
    return [DateFlow(int(r[0]), int(r[1]), int(r[2])) for r in rows]


def stale_positions(tx: Cursor) -> list[int]:
    """The workflows with a scan position that no longer start on a contact date (disabled,
    or a version started by an event)."""
    rows = tx.all(
        "SELECT s.workflow_id FROM workflow_date_scans s JOIN workflows w "
        "ON w.id = s.workflow_id WHERE w.enabled = FALSE OR w.start_event IS NOT NULL "
        "ORDER BY s.workflow_id"
    )
    return [int(r[0]) for r in rows]


def read_position(tx: Cursor, workflow_id: int, lock: str = "") -> ScanPosition | None:
    """The workflow's scan position (``lock``: the dialect's ``for_update``)."""
    row = tx.one(
        "SELECT spec, until_us, pass_until_us, pass_after, changed_us, changed_id "
        f"FROM workflow_date_scans WHERE workflow_id = ?{lock}",
        workflow_id,
    )
    if row is None:
        return None
    until = None if row[2] is None else int(row[2])
    return ScanPosition(row[0], int(row[1]), until, int(row[3]), int(row[4]), int(row[5]))


def save_position(tx: Cursor, workflow_id: int, position: ScanPosition) -> None:
    tx.execute(
        "INSERT INTO workflow_date_scans (workflow_id, spec, until_us, pass_until_us, "
        "pass_after, changed_us, changed_id) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (workflow_id) DO UPDATE SET spec = excluded.spec, "
        "until_us = excluded.until_us, pass_until_us = excluded.pass_until_us, "
        "pass_after = excluded.pass_after, changed_us = excluded.changed_us, "
        "changed_id = excluded.changed_id",
        workflow_id,
        position.spec,
        position.until_us,
        position.pass_until_us,
        position.pass_after,
        position.changed_us,
        position.changed_id,
    )


def forget_position(tx: Cursor, workflow_id: int) -> None:
    """The workflow's scan position goes (its deletion, or it no longer starts on a date)."""
    tx.execute("DELETE FROM workflow_date_scans WHERE workflow_id = ?", workflow_id)


def _contacts_sql(dialect: Dialect, where: str, order: str) -> str:
    return (
        f"SELECT id, {dialect.json_string_at('fields')}, time_zone, deleted_us, merged_into, "
        f"updated_us FROM contacts WHERE workspace_id = ? AND {where} ORDER BY {order} LIMIT ?"
    )


def _dated(row: Sequence[Any]) -> DatedContact:
    value = row[1] if isinstance(row[1], str) else None
    gone = row[3] is not None or row[4] is not None
    return DatedContact(int(row[0]), value, row[2], gone, int(row[5]))


def contacts_after(
    tx: Cursor, dialect: Dialect, ws: int, field: str, after_id: int, limit: int
) -> list[DatedContact]:
    """The workspace's next ``limit`` contacts after ``after_id``, with what ``field`` holds
    (a seek on (workspace, id): every page costs the same)."""
    rows = tx.all(_contacts_sql(dialect, "id > ?", "id"), field, ws, after_id, limit)
    return [_dated(r) for r in rows]


def contacts_changed(
    tx: Cursor,
    dialect: Dialect,
    ws: int,
    field: str,
    after: tuple[int, int],
    upto_us: int,
    limit: int,
) -> list[DatedContact]:
    """The workspace's next ``limit`` contacts changed after ``after`` (updated_us, id) and
    at or before ``upto_us``, in that order (a seek on (workspace, updated_us, id))."""
    where = "(updated_us, id) > (?, ?) AND updated_us <= ?"
    sql = _contacts_sql(dialect, where, "updated_us, id")
    rows = tx.all(sql, field, ws, *after, upto_us, limit)
    return [_dated(r) for r in rows]


def occasions_of(tx: Cursor, workflow_id: int, contact_ids: Sequence[int]) -> dict[int, set[str]]:
    """The occasions each contact has had a run of the workflow for (but runs stopped before
    their moment: they never started)."""
    found: dict[int, set[str]] = {contact: set() for contact in contact_ids}
    for chunk in chunks(contact_ids):
        rows = tx.all(
            f"SELECT contact_id, occasion FROM workflow_runs WHERE contact_id IN ({marks(chunk)}) "
            f"AND workflow_id = ? AND occasion IS NOT NULL AND {_BEGUN}",
            *chunk,
            workflow_id,
            STOPPED,
        )
        for contact, occasion in rows:
            found.setdefault(int(contact), set()).add(occasion)
    return found


def earlier_date_runs(
    tx: Cursor, workflow_id: int, contact_ids: Sequence[int]
) -> dict[int, tuple[int | None, int]]:
    """Contact → (the latest moment of its runs of the workflow, how many are going), for those
    that have runs; runs stopped before their moment never started and do not count."""
    found: dict[int, tuple[int | None, int]] = {}
    for chunk in chunks(contact_ids):
        rows = tx.all(
            "SELECT contact_id, max(started_us), sum(CASE WHEN status IN (?, ?) THEN 1 ELSE 0 END) "
            f"FROM workflow_runs WHERE contact_id IN ({marks(chunk)}) AND workflow_id = ? "
            f"AND {_BEGUN} GROUP BY contact_id",
            *ACTIVE,
            *chunk,
            workflow_id,
            STOPPED,
        )
        for contact, last, going in rows:
            found[int(contact)] = (None if last is None else int(last), int(going or 0))
    return found


def active_counts(tx: Cursor, contact_ids: Sequence[int]) -> dict[int, int]:
    """How many runs each contact has going, all workflows together."""
    found = dict.fromkeys(contact_ids, 0)
    for chunk in chunks(contact_ids):
        rows = tx.all(
            "SELECT contact_id, count(*) FROM workflow_runs "
            f"WHERE contact_id IN ({marks(chunk)}) AND status IN (?, ?) GROUP BY contact_id",
            *chunk,
            *ACTIVE,
        )
        found.update({int(contact): int(count) for contact, count in rows})
    return found


def waiting_of(
    tx: Cursor, workflow_id: int, contact_ids: Sequence[int], now: int
) -> dict[int, list[Waiting]]:
    """The runs of the workflow started by a contact date whose moment is still ahead of
    ``now``, by contact, oldest first."""
    found: dict[int, list[Waiting]] = {contact: [] for contact in contact_ids}
    for chunk in chunks(contact_ids):
        rows = tx.all(
            "SELECT r.id, r.contact_id, r.occasion, d.due_us FROM workflow_runs r "
            "JOIN due_work d ON d.kind = ? AND d.subject = r.id "
            f"WHERE r.contact_id IN ({marks(chunk)}) AND r.workflow_id = ? "
            "AND r.occasion IS NOT NULL AND r.block IS NULL AND r.status IN (?, ?) "
            "AND d.due_us > ? ORDER BY r.id",
            KIND,
            *chunk,
            workflow_id,
            *ACTIVE,
            now,
        )
        for run_id, contact, occasion, due in rows:
            found.setdefault(int(contact), []).append(
                Waiting(int(run_id), int(contact), occasion, int(due))
            )
    return found


def start_date_runs(tx: Cursor, flow: DateFlow, runs: Sequence[DateRun], now: int) -> list[int]:
    """Create the runs, each waiting for its moment (its first step due then); their ids. A
    run stopped at once starts (and ends) now, so that it counts as started."""
    made = []
    for run in runs:
        status = WAITING if run.stopped is None else STOPPED
        row = tx.one(
            "INSERT INTO workflow_runs (workspace_id, workflow_id, version, contact_id, "
            "event_id, status, block, reason, started_us, updated_us, ended_us, occasion) "
            "VALUES (?, ?, ?, ?, 0, ?, NULL, ?, ?, ?, ?, ?) RETURNING id",
            flow.workspace_id,
            flow.id,
            flow.version,
            run.contact_id,
            status,
            run.stopped,
            run.due_us if run.stopped is None else now,
            now,
            None if run.stopped is None else now,
            run.occasion,
        )
        run_id = int(row[0])
        add_steps(tx, run_id, [("start", None, run.stopped or run.note)], now)
        if run.stopped is None:
            tx.execute(
                "INSERT INTO due_work (kind, subject, workspace_id, due_us, attempts, state, "
                "until_us) VALUES (?, ?, ?, ?, 0, ?, 0)",
                KIND,
                run_id,
                flow.workspace_id,
                run.due_us,
                _START,
            )
        made.append(run_id)
    return made


def waiting_in(tx: Cursor, workflow_id: int, now: int, limit: int) -> list[Waiting]:
    """Up to ``limit`` runs of the workflow started by a contact date whose moment is still
    ahead of ``now`` (the workflow no longer starts on dates: they are stopped)."""
    rows = tx.all(
        "SELECT r.id, r.contact_id, r.occasion, d.due_us FROM workflow_runs r "
        "JOIN due_work d ON d.kind = ? AND d.subject = r.id WHERE r.workflow_id = ? "
        "AND r.occasion IS NOT NULL AND r.block IS NULL AND r.status IN (?, ?) "
        "AND d.due_us > ? ORDER BY r.id LIMIT ?",
        KIND,
        workflow_id,
        *ACTIVE,
        now,
        limit,
    )
    return [Waiting(int(r[0]), int(r[1]), r[2], int(r[3])) for r in rows]


def move_date_run(tx: Cursor, dialect: Dialect, waiting: Waiting, due_us: int, now: int) -> bool:
    """A waiting run's moment moved (the contact's time zone changed): due at ``due_us``."""
    row = tx.one(
        f"SELECT id FROM workflow_runs WHERE id = ? AND block IS NULL AND status IN (?, ?)"
        f"{dialect.for_update}",
        waiting.run_id,
        *ACTIVE,
    )
    if row is None:
        return False
    moved = tx.count(
        "UPDATE due_work SET due_us = ? WHERE kind = ? AND subject = ? AND due_us = ?",
        due_us,
        KIND,
        waiting.run_id,
        waiting.due_us,
    )
    if moved:
        tx.execute(
            "UPDATE workflow_runs SET started_us = ?, updated_us = ? WHERE id = ?",
            due_us,
            now,
            waiting.run_id,
        )
    return bool(moved)


def stop_waiting(tx: Cursor, dialect: Dialect, waiting: Waiting, reason: str, now: int) -> bool:
    """Stop a run before its moment came."""
    return end_run(tx, dialect, waiting.run_id, STOPPED, reason, now, block="start")


def events_since_start(tx: Cursor, run: Run, types: Sequence[str]) -> list[SpanEvent]:
    """``events_after`` the run's starting event; for a run started by a contact date (no
    starting event), the contact's events of ``types`` received since its moment, oldest first,
    at most 100 (the caller keeps the news among them)."""
    if run.event_id:
        return events_after(tx, run.contact_id, types, run.event_id)
    if not types:
        return []
    rows = tx.all(
        "SELECT id, workspace_id, event_type_key, contact_id, params, source, occurred_us, "
        f"received_us, key_value FROM events WHERE contact_id = ? "
        f"AND event_type_key IN ({marks(types)}) AND occurred_us >= ? AND received_us >= ? "
        "ORDER BY id LIMIT 100",
        run.contact_id,
        *types,
        run.started_us - _ORDER_LAG_US,
        run.started_us,
    )
    return [span_event(r) for r in rows]


class DateStore:
    """The date scan's transactions: a read (every statement sees the same data) and a write."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @property
    def dialect(self) -> Dialect:
        return self._db.dialect

    def read(self, work: Callable[[Cursor], T]) -> T:
        with self._db.snapshot() as tx:
            return work(tx)

    def transact(self, work: Callable[[Cursor], T]) -> T:
        return self._db.transact(work)
