"""Workflow runs: started and stopped by the events feed, moved on by due work.

The ``workflows:events`` consumer reads the events feed a page at a time (as a span: the events
that cannot concern a workflow are never read into Python) and, in the transaction that advances
its position, stops the runs an event stops, wakes the runs waiting for it, and starts the runs
it starts. A run's next step is a ``due_work`` row (kind ``workflow_run``, subject the run):
claimed under a lease by a worker, which moves the run on (``RunStore.advance``) in one
transaction with the run's new state, its steps and its next due time. So a kill -9 at any point
leaves a run either before its step or after it, never half-way, and a lapsed lease hands it to
another worker.

What the engine decides is pure (``footfall.workflows``); this module reads and writes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from footfall.clock import now_us
from footfall.store.core import Database
from footfall.store.cursor import Cursor
from footfall.store.dialect import Dialect
from footfall.store.rows import EventSpan
from footfall.store.sql import loads, marks

__all__ = [
    "ACTION",
    "ACTIVE",
    "KIND",
    "KINDS",
    "Claimed",
    "Move",
    "PendingGoal",
    "Run",
    "RunStore",
    "SpanEvent",
    "StartingEvent",
    "Step",
    "chunks",
    "contacts_channels",
    "events_after",
    "forget_runs",
    "hold_attempts",
    "order_changes",
    "pending_goals_of",
    "reach_goal",
    "read_span_events",
    "record_moves",
    "span_event",
    "starting_events",
]

T = TypeVar("T")
KIND = "workflow_run"  # a run due to take its next step (a timer, a wait, a start)
ACTION = "workflow_action"  # a run at an action block (a request, an event, a field)
KINDS = (KIND, ACTION)  # a run has at most one due row, of either kind
RUNNING, WAITING, COMPLETED, STOPPED, FAILED = (
    "running",
    "waiting",
    "completed",
    "stopped",
    "failed",
)
ACTIVE = (RUNNING, WAITING)
_RUN_COLUMNS = (
    "id, workspace_id, workflow_id, version, contact_id, event_id, match_keys, status, block, "
    "listen_event, reason, started_us, updated_us, ended_us"
)


@dataclass(frozen=True, slots=True)
class SpanEvent:
    """An event of the feed that may concern a workflow: it may start one, or its contact has a
    run going."""

    id: int
    workspace_id: int
    event_type_key: str
    contact_id: int
    params: Any
    source: str
    occurred_us: int
    received_us: int
    key_value: str = ""


@dataclass(frozen=True, slots=True)
class Run:
    id: int
    workspace_id: int
    workflow_id: int
    version: int
    contact_id: int
    event_id: int
    match_keys: tuple[str, ...] | None
    status: str
    block: str | None
    listen_event: str | None
    reason: str | None
    started_us: int
    updated_us: int
    ended_us: int | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


@dataclass(frozen=True, slots=True)
class Step:
    block: str
    branch: str | None
    at_us: int
    note: str | None


@dataclass(frozen=True, slots=True)
class Move:
    """What a run does next, as the engine decided: the steps it took, where it now is, its
    status, and when it is due again (None: never; the run is over)."""

    steps: Sequence[tuple[str, str | None, str | None]]  # (block, branch, note)
    block: str | None
    status: str
    due_us: int | None
    listen_event: str | None = None
    reason: str | None = None
    state: Any = None  # the due work's state: what the next step is about
    kind: str = KIND  # ACTION when the run is now at an action block
    attempts: int = 0  # of the action it is at (its failures so far)
    goals: Sequence[tuple[str, int]] = ()  # goal blocks passed: (block, reachable until, µs)


@dataclass(frozen=True, slots=True)
class Claimed:
    run: Run
    state: Any
    attempts: int


def _run(row: Sequence[Any]) -> Run:
    keys = loads(row[6]) if row[6] is not None else None
    return Run(
        int(row[0]),
        int(row[1]),
        int(row[2]),
        int(row[3]),
        int(row[4]),
        int(row[5]),
        None if keys is None else tuple(keys),
        row[7],
        row[8],
        row[9],
        row[10],
        int(row[11]),
        int(row[12]),
        None if row[13] is None else int(row[13]),
    )


def span_event(r: Sequence[Any]) -> SpanEvent:
    """A row (id, workspace_id, event_type_key, contact_id, params, source, occurred_us,
    received_us, key_value) as an event."""
    params = by_name(loads(r[4]))
    return SpanEvent(
        int(r[0]), int(r[1]), r[2], int(r[3]), params, r[5], int(r[6]), int(r[7]), r[8]
    )


def read_span_events(tx: Cursor, dialect: Dialect, span: EventSpan) -> list[SpanEvent]:
    """The events of ``span`` that may concern a workflow, in feed order: every event of the
    contacts that have one in the span of a type an enabled workflow of their workspace starts
    on, or a run going, or a goal open (so that a stop or an awaited event in the same span as
    the start that precedes it is seen)."""
    window, window_args, order = dialect.feed_window(span.after)
    upto, upto_args = dialect.feed_upto(span.position)
    concerned = [
        int(r[0])
        for r in tx.all(
            "SELECT DISTINCT e.contact_id FROM events e "
            f"WHERE {window} AND {upto} AND e.contact_id IS NOT NULL "
            "AND (EXISTS (SELECT 1 FROM workflows w WHERE w.workspace_id = e.workspace_id "
            "AND w.enabled = TRUE AND w.start_event = e.event_type_key) "
            "OR EXISTS (SELECT 1 FROM workflow_runs r WHERE r.contact_id = e.contact_id "
            "AND r.status IN (?, ?)) OR EXISTS (SELECT 1 FROM workflow_goals g "
            "WHERE g.contact_id = e.contact_id AND g.reached_us IS NULL "
            "AND g.until_us >= e.received_us))",
            *window_args,
            *upto_args,
            *ACTIVE,
        )
    ]
    rows: list[Sequence[Any]] = []
    for chunk in chunks(sorted(concerned)):
        rows += tx.all(
            "SELECT e.id, e.workspace_id, e.event_type_key, e.contact_id, e.params, e.source, "
            f"e.occurred_us, e.received_us, e.key_value, {_prefixed(order)} FROM events e "
            f"WHERE {window} AND {upto} AND e.contact_id IN ({marks(chunk)})",
            *window_args,
            *upto_args,
            *chunk,
        )
    rows.sort(key=lambda r: tuple(r[9:]))
    return [span_event(r) for r in rows]


def by_name(params: Any) -> dict[str, Any]:
    """Stored params (a list of ``{name, value}``) as conditions and templates read them: an
    object of values by name (the last of a name wins)."""
    if not isinstance(params, list):
        return params if isinstance(params, dict) else {}
    return {
        item["name"]: item.get("value")
        for item in params
        if isinstance(item, dict) and isinstance(item.get("name"), str)
    }


def _prefixed(order: str) -> str:
    return ", ".join(f"e.{column.strip()}" for column in order.split(","))


def start_run(
    tx: Cursor,
    dialect: Dialect,
    *,
    event: SpanEvent,
    workflow_id: int,
    version: int,
    match_keys: list[str] | None,
    now: int,
) -> int:
    """A new run of the workflow for the event's contact, due at once."""
    row = tx.one(
        "INSERT INTO workflow_runs (workspace_id, workflow_id, version, contact_id, event_id, "
        "match_keys, status, block, started_us, updated_us) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?) RETURNING id",
        event.workspace_id,
        workflow_id,
        version,
        event.contact_id,
        event.id,
        None if match_keys is None else msgspec.json.encode(match_keys).decode(),
        RUNNING,
        now,
        now,
    )
    run_id = int(row[0])
    _schedule(tx, run_id, event.workspace_id, now, {"do": "start"})
    return run_id  # the caller notifies the workers once for its page


def end_run(
    tx: Cursor,
    dialect: Dialect,
    run_id: int,
    status: str,
    reason: str | None,
    now: int,
    block: str | None = None,
) -> bool:
    """The run is over (stopped, completed or failed) if it was still going: it is due no more.
    The run's row is locked first, as every writer of a run does, then its due work."""
    if _lock_active(tx, dialect, run_id) is None:
        return False
    tx.execute(
        "UPDATE workflow_runs SET status = ?, reason = ?, ended_us = ?, updated_us = ?, "
        "listen_event = NULL WHERE id = ?",
        status,
        reason,
        now,
        now,
        run_id,
    )
    if block is not None:
        add_steps(tx, run_id, [(block, None, reason)], now)
    tx.execute("DELETE FROM due_work WHERE kind IN (?, ?) AND subject = ?", *KINDS, run_id)
    return True


def _lock_active(tx: Cursor, dialect: Dialect, run_id: int) -> tuple[str, str | None, int] | None:
    """(status, block, updated_us) of the run, its row locked, if it is still going."""
    row = tx.one(
        "SELECT status, block, updated_us FROM workflow_runs WHERE id = ? AND status IN (?, ?)"
        f"{dialect.for_update}",
        run_id,
        *ACTIVE,
    )
    return None if row is None else (row[0], row[1], int(row[2]))


def wake_run(tx: Cursor, dialect: Dialect, run: Run, state: Any, now: int) -> bool:
    """Make a run waiting for an event due now with ``state``, if it still waits at the block
    it was read at (a timeout committed meanwhile has moved it on: then nothing)."""
    current = _lock_active(tx, dialect, run.id)
    if current is None or current[1] != run.block or current[2] != run.updated_us:
        return False
    tx.execute(
        "UPDATE workflow_runs SET listen_event = NULL, updated_us = ? WHERE id = ?",
        max(now, run.updated_us + 1),
        run.id,
    )
    tx.execute(
        "UPDATE due_work SET due_us = ?, state = ? WHERE kind = ? AND subject = ?",
        now,
        msgspec.json.encode(state).decode(),
        KIND,
        run.id,
    )
    return True  # the caller notifies the workers once for its page


def add_steps(
    tx: Cursor, run_id: int, steps: Sequence[tuple[str, str | None, str | None]], now: int
) -> None:
    if steps:
        tx.executemany(
            "INSERT INTO workflow_steps (run_id, block, branch, at_us, note) VALUES (?, ?, ?, ?, ?)",
            [(run_id, block, branch, now, note) for block, branch, note in steps],
        )


def _schedule(tx: Cursor, run_id: int, ws: int, due: int, state: Any) -> None:
    tx.execute(
        "INSERT INTO due_work (kind, subject, workspace_id, due_us, attempts, state, until_us) "
        "VALUES (?, ?, ?, ?, 0, ?, 0) ON CONFLICT (kind, subject) DO UPDATE SET "
        "due_us = excluded.due_us, state = excluded.state, attempts = 0",
        KIND,
        run_id,
        ws,
        due,
        msgspec.json.encode(state).decode(),
    )


def _lock_going(tx: Cursor, dialect: Dialect, ids: Sequence[int]) -> dict[int, int]:
    """Lock the rows of these runs that are still going, in id order (every writer of a run
    locks it first, then its due work); their ``updated_us``."""
    return {
        int(r[0]): int(r[1])
        for r in tx.all(
            f"SELECT id, updated_us FROM workflow_runs WHERE id IN ({marks(ids)}) "
            f"AND status IN (?, ?) ORDER BY id{dialect.for_update}",
            *ids,
            *ACTIVE,
        )
    }


def _still_held(
    tx: Cursor, dialect: Dialect, owner: str, run_ids: Sequence[int], now: int
) -> dict[int, int]:
    """Of these runs, those still going whose due work ``owner`` still holds: their
    ``updated_us`` (a run updated since it was read was woken meanwhile: the caller moves it
    only if it is unchanged). The runs' rows are locked first, as every writer of a run does,
    then their due work."""
    ids = sorted(run_ids)
    current = _lock_going(tx, dialect, ids)
    held = {
        int(r[0])
        for r in tx.all(
            f"SELECT subject FROM due_work WHERE kind IN (?, ?) AND subject IN ({marks(ids)}) "
            f"AND owner = ? AND until_us > ? ORDER BY subject{dialect.for_update}",
            *KINDS,
            *ids,
            owner,
            now,
        )
    }
    return {run: updated for run, updated in current.items() if run in held}


def hold_attempts(tx: Cursor, attempts: Sequence[tuple[Run, Any, int]]) -> None:
    """Record for each (run, state, until_us) of runs this worker holds that a request of the
    run's action block is about to be sent, and hold the run until ``until_us``."""
    tx.executemany(
        "UPDATE due_work SET state = ?, due_us = ?, until_us = ? WHERE kind = ? AND subject = ?",
        [
            (msgspec.json.encode(state).decode(), until, until, ACTION, run.id)
            for run, state, until in attempts
        ],
    )


def _release_stale(tx: Cursor, owner: str, runs: Sequence[Run], going: dict[int, int]) -> None:
    """Runs woken since they were read: claimed again at once."""
    stale = [run.id for run in runs if run.id in going and going[run.id] != run.updated_us]
    if stale:
        tx.execute(
            f"UPDATE due_work SET owner = NULL, until_us = 0 WHERE kind IN (?, ?) "
            f"AND subject IN ({marks(stale)}) AND owner = ?",
            *KINDS,
            *stale,
            owner,
        )


def record_moves(tx: Cursor, going: Sequence[tuple[Run, Move]], now: int) -> None:
    """Record each (run, move) inside the caller's transaction, which holds the runs (a run it
    has just started, which no worker can see yet)."""
    _record(tx, going, now)


def _record(tx: Cursor, going: Sequence[tuple[Run, Move]], now: int) -> None:
    tx.executemany(
        "INSERT INTO workflow_goals (run_id, block, contact_id, passed_us, until_us) "
        "VALUES (?, ?, ?, ?, ?)",
        [
            (run.id, block, run.contact_id, now, until)
            for run, m in going
            for block, until in m.goals
        ],
    )
    tx.executemany(
        "INSERT INTO workflow_steps (run_id, block, branch, at_us, note) VALUES (?, ?, ?, ?, ?)",
        [(run.id, *step[:2], now, step[2]) for run, move in going for step in move.steps],
    )
    tx.executemany(
        "UPDATE workflow_runs SET status = ?, block = ?, listen_event = ?, reason = ?, "
        "ended_us = ?, updated_us = ? WHERE id = ?",
        [
            (
                move.status,
                move.block,
                move.listen_event,
                move.reason,
                now if move.due_us is None else None,
                max(now, run.updated_us + 1),
                run.id,
            )
            for run, move in going
        ],
    )
    over = [run.id for run, move in going if move.due_us is None]
    if over:
        tx.execute(
            f"DELETE FROM due_work WHERE kind IN (?, ?) AND subject IN ({marks(over)})",
            *KINDS,
            *over,
        )
    tx.executemany(
        "UPDATE due_work SET kind = ?, due_us = ?, state = ?, attempts = ?, owner = NULL, "
        "until_us = 0 WHERE kind IN (?, ?) AND subject = ?",
        [
            (
                move.kind,
                move.due_us,
                msgspec.json.encode(move.state).decode(),
                move.attempts,
                *KINDS,
                run.id,
            )
            for run, move in going
            if move.due_us is not None
        ],
    )


def forget_runs(tx: Cursor, dialect: Dialect, contact_ids: Sequence[int]) -> None:
    """Delete the runs of these contacts with their steps and due work (inside an erasure)."""
    runs = [
        int(r[0])
        for r in tx.all(
            f"SELECT id FROM workflow_runs WHERE contact_id IN ({marks(contact_ids)}) "
            f"ORDER BY id{dialect.for_update}",
            *contact_ids,
        )
    ]
    _delete_runs(tx, runs)


def _delete_runs(tx: Cursor, runs: Sequence[int]) -> None:
    """Delete runs locked by the caller (no step can be added to them meanwhile)."""
    for start in range(0, len(runs), 500):
        chunk = runs[start : start + 500]
        tx.execute(
            f"DELETE FROM due_work WHERE kind IN (?, ?) AND subject IN ({marks(chunk)})",
            *KINDS,
            *chunk,
        )
        tx.execute(f"DELETE FROM workflow_steps WHERE run_id IN ({marks(chunk)})", *chunk)
        tx.execute(f"DELETE FROM workflow_goals WHERE run_id IN ({marks(chunk)})", *chunk)
        tx.execute(f"DELETE FROM workflow_runs WHERE id IN ({marks(chunk)})", *chunk)


def forget_workflow_runs(tx: Cursor, dialect: Dialect, workflow_id: int) -> None:
    """Delete a workflow's runs (inside the workflow's deletion)."""
    runs = [
        int(r[0])
        for r in tx.all(
            f"SELECT id FROM workflow_runs WHERE workflow_id = ? ORDER BY id{dialect.for_update}",
            workflow_id,
        )
    ]
    _delete_runs(tx, runs)


FAIR_WORKSPACES = 100  # workspaces one claim serves: those whose earliest due work is oldest


def _due_workspaces(tx: Cursor, kind: str, now: int) -> list[int]:
    """The workspaces with work of ``kind`` due, the earliest due first, at most
    FAIR_WORKSPACES: one seek per workspace on the index (kind, workspace_id, due_us)."""
    rows = tx.all(
        "SELECT w.id, (SELECT min(d.due_us) FROM due_work d WHERE d.kind = ? "
        "AND d.workspace_id = w.id) FROM workspaces w",
        kind,
    )
    due = sorted((int(r[1]), int(r[0])) for r in rows if r[1] is not None and int(r[1]) <= now)
    return [ws for _, ws in due[:FAIR_WORKSPACES]]


def _round_robin(rows: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
    """Rows (subject, state, attempts, due_us, workspace_id) in turns: each workspace's
    earliest, then each one's second…, so a claim cut short still serves every workspace."""
    turn: dict[int, int] = {}
    ranked = []
    for row in sorted(rows, key=lambda r: (int(r[4]), int(r[3]))):
        ws = int(row[4])
        turn[ws] = turn.get(ws, -1) + 1
        ranked.append((turn[ws], int(row[3]), row))
    return [row for _, _, row in sorted(ranked, key=lambda t: (t[0], t[1]))]


def _due_rows(
    tx: Cursor, lock: str, kind: str, parts: Mapping[int, int], now: int
) -> list[Sequence[Any]]:
    """Rows (subject, state, attempts, due_us, workspace_id) of due work no live worker holds,
    each workspace's part of them, earliest first, in turns (``_round_robin``)."""
    arms = " UNION ALL ".join(
        "SELECT * FROM (SELECT subject, state, attempts, due_us, workspace_id "
        "FROM due_work WHERE kind = ? AND workspace_id = ? AND due_us <= ? "
        f"AND until_us <= ? ORDER BY due_us LIMIT ?{lock}) AS w{i}"
        for i in range(len(parts))
    )
    found = tx.all(arms, *(v for ws, part in parts.items() for v in (kind, ws, now, now, part)))
    return _round_robin(found)


def _runs_by_id(tx: Cursor, ids: Sequence[int]) -> dict[int, Run]:
    if not ids:
        return {}
    return {
        int(r[0]): _run(r)
        for r in tx.all(
            f"SELECT {_RUN_COLUMNS} FROM workflow_runs WHERE id IN ({marks(ids)})", *ids
        )
    }


def _claimed(rows: Sequence[Sequence[Any]], runs: Mapping[int, Run]) -> list[Claimed]:
    return [
        Claimed(runs[int(r[0])], loads(r[1]) if r[1] else None, int(r[2]))
        for r in rows
        if int(r[0]) in runs
    ]


class RunStore:
    """Runs as the executor and the API see them, each operation in a transaction of its own."""

    def __init__(self, db: Database, clock: Callable[[], int] = now_us) -> None:
        self._db = db
        self._clock = clock

    @property
    def dialect(self) -> Dialect:
        return self._db.dialect

    def claim(
        self,
        owner: str,
        limit: int,
        lease_us: int,
        kind: str = KIND,
        room: Callable[[int], int] | None = None,
    ) -> list[Claimed]:
        """Up to ``limit`` due runs (whose due work is of ``kind``) no live worker holds, leased
        to ``owner``: shared fairly between the workspaces that have runs due (each gets an
        equal part, its earliest first), so that one workspace's backlog of a million due timers
        delays another's by a claim, not by the backlog. ``room``: at most how many runs of a
        workspace this claim may take (the caller's slots left for it)."""
        with self._db.read() as tx:  # a read first: an idle worker writes nothing
            due = self._due(tx, kind, limit, room)
        if not due:
            return []

        def work(tx: Cursor) -> list[Claimed]:
            now = self._clock()
            taken = _due_rows(tx, self.dialect.skip_locked, kind, due, now)[:limit]
            if not taken:
                return []
            ids = [int(r[0]) for r in taken]
            tx.execute(
                f"UPDATE due_work SET owner = ?, until_us = ? WHERE kind = ? "
                f"AND subject IN ({marks(ids)})",
                owner,
                now + lease_us,
                kind,
                *ids,
            )
            runs = _runs_by_id(tx, ids)
            orphans = [i for i in ids if i not in runs]  # their run was deleted meanwhile
            if orphans:
                tx.execute(
                    f"DELETE FROM due_work WHERE kind = ? AND subject IN ({marks(orphans)})",
                    kind,
                    *orphans,
                )
            return _claimed(taken, runs)

        return self._db.transact(work)

    def claim_prepared(
        self,
        owner: str,
        limit: int,
        lease_us: int,
        kind: str,
        room: Callable[[int], int] | None,
        prepare: Callable[[Cursor, list[Claimed]], list[T]],
        attempts: Callable[[list[Claimed], list[T]], Sequence[tuple[Run, Any, int]]],
    ) -> tuple[list[Claimed], list[T]]:
        """``claim`` for work whose preparing may take long (templates to render): the due runs
        are read and prepared in a read transaction, which locks nothing and keeps no feed
        waiting, then taken in a short write that also holds their requests' ``attempts``
        (``hold_attempts``): one commit. Those another worker took, or that moved, meanwhile
        are left out, with what was prepared for them."""
        with self._db.snapshot() as tx:
            now = self._clock()
            due = self._due(tx, kind, limit, room)
            rows = _due_rows(tx, "", kind, due, now)[:limit] if due else []
            runs = _runs_by_id(tx, [int(r[0]) for r in rows])
            found = [c for c in _claimed(rows, runs) if c.run.status in ACTIVE]
            prepared = prepare(tx, found) if found else []
        if not found:
            return [], []

        def work(tx: Cursor) -> set[int]:
            now = self._clock()
            ids = sorted(c.run.id for c in found)
            current = _lock_going(tx, self.dialect, ids)  # runs first, then their due work
            got = {
                int(r[0])
                for r in tx.all(
                    f"UPDATE due_work SET owner = ?, until_us = ? WHERE kind = ? "
                    f"AND subject IN ({marks(ids)}) AND due_us <= ? AND until_us <= ? "
                    "RETURNING subject",
                    owner,
                    now + lease_us,
                    kind,
                    *ids,
                    now,
                    now,
                )
            }
            ours = {
                c.run.id
                for c in found
                if c.run.id in got and current.get(c.run.id) == c.run.updated_us
            }
            moved = sorted(got - ours)  # taken, but it moved since it was read: given back
            if moved:
                tx.execute(
                    f"UPDATE due_work SET owner = NULL, until_us = 0 WHERE kind = ? "
                    f"AND subject IN ({marks(moved)})",
                    kind,
                    *moved,
                )
            hold_attempts(tx, [a for a in attempts(found, prepared) if a[0].id in ours])
            return ours

        ours = self._db.transact(work)
        kept = [i for i, c in enumerate(found) if c.run.id in ours]
        return [found[i] for i in kept], [prepared[i] for i in kept]

    def _due(
        self, tx: Cursor, kind: str, limit: int, room: Callable[[int], int] | None
    ) -> dict[int, int]:
        """The workspaces with work of ``kind`` due, each with how many runs a claim of
        ``limit`` takes of it: an equal part, within its ``room``."""
        due = _due_workspaces(tx, kind, self._clock())
        if room is not None:
            due = [ws for ws in due if room(ws) > 0]
        if not due:
            return {}
        share = -(-limit // len(due))
        return {ws: share if room is None else min(share, room(ws)) for ws in due}

    def move(
        self,
        owner: str,
        moves: Sequence[tuple[Run, Move]],
        effects: Mapping[int, Callable[[Cursor, int], None]] | None = None,
    ) -> int:
        """Record each (run, move) whose run ``owner`` still holds the lease of and that is still
        at the step it was claimed at, in one transaction; how many were recorded (the others:
        another worker, a stop or a wake got there first). A run's effect (``effects`` by run
        id: its action, an event stored, a field set) runs in the same transaction, only if its
        move is recorded: the action and the step are one."""

        def work(tx: Cursor) -> int:
            now = self._clock()
            going = _still_held(tx, self.dialect, owner, [run.id for run, _ in moves], now)
            _release_stale(tx, owner, [run for run, _ in moves], going)
            recorded = [(run, m) for run, m in moves if going.get(run.id) == run.updated_us]
            _record(tx, recorded, now)
            for run, _ in recorded:
                effect = (effects or {}).get(run.id)
                if effect is not None:
                    effect(tx, now)
            return len(recorded)

        return self._db.transact(work) if moves else 0

    def prune(self, ended_before_us: int, batch: int = 5_000) -> int:
        """Delete the runs that ended before ``ended_before_us`` with their steps and goals, a
        batch per transaction (the retention, FOOTFALL_WORKFLOW_RUN_RETENTION_DAYS); how many."""

        def work(tx: Cursor) -> int:
            runs = [
                int(r[0])
                for r in tx.all(
                    "SELECT id FROM workflow_runs WHERE ended_us < ? ORDER BY ended_us, id "
                    f"LIMIT ?{self.dialect.for_update}",
                    ended_before_us,
                    batch,
                )
            ]
            _delete_runs(tx, runs)
            return len(runs)

        pruned = 0
        while (done := self._db.transact(work)) > 0:
            pruned += done
            if done < batch:
                break
        return pruned

    def read(self, work: Callable[[Cursor], T]) -> T:
        """``work`` in a read transaction: every statement sees the same data."""
        with self._db.snapshot() as tx:
            return work(tx)

    def release(self, owner: str) -> None:
        def work(tx: Cursor) -> None:
            tx.execute(
                "UPDATE due_work SET owner = NULL, until_us = 0 WHERE kind IN (?, ?) AND owner = ?",
                *KINDS,
                owner,
            )

        self._db.transact(work)

    # reads for the API

    def runs(
        self,
        ws: int,
        *,
        workflow_id: int | None = None,
        contact_ids: Sequence[int] = (),
        limit: int = 100,
        before: int | None = None,
    ) -> list[Run]:
        where, args = ["workspace_id = ?"], [ws]
        if workflow_id is not None:
            where.append("workflow_id = ?")
            args.append(workflow_id)
        if contact_ids:
            where.append(f"contact_id IN ({marks(contact_ids)})")
            args.extend(contact_ids)
        if before is not None:
            where.append("id < ?")
            args.append(before)
        with self._db.read() as tx:
            rows = tx.all(
                f"SELECT {_RUN_COLUMNS} FROM workflow_runs WHERE {' AND '.join(where)} "
                "ORDER BY id DESC LIMIT ?",
                *args,
                limit,
            )
        return [_run(r) for r in rows]

    def run(self, ws: int, run_id: int) -> tuple[Run, list[Step]] | None:
        with self._db.snapshot() as tx:
            row = tx.one(
                f"SELECT {_RUN_COLUMNS} FROM workflow_runs WHERE workspace_id = ? AND id = ?",
                ws,
                run_id,
            )
            if row is None:
                return None
            steps = tx.all(
                "SELECT block, branch, at_us, note FROM workflow_steps WHERE run_id = ? "
                "ORDER BY id LIMIT 1000",
                run_id,
            )
        return _run(row), [Step(s[0], s[1], int(s[2]), s[3]) for s in steps]

    def stop(self, ws: int, run_ids: Sequence[int] | None, workflow_id: int, reason: str) -> int:
        """Stop runs of a workflow (all active ones when ``run_ids`` is None); how many."""

        def work(tx: Cursor) -> int:
            now = self._clock()
            only = "" if run_ids is None else f"AND id IN ({marks(run_ids)}) "
            rows = tx.all(
                "SELECT id FROM workflow_runs WHERE workspace_id = ? AND workflow_id = ? "
                f"{only}AND status IN (?, ?) ORDER BY id",
                ws,
                workflow_id,
                *(run_ids or ()),
                *ACTIVE,
            )
            chosen = [int(r[0]) for r in rows]
            return sum(end_run(tx, self.dialect, run_id, STOPPED, reason, now) for run_id in chosen)

        return self._db.transact(work)

    def counts(self, ws: int, workflow_id: int) -> dict[str, Any]:
        """Runs by status, and per block: how many passed it by each branch."""
        with self._db.snapshot() as tx:
            statuses = tx.all(
                "SELECT status, count(*) FROM workflow_runs WHERE workspace_id = ? "
                "AND workflow_id = ? GROUP BY status",
                ws,
                workflow_id,
            )
            blocks = tx.all(
                "SELECT s.block, s.branch, count(*) FROM workflow_steps s "
                "JOIN workflow_runs r ON r.id = s.run_id WHERE r.workspace_id = ? "
                "AND r.workflow_id = ? GROUP BY s.block, s.branch",
                ws,
                workflow_id,
            )
        passed: dict[str, dict[str, int]] = {}
        for block, branch, count in blocks:
            passed.setdefault(block, {})[branch or "-"] = int(count)
        return {"runs": {s: int(c) for s, c in statuses}, "blocks": passed}


def chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    """``ids`` sorted, each once, in lists short enough for one ``IN (…)``."""
    unique = sorted(set(ids))
    for start in range(0, len(unique), 500):
        yield unique[start : start + 500]


# -- what the engine reads inside the consumer's transaction ---------------------------------------


def version_document(tx: Cursor, workflow_id: int, version: int) -> bytes | None:
    row = tx.one(
        "SELECT document FROM workflow_versions WHERE workflow_id = ? AND version = ?",
        workflow_id,
        version,
    )
    if row is None:
        return None
    value = row[0]
    return value if isinstance(value, bytes) else str(value).encode()


def events_params(tx: Cursor, event_ids: Sequence[int]) -> dict[int, Any]:
    """The params of stored events by id (an erased event has none)."""
    found: dict[int, Any] = {}
    for chunk in chunks(sorted(set(event_ids))):
        for event_id, params in tx.all(
            f"SELECT id, params FROM events WHERE id IN ({marks(chunk)})", *chunk
        ):
            found[int(event_id)] = by_name(loads(params))
    return found


def events_between(
    tx: Cursor, contact_id: int, types: Sequence[str], since_us: int, before_id: int
) -> list[tuple[str, Any]]:
    """(type, params) of the contact's events of ``types`` that occurred since ``since_us``
    and came before the event ``before_id``, newest first, at most 100."""
    if not types:
        return []
    rows = tx.all(
        "SELECT event_type_key, params FROM events WHERE contact_id = ? "
        f"AND event_type_key IN ({marks(types)}) AND occurred_us >= ? AND id < ? "
        "ORDER BY occurred_us DESC LIMIT 100",
        contact_id,
        *types,
        since_us,
        before_id,
    )
    return [(r[0], by_name(loads(r[1]))) for r in rows]


def events_after(
    tx: Cursor, contact_id: int, types: Sequence[str], after_id: int
) -> list[SpanEvent]:
    """The contact's events of ``types`` stored after the event ``after_id``, oldest first, at
    most 100 (the stop events a run is checked against before it acts, what happened since it
    started; the caller keeps the news among them)."""
    if not types:
        return []
    rows = tx.all(
        "SELECT id, workspace_id, event_type_key, contact_id, params, source, occurred_us, "
        f"received_us, key_value FROM events WHERE contact_id = ? "
        f"AND event_type_key IN ({marks(types)}) AND id > ? ORDER BY id LIMIT 100",
        contact_id,
        *types,
        after_id,
    )
    return [span_event(r) for r in rows]


def order_changes(tx: Cursor, events: Sequence[SpanEvent]) -> set[int]:
    """Of these order events, the ids of those that change their order's status: the order's
    previous event is of another status (an order seen for the first time changes nothing)."""
    changed = set()
    for event in events:
        row = tx.one(
            "SELECT event_type_key FROM events WHERE workspace_id = ? AND key_value = ? "
            "AND source = ? AND id < ? ORDER BY id DESC LIMIT 1",
            event.workspace_id,
            event.key_value,
            "order",
            event.id,
        )
        if row is not None and row[0] != event.event_type_key:
            changed.add(event.id)
    return changed


@dataclass(frozen=True, slots=True)
class StartingEvent:
    """What templates read of a run's starting event."""

    id: int
    event_type_key: str
    key_value: str
    source: str
    occurred_us: int
    params: dict[str, Any]


def starting_events(tx: Cursor, event_ids: Sequence[int]) -> dict[int, StartingEvent]:
    """The runs' starting events by id (an event that is gone, or a run started by a contact
    date, has none)."""
    found = {}
    for chunk in chunks([e for e in event_ids if e]):
        for row in tx.all(
            "SELECT id, event_type_key, key_value, source, occurred_us, params FROM events "
            f"WHERE id IN ({marks(chunk)})",
            *chunk,
        ):
            event_id = int(row[0])
            found[event_id] = StartingEvent(
                event_id, row[1], row[2], row[3], int(row[4]), by_name(loads(row[5]))
            )
    return found


def contacts_channels(tx: Cursor, contact_ids: Sequence[int]) -> dict[int, dict[str, str]]:
    """Each contact's first e-mail address and phone number (``email``, ``phone``), as known."""
    found: dict[int, dict[str, str]] = {contact: {} for contact in contact_ids}
    for chunk in chunks(contact_ids):
        for contact, kind, value in tx.all(
            "SELECT contact_id, kind, value FROM contact_identifiers "
            f"WHERE contact_id IN ({marks(chunk)}) AND kind IN (?, ?) "
            "ORDER BY contact_id, created_us, value",
            *chunk,
            "email",
            "phone",
        ):
            found[int(contact)].setdefault(kind, value)
    return found


@dataclass(frozen=True, slots=True)
class PendingGoal:
    """A goal block a run passed, whose conversion event has not come yet."""

    run_id: int
    workflow_id: int
    version: int
    start_event_id: int
    block: str
    passed_us: int
    until_us: int


def pending_goals_of(
    tx: Cursor, contact_ids: Sequence[int], now: int
) -> dict[int, list[PendingGoal]]:
    """The goals still open (not reached, window not over at ``now``) of runs of these
    contacts, by contact."""
    found: dict[int, list[PendingGoal]] = {contact: [] for contact in contact_ids}
    for chunk in chunks(sorted(set(contact_ids))):
        rows = tx.all(
            "SELECT g.contact_id, g.run_id, r.workflow_id, r.version, r.event_id, g.block, "
            "g.passed_us, g.until_us FROM workflow_goals g JOIN workflow_runs r "
            f"ON r.id = g.run_id WHERE g.contact_id IN ({marks(chunk)}) "
            "AND g.reached_us IS NULL AND g.until_us >= ? ORDER BY g.run_id, g.block",
            *chunk,
            now,
        )
        for row in rows:
            found[int(row[0])].append(
                PendingGoal(
                    int(row[1]),
                    int(row[2]),
                    int(row[3]),
                    int(row[4]),
                    row[5],
                    int(row[6]),
                    int(row[7]),
                )
            )
    return found


def reach_goal(tx: Cursor, goal: PendingGoal, event_id: int, note: str, now: int) -> bool:
    """Record that ``goal`` was reached by the event ``event_id`` (once: False when it was
    already), with a step ``reached`` on the run's path."""
    changed = tx.count(
        "UPDATE workflow_goals SET reached_us = ?, event_id = ? WHERE run_id = ? AND block = ? "
        "AND reached_us IS NULL",
        now,
        event_id,
        goal.run_id,
        goal.block,
    )
    if not changed:
        return False
    add_steps(tx, goal.run_id, [(goal.block, "reached", note)], now)
    return True


# -- what a page of the feed needs, read at once (a round trip per event would bound the
# consumer on PostgreSQL: about 700 runs a second started with eight queries an event) --------


def active_runs_of(tx: Cursor, contact_ids: Sequence[int]) -> dict[int, list[Run]]:
    found: dict[int, list[Run]] = {contact: [] for contact in contact_ids}
    for chunk in chunks(sorted(set(contact_ids))):
        rows = tx.all(
            f"SELECT {_RUN_COLUMNS} FROM workflow_runs WHERE contact_id IN ({marks(chunk)}) "
            "AND status IN (?, ?) ORDER BY id",
            *chunk,
            *ACTIVE,
        )
        for row in rows:
            run = _run(row)
            found[run.contact_id].append(run)
    return found


def contacts_fields(tx: Cursor, contact_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """``contact_fields`` of many contacts (a contact that is gone has none)."""
    found: dict[int, dict[str, Any]] = {contact: {} for contact in contact_ids}
    for chunk in chunks(sorted(set(contact_ids))):
        rows = tx.all(
            "SELECT id, first_name, last_name, external_customer_id, language_code, time_zone, "
            f"address, fields FROM contacts WHERE id IN ({marks(chunk)})",
            *chunk,
        )
        for row in rows:
            found[int(row[0])] = _fields(int(row[0]), row[1:])
    return found


def _fields(contact_id: int, row: Sequence[Any]) -> dict[str, Any]:
    custom = loads(row[6]) or {}
    known = {
        "id": contact_id,
        "firstName": row[0],
        "lastName": row[1],
        "externalCustomerId": row[2],
        "languageCode": row[3],
        "timeZone": row[4],
        "address": loads(row[5]),
    }
    return {**(custom if isinstance(custom, dict) else {}), **known}


def starting_workflows_of(
    tx: Cursor, workspaces: Sequence[int]
) -> dict[tuple[int, str], list[tuple[int, int]]]:
    """(workspace, start event) → (id, current version) of its enabled workflows."""
    found: dict[tuple[int, str], list[tuple[int, int]]] = {}
    for chunk in chunks(sorted(set(workspaces))):
        rows = tx.all(
            "SELECT workspace_id, start_event, id, version FROM workflows WHERE enabled = TRUE "
            f"AND start_event IS NOT NULL AND workspace_id IN ({marks(chunk)}) ORDER BY id",
            *chunk,
        )
        for ws, event, workflow_id, version in rows:
            found.setdefault((int(ws), event), []).append((int(workflow_id), int(version)))
    return found


def earlier_runs_of(
    tx: Cursor, workflow_ids: Sequence[int], contact_ids: Sequence[int]
) -> dict[tuple[int, int], tuple[int | None, int]]:
    """(workflow, contact) → (its latest start, how many are going), for those that have runs."""
    found: dict[tuple[int, int], tuple[int | None, int]] = {}
    if not workflow_ids:
        return found
    flows = sorted(set(workflow_ids))
    for chunk in chunks(sorted(set(contact_ids))):
        rows = tx.all(
            "SELECT workflow_id, contact_id, max(started_us), "
            "sum(CASE WHEN status IN (?, ?) THEN 1 ELSE 0 END) FROM workflow_runs "
            f"WHERE contact_id IN ({marks(chunk)}) AND workflow_id IN ({marks(flows)}) "
            "GROUP BY workflow_id, contact_id",
            *ACTIVE,
            *chunk,
            *flows,
        )
        for workflow_id, contact, last, active in rows:
            found[(int(workflow_id), int(contact))] = (
                None if last is None else int(last),
                int(active or 0),
            )
    return found
