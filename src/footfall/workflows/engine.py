"""The workflow engine on the worker runtime: the ``workflows:events`` feed consumer, which starts,
stops and wakes runs in the transaction that advances its position, and the loop that moves due
runs on (``RunLoop``), one transaction per step.

What to do is decided by the pure rules (``starting``, ``stepping``, ``timing``); this module
reads what they need and writes what they decide through ``store.workflow_runs``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import cachetools
import msgspec

from footfall import logs
from footfall.exceptions import InvalidWorkflow, StorageUnavailable
from footfall.ingest.dates import moment_of, to_us
from footfall.loops import WakeLoop
from footfall.store.cursor import Cursor
from footfall.store.dialect import DUE, Dialect
from footfall.store.identity_feed import MERGED, IdentityChange
from footfall.store.rows import EventSpan
from footfall.store.workflow_dates import events_since_start
from footfall.store.workflow_runs import (
    ACTION,
    COMPLETED,
    FAILED,
    RUNNING,
    STOPPED,
    WAITING,
    Claimed,
    Move,
    PendingGoal,
    Run,
    RunStore,
    SpanEvent,
    active_runs_of,
    contacts_fields,
    earlier_runs_of,
    end_run,
    events_between,
    events_params,
    order_changes,
    pending_goals_of,
    reach_goal,
    read_span_events,
    record_moves,
    start_run,
    starting_workflows_of,
    version_document,
    wake_run,
)
from footfall.store.workspace_settings import DEFAULT_TIMING, WorkspaceTiming, read_timing
from footfall.workflows.conditions import Facts, evaluate
from footfall.workflows.definitions import Limits, parse_definition
from footfall.workflows.document import Goal, Timer, WaitEvent
from footfall.workflows.durations import parse_duration
from footfall.workflows.plan import Plan, compile_plan
from footfall.workflows.starting import (
    Earlier,
    happening,
    match_keys,
    may_start,
    redundant,
    stops,
)
from footfall.workflows.stepping import Act, Finish, Listen, Outcome, Passed, Wait, advance, follow
from footfall.workflows.timing import timer_due
from footfall.zones import zone_for

__all__ = [
    "CONSUMER",
    "MAX_ACTIVE_PER_CONTACT",
    "Plans",
    "RunLoop",
    "decide",
    "handle_events",
    "handle_identity",
    "happened_since",
    "moved",
    "newsworthy",
]

log = logs.get("footfall.workflows")
CONSUMER = "workflows:events"
MAX_ACTIVE_PER_CONTACT = 100  # runs going at once for one contact, all workflows: the default
CLAIM = 500  # runs moved on per transaction of the loop
LEASE_SECONDS = 30.0
_STORED = Limits(max_blocks=10_000)  # stored documents were checked when saved


class Plans:
    """Compiled plans by (workflow, version), read from the store on first use; a version never
    changes, so an entry never goes stale. Bounded: the least recently used go first (a document
    is at most 256 KiB; 64 of them compiled stay within a few tens of megabytes)."""

    def __init__(self, size: int = 64) -> None:
        self._cache: cachetools.LRUCache[tuple[int, int], Plan] = cachetools.LRUCache(size)

    def get(self, tx: Cursor, workflow_id: int, version: int) -> Plan | None:
        key = (workflow_id, version)
        found = self._cache.get(key)
        if found is None:
            document = version_document(tx, workflow_id, version)
            if document is None:
                return None
            try:
                found = compile_plan(parse_definition(msgspec.json.decode(document), _STORED))
            except InvalidWorkflow as exc:  # stored by a version with other rules: none runs
                log.warning(
                    "stored workflow version refused",
                    action="workflow.version_refused",
                    workflow=workflow_id,
                    version=version,
                    error=exc.message,
                )
                return None
            self._cache[key] = found
        return found


# -- the feed consumer ---------------------------------------------------------------------------


@dataclass
class Page:
    """What the events of one page need, read at once, and kept current as the page starts and
    stops runs (a run started by one event may be stopped by the next)."""

    active: dict[int, list[Run]]  # contact → its runs going
    contacts: dict[int, dict[str, Any]]  # contact → its fields
    starting: dict[tuple[int, str], list[tuple[int, int]]]  # (workspace, type) → workflows
    earlier: dict[tuple[int, int], tuple[int | None, int]]  # (workflow, contact) → last, going
    goals: dict[int, list[PendingGoal]]  # contact → the goals its runs passed, still open
    max_active: int  # runs going at once for one contact
    zones: dict[int, WorkspaceTiming] = field(default_factory=dict)  # workspace → its timing
    changed: bool = False  # a run was started or woken: the workers are told once
    # New runs' first steps, recorded together (before anything else writes to one of them)
    taken: list[tuple[Run, Move]] = field(default_factory=list)

    @classmethod
    def read(cls, tx: Cursor, events: list[SpanEvent], now: int, max_active: int) -> Page:
        contacts = [e.contact_id for e in events]
        starting = starting_workflows_of(tx, [e.workspace_id for e in events])
        flows = [w for key in starting.values() for w, _ in key]
        return cls(
            active_runs_of(tx, contacts),
            contacts_fields(tx, contacts),
            starting,
            earlier_runs_of(tx, flows, contacts),
            pending_goals_of(tx, contacts, min(e.received_us for e in events)),
            max_active,
            read_timing(tx, [e.workspace_id for e in events]),
        )

    def record(self, tx: Cursor, now: int, contact: int | None = None) -> None:
        """Record the first steps taken (only if one of ``contact``'s runs took some)."""
        if contact is not None and not any(run.contact_id == contact for run, _ in self.taken):
            return
        if self.taken:
            record_moves(tx, self.taken, now)
            self.taken.clear()

    def replace(self, run: Run, now: Run) -> None:
        """The run as its first steps left it."""
        self.active[run.contact_id] = [
            now if r.id == run.id else r for r in self.active[run.contact_id]
        ]

    def ended(self, run: Run) -> None:
        self.active[run.contact_id] = [r for r in self.active[run.contact_id] if r.id != run.id]
        last, going = self.earlier.get((run.workflow_id, run.contact_id), (None, 1))
        self.earlier[(run.workflow_id, run.contact_id)] = (last, max(0, going - 1))

    def woken(self, run: Run) -> None:
        """No longer listening: a second event of the page does not wake it again."""
        self.active[run.contact_id] = [
            replace(r, listen_event=None) if r.id == run.id else r
            for r in self.active[run.contact_id]
        ]
        self.changed = True

    def started(self, run: Run) -> None:
        self.active[run.contact_id].append(run)
        _, going = self.earlier.get((run.workflow_id, run.contact_id), (None, 0))
        self.earlier[(run.workflow_id, run.contact_id)] = (run.started_us, going + 1)
        self.changed = True


def handle_events(
    tx: Cursor,
    dialect: Dialect,
    span: EventSpan,
    plans: Plans,
    now: int,
    max_active: int = MAX_ACTIVE_PER_CONTACT,
) -> int:
    """Stop, wake and start runs for the events of ``span``, in feed order; how many events
    concerned a workflow. A contact has at most ``max_active`` runs going at once
    (FOOTFALL_WORKFLOW_MAX_ACTIVE_PER_CONTACT)."""
    events = read_span_events(tx, dialect, span)
    news = newsworthy(tx, events)
    if news:
        page = Page.read(tx, news, now, max_active)
        for event in news:
            page.record(tx, now, event.contact_id)  # before the contact's runs are stopped
            _stop_or_wake(tx, dialect, event, plans, now, page)
            _start(tx, dialect, event, plans, now, page)
            _reach_goals(tx, event, plans, now, page)
        page.record(tx, now)
        if page.changed:
            dialect.notify(tx, DUE)
    return len(events)


def handle_identity(
    tx: Cursor,
    dialect: Dialect,
    changes: list[IdentityChange],
    plans: Plans,
    now: int,
    max_active: int = MAX_ACTIVE_PER_CONTACT,
) -> int:
    """After merges (the ``workflows:identity`` consumer): the survivor holds both contacts'
    runs; those its workflows' start policies (notWhileActive, oncePerContact, oncePerPeriod)
    or the per-contact bound would not have let start are stopped, the earliest kept."""
    survivors = sorted({c.contact_id for c in changes if c.kind == MERGED})
    for contact, runs in active_runs_of(tx, survivors).items():
        extra = set(_over_policy(tx, plans, runs))
        left = sorted((r.started_us, r.id) for r in runs if r.id not in extra)
        extra |= {run for _, run in left[max_active:]}
        at = {run.id: run.block or "start" for run in runs}
        for run_id in sorted(extra):
            reason = "stopped: its contact was merged with another that had a run going"
            end_run(tx, dialect, run_id, STOPPED, reason, now, block=at[run_id])
            log.info(
                "run stopped by a merge", action="workflow.merged", run=run_id, contact=contact
            )
    return len(changes)


def _over_policy(tx: Cursor, plans: Plans, runs: list[Run]) -> list[int]:
    by_workflow: dict[int, list[Run]] = {}
    for run in runs:
        by_workflow.setdefault(run.workflow_id, []).append(run)
    extra: list[int] = []
    for same in by_workflow.values():
        if len(same) < 2:
            continue
        first = min(same, key=lambda r: (r.started_us, r.id))
        plan = plans.get(tx, first.workflow_id, first.version)
        if plan is not None:
            extra += redundant(plan, [(r.started_us, r.id) for r in same])
    return extra


def newsworthy(tx: Cursor, events: list[SpanEvent]) -> list[SpanEvent]:
    """The news among ``events`` (they may start, stop or wake runs): live events, and orders
    dated within a day of their arrival or that change their order's status (a cancellation of
    an order placed a week ago is news; a nightly sync of unchanged old orders is not)."""
    late = [e for e in events if e.source == "order" and not _fresh(e)]
    changes = order_changes(tx, late) if late else set()
    return [e for e in events if _fresh(e) or e.id in changes]


def _fresh(event: SpanEvent) -> bool:
    return happening(event.source, event.occurred_us, event.received_us)


def _stop_or_wake(
    tx: Cursor, dialect: Dialect, event: SpanEvent, plans: Plans, now: int, page: Page
) -> None:
    for run in list(page.active[event.contact_id]):
        if run.event_id == event.id:
            continue
        plan = plans.get(tx, run.workflow_id, run.version)
        if plan is None:
            continue
        keys = run.match_keys if plan.stop_path is not None else None
        if stops(plan, event_type=event.event_type_key, params=event.params, run_keys=keys):
            reason = f"stopped by {event.event_type_key} (event {event.id})"
            end_run(tx, dialect, run.id, STOPPED, reason, now, block=run.block)
            page.ended(run)
        elif run.listen_event == event.event_type_key:
            contact = page.contacts[event.contact_id]
            awaited = _awaited(tx, plan, run, event, contact)
            if awaited and wake_run(tx, dialect, run, {"do": "event", "event": event.id}, now):
                page.woken(run)


def _awaited(tx: Cursor, plan: Plan, run: Run, event: SpanEvent, contact: dict[str, Any]) -> bool:
    """Whether ``event`` is the one the run's wait block waits for."""
    block = plan.blocks.get(run.block or "")
    if not isinstance(block, WaitEvent):
        return False
    condition = plan.conditions.get(block.id)
    if condition is not None and not evaluate(condition, Facts(event.params, contact)):
        return False
    path = plan.block_paths.get(block.id)
    if path is None:
        return True
    started = events_params(tx, [run.event_id]).get(run.event_id)
    return bool(set(match_keys(path, started)) & set(match_keys(path, event.params)))


def _reach_goals(tx: Cursor, event: SpanEvent, plans: Plans, now: int, page: Page) -> None:
    """Count the conversions ``event`` is: of each open goal of its contact's runs that waits
    for an event of its type (matching its ``when`` and ``matchParam``) within its window."""
    for goal in list(page.goals[event.contact_id]):
        if not goal.passed_us <= event.received_us <= goal.until_us:
            continue
        plan = plans.get(tx, goal.workflow_id, goal.version)
        block = plan.blocks.get(goal.block) if plan is not None else None
        if plan is None or not isinstance(block, Goal) or block.event != event.event_type_key:
            continue
        if not _converts(tx, plan, block, goal, event, page.contacts[event.contact_id]):
            continue
        note = f"reached by {event.event_type_key} (event {event.id})"
        reach_goal(tx, goal, event.id, note, now)
        page.goals[event.contact_id].remove(goal)


def _converts(
    tx: Cursor, plan: Plan, block: Goal, goal: PendingGoal, event: SpanEvent, contact: Any
) -> bool:
    condition = plan.conditions.get(block.id)
    if condition is not None and not evaluate(condition, Facts(event.params, contact)):
        return False
    path = plan.block_paths.get(block.id)
    if path is None:
        return True
    started = events_params(tx, [goal.start_event_id]).get(goal.start_event_id)
    return bool(set(match_keys(path, started)) & set(match_keys(path, event.params)))


def _start(
    tx: Cursor, dialect: Dialect, event: SpanEvent, plans: Plans, now: int, page: Page
) -> None:
    workflows = page.starting.get((event.workspace_id, event.event_type_key), [])
    for workflow_id, version in workflows:
        plan = plans.get(tx, workflow_id, version)
        if plan is None:
            continue
        last, active = page.earlier.get((workflow_id, event.contact_id), (None, 0))
        decision = may_start(
            plan,
            event_type=event.event_type_key,
            source=event.source,
            params=event.params,
            contact=page.contacts[event.contact_id],
            earlier=Earlier(last, active),
            now_us=event.received_us,
            # The page's events are news (newsworthy): an order that changes its status starts
            # runs however long ago it was placed.
            occurred_us=event.received_us if event.source == "order" else event.occurred_us,
        )
        if not decision.start:
            continue
        if len(page.active[event.contact_id]) >= page.max_active:
            log.warning(
                "run not started: the contact has too many runs going",
                action="workflow.contact_busy",
                workflow=workflow_id,
                contact=event.contact_id,
            )
            continue
        keys = match_keys(plan.match_path, event.params) if plan.match_path else None
        run_id = start_run(
            tx, dialect, event=event, workflow_id=workflow_id, version=version,
            match_keys=keys, now=now,
        )  # fmt: skip
        run = Run(
            run_id, event.workspace_id, workflow_id, version, event.contact_id, event.id,
            None if keys is None else tuple(keys), RUNNING, None, None, None, now, now, None,
        )  # fmt: skip
        page.started(run)
        if _stopped_before(tx, plan, event, keys):
            reason = "a stop event came within stop.lookBack before the start"
            end_run(tx, dialect, run_id, STOPPED, reason, now, block="start")
            page.ended(run)
        else:
            _first_steps(tx, plan, run, event, now, page)


def _first_steps(tx: Cursor, plan: Plan, run: Run, event: SpanEvent, now: int, page: Page) -> None:
    """Take a new run's first steps in the transaction that starts it: up to its first timer,
    wait or action (due at once for the action loop), without a round through the run loop.
    Should they fail, the run is left due at its start, for the run loop to take."""
    facts = Facts(event.params, page.contacts[event.contact_id])
    zone = page.zones.get(run.workspace_id, DEFAULT_TIMING).time_zone
    try:
        passed, outcome = advance(plan, plan.first, facts, f"{run.workflow_id}:{run.contact_id}")
        move = moved(plan, passed, outcome, facts, now, zone)
    except Exception:
        log.exception("first steps not taken", action="workflow.first_steps", run=run.id)
        return
    page.taken.append((run, move))
    page.replace(
        run,
        replace(
            run,
            status=move.status,
            block=move.block,
            listen_event=move.listen_event,
            updated_us=max(now, run.updated_us + 1),
        ),
    )
    if move.due_us is None:
        page.ended(run)


def _stopped_before(tx: Cursor, plan: Plan, event: SpanEvent, keys: list[str] | None) -> bool:
    stop = plan.definition.document.stop
    if stop is None or stop.look_back is None:
        return False
    look_back = parse_duration(stop.look_back, "stop.lookBack")
    since = to_us(look_back.before(moment_of(event.occurred_us)))
    earlier = events_between(tx, event.contact_id, stop.events, since, event.id)
    return any(
        stops(plan, event_type=kind, params=params, run_keys=keys) for kind, params in earlier
    )


# -- moving runs on ----------------------------------------------------------------------------


class RunLoop(WakeLoop):
    """Claims due runs, decides their next steps in one read, and records them in one write
    transaction per claim."""

    failed_action = "workflow.step_failed"

    def __init__(
        self,
        runs: RunStore,
        plans: Plans,
        owner: str,
        clock: Callable[[], int],
        at_action: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__("workflow runs")
        self.runs = runs
        self.plans = plans
        self.owner = owner
        self.clock = clock
        self.at_action = at_action  # called (from the loop's thread) when runs reach an action

    def idle_seconds(self) -> float:
        return 0.5

    async def step(self) -> None:
        await asyncio.to_thread(self.work)

    def work(self) -> int:
        """Move every due run on, a claim at a time; how many moved (blocking)."""
        moved = 0
        while not self.stopping:
            claimed = self.runs.claim(self.owner, CLAIM, int(LEASE_SECONDS * 1_000_000))
            decided = self._decided(claimed)
            moved += self.runs.move(self.owner, decided)
            if any(move.kind == ACTION for _, move in decided):
                self.at_action()
            if not claimed:  # a claim shared between workspaces may be short of CLAIM
                return moved
        return moved

    def _decided(self, claimed: list[Claimed]) -> list[tuple[Run, Move]]:
        """The next step of each claimed run, read in one snapshot."""

        def read(tx: Cursor) -> list[tuple[Run, Move]]:
            now = self.clock()
            contacts = contacts_fields(tx, [item.run.contact_id for item in claimed])
            params = events_params(tx, [item.run.event_id for item in claimed])
            zones = read_timing(tx, [item.run.workspace_id for item in claimed])
            return [
                (
                    item.run,
                    _decided_safely(
                        tx,
                        self.plans,
                        item,
                        now,
                        Facts(
                            params.get(item.run.event_id),
                            contacts[item.run.contact_id],
                            happened_since(tx, self.plans, item.run),
                        ),
                        zones.get(item.run.workspace_id, DEFAULT_TIMING).time_zone,
                    ),
                )
                for item in claimed
            ]

        return self.runs.read(read) if claimed else []

    async def stop(self) -> None:
        await self.halt()
        await asyncio.to_thread(self.runs.release, self.owner)


def happened_since(tx: Cursor, plans: Plans, run: Run) -> dict[str, list[Any]]:
    """The params of the news of the types the run's condition blocks ask about, stored since
    its starting event, by type (at most 100 events)."""
    plan = plans.get(tx, run.workflow_id, run.version)
    if plan is None or not plan.happened:
        return {}
    found: dict[str, list[Any]] = {}
    later = events_since_start(tx, run, sorted(plan.happened))
    for event in newsworthy(tx, later):
        found.setdefault(event.event_type_key, []).append(event.params)
    return found


def _decided_safely(
    tx: Cursor, plans: Plans, claimed: Claimed, now: int, facts: Facts, zone: str
) -> Move:
    """``decide``, or a failed run when deciding raised: one run that cannot go on must not
    hold up the others claimed with it, nor come back forever."""
    try:
        return decide(tx, plans, claimed, now, facts, zone)
    except StorageUnavailable:
        raise
    except Exception as exc:
        log.exception("workflow run failed", action="workflow.run_failed", run=claimed.run.id)
        reason = f"the engine could not take its next step ({type(exc).__name__})"
        return Move([], claimed.run.block, FAILED, None, reason=reason)


def decide(
    tx: Cursor, plans: Plans, claimed: Claimed, now: int, facts: Facts, zone: str = "UTC"
) -> Move:
    """The next step of a claimed run (reads only), given its starting event's params, its
    contact's fields and its workspace's time zone."""
    run = claimed.run
    plan = plans.get(tx, run.workflow_id, run.version)
    if plan is None:
        return Move([], run.block, FAILED, None, reason="its workflow version is gone")
    seed = f"{run.workflow_id}:{run.contact_id}"
    state = claimed.state if isinstance(claimed.state, dict) else {}
    doing = state.get("do")
    if run.block is None or doing == "start":
        passed, outcome = advance(plan, plan.first, facts, seed)
    elif doing == "timer":
        passed, outcome = follow(plan, run.block, "next", facts, seed)
    elif doing in ("event", "timeout"):
        passed, outcome = follow(plan, run.block, doing, facts, seed)
    else:
        return Move([], run.block, FAILED, None, reason=f"unknown step {doing!r}")
    return moved(plan, passed, outcome, facts, now, zone)


def moved(
    plan: Plan,
    passed: list[Passed],
    outcome: Outcome,
    facts: Facts,
    now: int,
    zone: str = "UTC",
) -> Move:
    """The move of a run that passed ``passed`` and is now at ``outcome``: over, at a timer
    (due when it falls due), waiting for an event (until its timeout), or at an action (due now,
    taken by the action loop). Timers fall due in the contact's time zone, else ``zone`` (the
    workspace's)."""
    goals = [
        (p.block, to_us(parse_duration(block.within, f"{p.block}.within").after(moment_of(now))))
        for p in passed
        if isinstance(block := plan.blocks[p.block], Goal)
    ]
    return replace(_moved(plan, passed, outcome, facts, now, zone), goals=goals)


def _moved(
    plan: Plan, passed: list[Passed], outcome: Outcome, facts: Facts, now: int, zone: str
) -> Move:
    contact = facts.contact
    steps: list[tuple[str, str | None, str | None]] = [(p.block, p.branch, None) for p in passed]
    if isinstance(outcome, Finish):
        steps.append((outcome.block, None, outcome.reason))
        status = COMPLETED if outcome.status == "completed" else FAILED
        return Move(steps, outcome.block, status, None, reason=outcome.reason)
    block = plan.blocks[outcome.block]
    if isinstance(outcome, Wait) and isinstance(block, Timer):
        local = zone_for(_text(contact.get("timeZone")), zone, block.time_zone)
        due = timer_due(block, moment_of(now), params=facts.params, contact=contact, zone=local)
        if due.note:
            steps.append((block.id, None, due.note))
        return Move(steps, block.id, WAITING, to_us(due.at), state={"do": "timer"})
    if isinstance(outcome, Listen) and isinstance(block, WaitEvent):
        timeout = parse_duration(block.timeout, f"{block.id}.timeout")
        until = to_us(timeout.after(moment_of(now)))
        return Move(
            steps, block.id, WAITING, until, listen_event=block.event, state={"do": "timeout"}
        )
    assert isinstance(outcome, Act)
    return Move(steps, block.id, RUNNING, now, state={"do": "act"}, kind=ACTION)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
