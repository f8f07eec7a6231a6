"""The date scan: runs of workflows started by a contact date (a birthday), created ahead of
their moments a page of contacts at a time.

A periodic job (once a minute in the whole deployment, under a lease: background/jobs.py) calls
``DateScan.run``. It goes in rounds: in each, every enabled workflow started by a contact date
reads one page of its workspace's contacts changed since it last looked and one page of its pass
over all of them (see ``dating``), until all are done or the budget is spent; the rest goes on
at the next scan, so a workspace with a million contacts holds up no other. Each page is read in
a read transaction, then written in a short one that first checks the workflow's position is
still the one read (a crash before the commit leaves nothing half done, and two scans never both
write a page) and saves the new position with the runs it starts, moves and stops.

A run is created waiting at no block, its first step due at its moment; until then it counts
as going (notWhileActive, the cap per contact), a stop event stops it, and its contact's changes
move or stop it. What is decided is pure (``dating``, ``starting.may_start_on_date``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from footfall import logs
from footfall.exceptions import StorageUnavailable
from footfall.ingest.dates import moment_of, to_us
from footfall.store.cursor import Cursor
from footfall.store.workflow_dates import (
    DatedContact,
    DateFlow,
    DateRun,
    DateStore,
    ScanPosition,
    active_counts,
    contacts_after,
    contacts_changed,
    date_workflows,
    earlier_date_runs,
    forget_position,
    move_date_run,
    occasions_of,
    read_position,
    save_position,
    stale_positions,
    start_date_runs,
    stop_waiting,
    waiting_in,
    waiting_of,
)
from footfall.store.workflow_runs import contacts_fields, events_between
from footfall.store.workspace_settings import DEFAULT_TIMING, read_timing
from footfall.workflows.dating import (
    DatePolicy,
    Occasion,
    covered_until,
    next_occasion,
    pass_due,
    spec_of,
)
from footfall.workflows.document import ContactDate
from footfall.workflows.durations import parse_duration
from footfall.workflows.engine import MAX_ACTIVE_PER_CONTACT, Plans
from footfall.workflows.plan import Plan
from footfall.workflows.starting import Earlier, may_start_on_date, stops
from footfall.zones import zone_for

__all__ = ["DateScan"]

log = logs.get("footfall.workflows")
CHANGES, PASS = "changes", "pass"
_LAST_EVENT = 2**62  # events_between reads events before this id: all of them
DEFAULT_POLICY = DatePolicy()
RESTARTED = "the workflow's contactDate changed before the run's moment"
RETIRED = (
    "the workflow was disabled, or no longer starts on a contact date, before the run's moment"
)


@dataclass(frozen=True, slots=True)
class Look:
    """What a page's read found: the position it read and the one to save, the contacts due
    to start (a pass) or changed (with their next occasion, None: none)."""

    before: ScanPosition | None
    after: ScanPosition
    done: bool  # nothing more of this kind for now
    starts: list[tuple[DatedContact, Occasion]] = field(default_factory=list)
    changes: list[tuple[DatedContact, Occasion | None]] = field(default_factory=list)


class DateScan:
    def __init__(
        self,
        store: DateStore,
        plans: Plans,
        clock: Callable[[], int],
        policy: DatePolicy = DEFAULT_POLICY,
        max_active: int = MAX_ACTIVE_PER_CONTACT,
    ) -> None:
        self.store = store
        self.plans = plans
        self.clock = clock
        self.policy = policy
        self.max_active = max_active  # runs going at once for one contact, all workflows

    def run(self) -> int:
        """One scan (blocking): rounds of a page of each kind per workflow until all are done
        or the budget is spent (one round at least); how many runs it started."""
        deadline = time.monotonic() + self.policy.budget
        for workflow_id in self.store.read(stale_positions):
            self.store.transact(self._retire(workflow_id))
        flows = self.store.read(date_workflows)
        todo = [(flow, kind) for flow in flows for kind in (CHANGES, PASS)]
        started = 0
        while todo:
            left = []
            for flow, kind in todo:
                done, count = self._page(flow, kind)
                started += count
                if not done:
                    left.append((flow, kind))
            todo = left if time.monotonic() < deadline else []
        return started

    def _retire(self, workflow_id: int) -> Callable[[Cursor], None]:
        """Stop the runs still waiting for their moment, a page at a time, then forget the
        workflow's position (enabled again, it starts from now)."""

        def work(tx: Cursor) -> None:
            if self._stop_all_waiting(tx, workflow_id, RETIRED, self.clock()):
                forget_position(tx, workflow_id)

        return work

    def _stop_all_waiting(self, tx: Cursor, workflow_id: int, reason: str, now: int) -> bool:
        """Stop a page of the workflow's runs waiting for their moment; True when none is left."""
        waiting = waiting_in(tx, workflow_id, now, self.policy.page)
        for run in waiting:
            stop_waiting(tx, self.store.dialect, run, reason, now)
        return len(waiting) < self.policy.page

    def _page(self, flow: DateFlow, kind: str) -> tuple[bool, int]:
        """One page of ``kind``: (whether it is done for now, runs started)."""
        try:
            found = self.store.read(lambda tx: self._look(tx, flow, kind))
            if found is None:
                return True, 0
            plan, look = found
            return self.store.transact(lambda tx: self._write(tx, flow, plan, look))
        except StorageUnavailable:
            raise
        except Exception:  # one workflow that cannot be scanned must not stop the others
            log.exception("date scan failed", action="workflow.date_scan_failed", workflow=flow.id)
            return True, 0

    def _look(self, tx: Cursor, flow: DateFlow, kind: str) -> tuple[Plan, Look] | None:
        plan = self.plans.get(tx, flow.id, flow.version)
        start = plan.definition.document.start.contact_date if plan is not None else None
        if plan is None or start is None:
            return None
        now = self.clock()
        before = read_position(tx, flow.id)
        if before is None or before.spec != spec_of(start):  # new, or another date: from now
            changed = now - self.policy.us(self.policy.settle)
            return plan, Look(before, ScanPosition(spec_of(start), now, None, 0, changed, 0), False)
        zone = read_timing(tx, [flow.workspace_id]).get(flow.workspace_id, DEFAULT_TIMING)
        if kind == PASS:
            return _or_none(plan, self._look_pass(tx, flow, start, before, zone.time_zone, now))
        return _or_none(plan, self._look_changes(tx, flow, start, before, zone.time_zone, now))

    def _look_pass(
        self,
        tx: Cursor,
        flow: DateFlow,
        start: ContactDate,
        at: ScanPosition,
        ws_zone: str,
        now: int,
    ) -> Look | None:
        """The next page of the pass over every contact (begun when due): the contacts whose
        next moment after the covered window falls within the pass's."""
        policy = self.policy
        target, after = at.pass_until_us, at.pass_after
        if target is None:
            if not pass_due(at.until_us, now, policy):
                return None
            target, after = now + policy.us(policy.lookahead), 0
        page = contacts_after(
            tx, self.store.dialect, flow.workspace_id, start.field, after, policy.page
        )
        lower = max(at.until_us, now - policy.us(policy.late))
        starts = [
            (contact, occasion)
            for contact in page
            if (occasion := _next(start, contact, ws_zone, lower)) and occasion.due_us <= target
        ]
        if len(page) < policy.page:
            return Look(
                at, replace(at, until_us=target, pass_until_us=None, pass_after=0), True, starts
            )
        return Look(at, replace(at, pass_until_us=target, pass_after=page[-1].id), False, starts)

    def _look_changes(
        self,
        tx: Cursor,
        flow: DateFlow,
        start: ContactDate,
        at: ScanPosition,
        ws_zone: str,
        now: int,
    ) -> Look | None:
        """The next page of contacts changed since the last look (created, edited, deleted,
        merged), each with its next occasion after now."""
        policy = self.policy
        upto = now - policy.us(policy.settle)
        after = (at.changed_us, at.changed_id)
        page = contacts_changed(
            tx, self.store.dialect, flow.workspace_id, start.field, after, upto, policy.page
        )
        if not page:
            return None
        changes = [(contact, _next(start, contact, ws_zone, now)) for contact in page]
        position = replace(at, changed_us=page[-1].updated_us, changed_id=page[-1].id)
        return Look(at, position, len(page) < policy.page, changes=changes)

    def _write(self, tx: Cursor, flow: DateFlow, plan: Plan, look: Look) -> tuple[bool, int]:
        """Start, move and stop what the page's read found, and save the new position, unless
        the position moved since the read (then the page is read again)."""
        now = self.clock()
        if read_position(tx, flow.id, self.store.dialect.for_update) != look.before:
            return False, 0
        restarted = look.before is not None and look.before.spec != look.after.spec
        if restarted and not self._stop_all_waiting(tx, flow.id, RESTARTED, now):
            return False, 0  # more to stop: the next round goes on
        starts = list(look.starts)
        if look.changes:
            assert look.before is not None
            starts += self._reconcile(tx, flow, plan, look.before, look.changes, now)
        started = self._start(tx, flow, plan, starts, now)
        save_position(tx, flow.id, look.after)
        return look.done, started

    def _reconcile(
        self,
        tx: Cursor,
        flow: DateFlow,
        plan: Plan,
        at: ScanPosition,
        changes: list[tuple[DatedContact, Occasion | None]],
        now: int,
    ) -> list[tuple[DatedContact, Occasion]]:
        """Changed contacts: a waiting run whose occasion is still the contact's next moves
        with it, the others stop; a next occasion within the covered window and without a run
        is to start."""
        dialect, field_name = self.store.dialect, _field(plan)
        waiting = waiting_of(tx, flow.id, [contact.id for contact, _ in changes], now)
        starts = []
        for contact, occasion in changes:
            kept = False
            for run in waiting.get(contact.id, []):
                if occasion is not None and run.occasion == occasion.day and not kept:
                    kept = True
                    if run.due_us != occasion.due_us and occasion.due_us > now:
                        move_date_run(tx, dialect, run, occasion.due_us, now)
                    continue
                stop_waiting(tx, dialect, run, _stop_reason(contact, kept, field_name), now)
            bound = covered_until(contact.id, at.until_us, at.pass_until_us, at.pass_after)
            if occasion is not None and not kept and occasion.due_us <= bound:
                starts.append((contact, occasion))
        return starts

    def _start(
        self,
        tx: Cursor,
        flow: DateFlow,
        plan: Plan,
        found: list[tuple[DatedContact, Occasion]],
        now: int,
    ) -> int:
        """Start a run for each contact found, unless it had one for that occasion, or its
        conditions, notWhileActive, the repeat policy or the cap per contact say no."""
        had = occasions_of(tx, flow.id, [contact.id for contact, _ in found]) if found else {}
        fresh = [(c, o) for c, o in found if o.day not in had.get(c.id, set())]
        if not fresh:
            return 0
        ids = [contact.id for contact, _ in fresh]
        fields = contacts_fields(tx, ids) if plan.start_when is not None else {}
        earlier = earlier_date_runs(tx, flow.id, ids)
        going = active_counts(tx, ids)
        runs = []
        for contact, occasion in fresh:
            last, active = earlier.get(contact.id, (None, 0))
            decision = may_start_on_date(
                plan,
                contact=fields.get(contact.id, {}),
                earlier=Earlier(last, active),
                now_us=occasion.due_us,
            )
            if not decision.start:
                continue
            if going.get(contact.id, 0) >= self.max_active:
                log.warning(
                    "run not started: the contact has too many runs going",
                    action="workflow.contact_busy",
                    workflow=flow.id,
                    contact=contact.id,
                )
                continue
            stopped = _stopped_before(tx, plan, contact.id, occasion.due_us)
            runs.append(
                DateRun(contact.id, occasion.day, occasion.due_us, _note(plan, occasion), stopped)
            )
        start_date_runs(tx, flow, runs, now)
        return sum(run.stopped is None for run in runs)


def _or_none(plan: Plan, look: Look | None) -> tuple[Plan, Look] | None:
    return None if look is None else (plan, look)


def _next(start: ContactDate, contact: DatedContact, ws_zone: str, after: int) -> Occasion | None:
    if contact.gone or contact.value is None:
        return None
    return next_occasion(start, contact.value, zone_for(contact.time_zone, ws_zone), after)


def _field(plan: Plan) -> str:
    start = plan.definition.document.start.contact_date
    return start.field if start is not None else "date"


def _stop_reason(contact: DatedContact, duplicate: bool, field_name: str) -> str:
    if contact.gone:
        return "the contact was deleted before the run's moment"
    if duplicate:
        return "another run waits for the same date (contacts merged)"
    return f"the contact's {field_name} changed before the run's moment"


def _note(plan: Plan, occasion: Occasion) -> str:
    start = plan.definition.document.start.contact_date
    assert start is not None
    at = moment_of(occasion.due_us)
    before = f"{start.days_before} days before " if start.days_before else ""
    return f"due at {at.isoformat().replace('+00:00', 'Z')}: {before}{start.field} {occasion.day}"


def _stopped_before(tx: Cursor, plan: Plan, contact_id: int, due_us: int) -> str | None:
    """A stop event within stop.lookBack before the moment (one already stored): the run is
    recorded stopped, as a run started by an event is."""
    stop = plan.definition.document.stop
    if stop is None or stop.look_back is None:
        return None
    moment = moment_of(due_us)
    since = to_us(parse_duration(stop.look_back, "stop.lookBack").before(moment))
    earlier = events_between(tx, contact_id, stop.events, since, _LAST_EVENT)
    if any(stops(plan, event_type=kind, params=params, run_keys=None) for kind, params in earlier):
        return "a stop event came within stop.lookBack before the start"
    return None
