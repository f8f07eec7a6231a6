"""The action loop: runs at an action block (``http``, ``emit``, ``setField``; due work of kind
``workflow_action``) are claimed, checked and acted on, each in a task of its own, at most
``slots`` at work at once, so a slow receiver holds up one slot, never the timers of the run
loop; a request in flight for WAITING_SECONDS frees its slot (it costs a socket, no work), so
receivers that hang hold up no other workspace's actions either.

Before every action the run is checked again: a stop event stored since its start (that the
feed consumer has not reached yet) stops it, start conditions on contact fields that no longer
hold stop it, and outside its allowed hours (the block's, else the workspace's, in the contact's
time zone) it waits for the next window.

- ``emit`` and ``setField`` write in the transaction that moves the run on: exactly once.
- ``http`` is at least once: the attempt is recorded (and the run held until the request's
  deadline) before the request leaves; its outcome is recorded after. A worker that dies in
  between leaves the attempt's outcome unknown: the next worker records it as such and tries
  again with the same ``Idempotency-Key``. A failure that may pass (no answer, 408, 429, 5xx) is
  tried again ``retries`` times (10 s, 1 min, 5 min, 30 min, then hourly); a refusal (another
  4xx) or the last failure takes the block's ``failed`` branch (or fails the run).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import msgspec

from footfall import logs
from footfall.decoding import MAX_DEPTH, deeper_than
from footfall.eventtypes.registry import rules_from_json
from footfall.eventtypes.rules import RuleLookup, TypeRules
from footfall.exceptions import InvalidContact, InvalidEvent, StorageUnavailable
from footfall.identity.contacts import checked_field
from footfall.identity.locators import Locators
from footfall.ingest.dates import moment_of, to_us
from footfall.ingest.events import check_key_value, json_type, refuse_nul, typed_params
from footfall.ingest.models import Param
from footfall.loops import WakeLoop
from footfall.outbound.sender import Sender
from footfall.records import NewEvent
from footfall.store.contacts import set_field
from footfall.store.cursor import Cursor
from footfall.store.dialect import Dialect
from footfall.store.registry import type_settings
from footfall.store.workflow_dates import events_since_start
from footfall.store.workflow_runs import (
    ACTION,
    FAILED,
    RUNNING,
    STOPPED,
    Claimed,
    Move,
    Run,
    RunStore,
    StartingEvent,
    add_steps,
    contacts_channels,
    contacts_fields,
    starting_events,
)
from footfall.store.workspace_settings import DEFAULT_TIMING, WorkspaceTiming, read_timing
from footfall.store.writer import write_items
from footfall.workflows.acting import (
    Request,
    emission,
    event_data,
    field_value,
    http_request,
    idempotency_key,
    retry_after,
    retryable,
    template_data,
)
from footfall.workflows.conditions import Facts, evaluate
from footfall.workflows.document import Emit, Hours, Http, SetField
from footfall.workflows.durations import parse_duration
from footfall.workflows.engine import Plans, happened_since, moved, newsworthy
from footfall.workflows.plan import Plan
from footfall.workflows.starting import stops
from footfall.workflows.stepping import follow
from footfall.workflows.templates import RenderFailed
from footfall.workflows.timing import next_allowed
from footfall.zones import zone_for

__all__ = ["IN_FLIGHT", "SLOTS", "ActionLoop", "Prepared"]

log = logs.get("footfall.workflows")
SLOTS = 32  # actions at work at once in one worker
WAITING_SECONDS = 0.25  # an action in flight longer waits on its receiver: its slot is free again
IN_FLIGHT = 8 * SLOTS  # actions in flight at once in one worker, waiting ones included
LEASE_US = 30_000_000
MAX_EMITTED_BYTES = 32 * 1024  # an emitted event's params, as JSON
MARGIN_US = 5_000_000  # a request's run is due again this long after its deadline

Effect = Callable[[Cursor, int], None]


@dataclass(frozen=True, slots=True)
class Prepared:
    """What to do with a claimed run: a move to record (with the effect written with it), or a
    request to send first."""

    move: Move | None = None
    effect: Effect | None = None
    request: Request | None = None
    send: Send | None = None


@dataclass(frozen=True, slots=True)
class Send:
    """An HTTP block's attempt: what follows its outcome needs the plan and the run's facts."""

    plan: Plan
    block: Http
    attempt: int
    timeout: float
    facts: Facts
    zone: str  # the workspace's time zone


class ActionLoop(WakeLoop):
    failed_action = "workflow.action_failed"

    def __init__(
        self,
        runs: RunStore,
        plans: Plans,
        owner: str,
        clock: Callable[[], int],
        sender: Sender,
        emitted: Callable[[], None] = lambda: None,
        slots: int = SLOTS,
        in_flight: int = IN_FLIGHT,
    ) -> None:
        super().__init__("workflow actions")
        self.runs = runs
        self.plans = plans
        self.owner = owner
        self.clock = clock
        self.sender = sender
        self.emitted = emitted  # an event was stored: the feed's consumers look now
        self.slots = slots
        self.in_flight = in_flight  # the sender's connections: as many
        self.per_workspace = slots  # one workspace's runs in flight, waiting ones included
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy: Counter[int] = Counter()  # workspace → its runs claimed, not done yet
        self._since: dict[int, float] = {}  # run → when it was claimed (monotonic)

    def idle_seconds(self) -> float:
        """Half a second; while every slot is at work, until the first of them is waiting."""
        working = self._working()
        if len(working) < self.slots:
            return 0.5
        return max(0.01, min(working) + WAITING_SECONDS - time.monotonic())

    def _working(self) -> list[float]:
        """When the actions at work were claimed: those not yet waiting on a receiver."""
        since = time.monotonic() - WAITING_SECONDS
        return [claimed for claimed in self._since.values() if claimed > since]

    def _free(self) -> int:
        """Slots free: an action in flight for WAITING_SECONDS is waiting on its receiver and
        holds none (receivers that hang hold up no one else's actions), within ``in_flight``
        in all (what hanging receivers can hold of the process: a socket each)."""
        return min(self.slots - len(self._working()), self.in_flight - len(self._since))

    def _claimed(self, claimed: list[Claimed]) -> None:
        now = time.monotonic()
        self._busy.update(item.run.workspace_id for item in claimed)
        self._since.update((item.run.id, now) for item in claimed)

    async def step(self) -> None:
        free = self._free()
        if free <= 0:
            return  # a run's end, or idle_seconds, wakes the loop
        claimed, prepared = await asyncio.to_thread(self._claim, free, self._room)
        if claimed:
            self._claimed(claimed)
            task = asyncio.get_running_loop().create_task(self._act(claimed, prepared))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _claim(
        self, limit: int, room: Callable[[int], int] | None
    ) -> tuple[list[Claimed], list[Prepared]]:
        """Due runs read and prepared (templates rendered) in a read, then taken with the
        attempts of their requests held in one short write (RunStore.claim_prepared)."""
        dialect, now = self.runs.dialect, self.clock()

        def prepare(tx: Cursor, found: list[Claimed]) -> list[Prepared]:
            return prepare_all(tx, dialect, self.plans, found, now)

        def attempts(
            found: list[Claimed], prepared: list[Prepared]
        ) -> list[tuple[Run, dict[str, Any], int]]:
            pairs = zip(found, prepared, strict=True)
            return [_attempt(item.run, p.send, now) for item, p in pairs if p.send is not None]

        return self.runs.claim_prepared(
            self.owner, limit, LEASE_US, ACTION, room, prepare, attempts
        )

    def _room(self, workspace_id: int) -> int:
        """How many more runs of a workspace this worker may hold at its actions, waiting ones
        included: as many as it has slots, so that one workspace alone has the whole worker,
        and an eighth of what may be in flight, so that receivers that hang in one workspace
        leave room for the others."""
        return self.per_workspace - self._busy[workspace_id]

    async def drain(self) -> int:
        """Act on every run at an action and due now, each claim awaited: how many acts (for
        tests and one-off use; the running loop uses ``step``)."""
        acted = 0
        while True:
            claimed, prepared = await asyncio.to_thread(self._claim, self.slots, None)
            if not claimed:
                return acted
            self._claimed(claimed)
            await self._act(claimed, prepared)
            acted += len(claimed)

    def _finished(self, runs: list[Run]) -> None:
        """These runs' actions are over: their slots are free."""
        self._busy.subtract(run.workspace_id for run in runs)
        self._busy += Counter()  # drop the workspaces at zero
        for run in runs:
            self._since.pop(run.id, None)
        self.wake.set()

    async def stop(self, grace: float) -> None:
        """Take no more; let requests in flight end (within ``grace`` seconds), then give back
        every run this worker holds (one whose request was cut off is due at its deadline, and
        its outcome is unknown)."""
        await self.halt()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.to_thread(self.runs.release, self.owner)
        await self.sender.close()

    async def _act(self, claimed: list[Claimed], prepared: list[Prepared]) -> None:
        """A claim's actions, prepared and their requests' attempts held when claimed: emits,
        fields set and other moves recorded in one transaction; the requests sent at once, and
        their outcomes recorded as they come (those that come together in one transaction)."""
        pending = {item.run.id: item.run for item in claimed}
        try:
            moves = [(item.run, p) for item, p in zip(claimed, prepared, strict=True) if p.move]
            sends = [(item.run, p) for item, p in zip(claimed, prepared, strict=True) if p.send]
            if moves:
                await self._record(moves)
                self._finished([pending.pop(run.id) for run, _ in moves])
            if sends:
                await self._send(sends, pending)
        except StorageUnavailable as exc:
            log.warning(
                "workflow actions not taken: storage unavailable",
                action="workflow.action_unavailable",
                runs=len(claimed),
                error=str(exc),
            )
        finally:
            self._finished(list(pending.values()))

    async def _record(self, moves: list[tuple[Run, Prepared]]) -> None:
        """The moves, each run's effect with it, in one transaction; should the database refuse
        one effect, each run alone (the one refused fails, once)."""
        effects = {run.id: p.effect for run, p in moves if p.effect is not None}
        pairs = [(run, p.move) for run, p in moves if p.move is not None]
        try:
            await asyncio.to_thread(self.runs.move, self.owner, pairs, effects)
        except StorageUnavailable:
            raise
        except Exception:
            if len(pairs) == 1:
                await self._fail(pairs[0][0])
            else:
                for run, p in moves:
                    await self._record([(run, p)])
            return
        if effects:
            self.emitted()
        if any(move.kind == ACTION and move.due_us is not None for _, move in pairs):
            self.wake.set()

    async def _fail(self, run: Run) -> None:
        log.exception("workflow action failed", action="workflow.run_failed", run=run.id)
        reason = "its action could not be taken (the database refused its effect)"
        failed = Move(
            [(run.block or "start", None, reason)], run.block, FAILED, None, reason=reason
        )
        await asyncio.to_thread(self.runs.move, self.owner, [(run, failed)])

    async def _send(self, sends: list[tuple[Run, Prepared]], pending: dict[int, Run]) -> None:
        going = {asyncio.ensure_future(self._request(run, p)) for run, p in sends}
        while going:
            done, going = await asyncio.wait(going, return_when=asyncio.FIRST_COMPLETED)
            moves = [task.result() for task in done]
            await asyncio.to_thread(self.runs.move, self.owner, moves)
            self._finished([pending.pop(run.id) for run, _ in moves])

    async def _request(self, run: Run, prepared: Prepared) -> tuple[Run, Move]:
        request, send = prepared.request, prepared.send
        assert request is not None and send is not None
        outcome = await self.sender.request(
            request.method, request.url, request.payload, request.headers, send.timeout
        )
        note = f"attempt {send.attempt}: {request.method} {_shown_url(request.url)} " + (
            f"answered {outcome.status_code}"
            if outcome.status_code is not None
            else f"failed: {outcome.error}"
        )
        note += f" ({outcome.latency_ms:.0f} ms)"
        now = self.clock()
        block, plan = send.block, send.plan
        if outcome.delivered:
            return run, _followed(plan, run, block.id, "next", send.facts, now, note, send.zone)
        refused = (outcome.error or "").startswith("refused")  # the guard's or the client's
        if not refused and retryable(outcome.status_code) and send.attempt <= block.retries:
            due = now + int(retry_after(send.attempt) * 1_000_000)
            return run, Move(
                [(block.id, None, f"{note}; tried again at {_iso(due)}")],
                block.id,
                RUNNING,
                due,
                state={"do": "act", "attempt": send.attempt + 1},
                kind=ACTION,
            )
        return run, _followed(plan, run, block.id, "failed", send.facts, now, note, send.zone)


def _attempt(run: Run, send: Send, now: int) -> tuple[Run, dict[str, Any], int]:
    """The attempt held before a request leaves: its state, and until when (its deadline)."""
    deadline = now + int(send.timeout * 1_000_000) + MARGIN_US
    return run, {"do": "act", "attempt": send.attempt, "sending": True}, deadline


def _prepared_safely(
    tx: Cursor, dialect: Dialect, plans: Plans, item: Claimed, now: int, known: Known
) -> Prepared:
    """``prepare``, or a failed run when preparing raised: one run that cannot go on must not
    hold up the others claimed with it, nor come back for ever."""
    try:
        return prepare(tx, dialect, plans, item, now, known)
    except StorageUnavailable:
        raise
    except Exception as exc:
        log.exception("workflow action failed", action="workflow.run_failed", run=item.run.id)
        reason = f"the engine could not take its next step ({type(exc).__name__})"
        return Prepared(Move([], item.run.block, FAILED, None, reason=reason))


@dataclass(frozen=True, slots=True)
class Known:
    """What the runs of one claim are acted on with, read once for all of them."""

    events: dict[int, StartingEvent]
    contacts: dict[int, dict[str, Any]]
    channels: dict[int, dict[str, str]]
    timing: dict[int, WorkspaceTiming]

    @classmethod
    def read(cls, tx: Cursor, runs: Sequence[Run]) -> Known:
        contacts = [run.contact_id for run in runs]
        return cls(
            starting_events(tx, [run.event_id for run in runs]),
            contacts_fields(tx, contacts),
            contacts_channels(tx, contacts),
            read_timing(tx, [run.workspace_id for run in runs]),
        )


def prepare_all(
    tx: Cursor, dialect: Dialect, plans: Plans, claimed: Sequence[Claimed], now: int
) -> list[Prepared]:
    """What each claimed run at an action does now (reads only)."""
    known = Known.read(tx, [item.run for item in claimed])
    return [_prepared_safely(tx, dialect, plans, item, now, known) for item in claimed]


def prepare(
    tx: Cursor, dialect: Dialect, plans: Plans, item: Claimed, now: int, known: Known
) -> Prepared:
    """What a claimed run at an action does now (reads only)."""
    run = item.run
    plan = plans.get(tx, run.workflow_id, run.version)
    if plan is None:
        return Prepared(Move([], run.block, FAILED, None, reason="its workflow version is gone"))
    block = plan.blocks.get(run.block or "")
    if not isinstance(block, Http | Emit | SetField):
        reason = f"the run is at {run.block!r}, not at an action"
        return Prepared(Move([], run.block, FAILED, None, reason=reason))
    event = known.events.get(run.event_id)
    contact = known.contacts.get(run.contact_id, {})
    facts = Facts(
        event.params if event is not None else None, contact, happened_since(tx, plans, run)
    )
    stopped = _stopped(tx, plan, run, facts, block.id)
    if stopped is not None:
        return Prepared(stopped)
    state = item.state if isinstance(item.state, dict) else {}
    attempt = int(state.get("attempt", 1))
    timing = known.timing.get(run.workspace_id, DEFAULT_TIMING)
    zone = timing.time_zone
    if state.get("sending"):
        return Prepared(_unknown(plan, run, block, attempt, facts, now, zone))
    deferred = _deferred(block, timing, contact, now, item)
    if deferred is not None:
        return Prepared(deferred)
    data = template_data(
        _event_data(event), {**contact, **known.channels.get(run.contact_id, {})}, _run_data(run)
    )
    try:
        return _acting(
            dialect, plan, run, block, data, facts, event, attempt, now, zone, _rules_in(tx)
        )
    except RenderFailed as exc:
        branch = "failed" if isinstance(block, Http) else None
        if branch is None:
            note = str(exc)
            return Prepared(Move([(block.id, None, note)], block.id, FAILED, None, reason=note))
        return Prepared(_followed(plan, run, block.id, branch, facts, now, str(exc), zone))


def _acting(
    dialect: Dialect,
    plan: Plan,
    run: Run,
    block: Http | Emit | SetField,
    data: dict[str, Any],
    facts: Facts,
    event: StartingEvent | None,
    attempt: int,
    now: int,
    zone: str,
    rules: RuleLookup,
) -> Prepared:
    if isinstance(block, Http):
        request = http_request(block, data, idempotency_key(run.id, block.id))
        moment = moment_of(now)
        timeout = (parse_duration(block.timeout, "timeout").after(moment) - moment).total_seconds()
        return Prepared(request=request, send=Send(plan, block, attempt, timeout, facts, zone))
    if isinstance(block, Emit):
        if event is not None and event.source == "workflow":
            note = "not emitted: the run was started by an event a workflow emitted"
            return Prepared(_followed(plan, run, block.id, "next", facts, now, note, zone))
        made = emission(block, data, event.key_value if event is not None else _contact_key(data))
        params = _typed(made.event_type_key, made.params, run.workspace_id, rules)
        effect = _emit_effect(dialect, run, made.event_type_key, made.key_value, params)
        note = f"emitted {made.event_type_key}"
        return Prepared(_followed(plan, run, block.id, "next", facts, now, note, zone), effect)
    try:
        value = checked_field(block.field.strip(), field_value(block, data))
    except InvalidContact as exc:
        note = f"{block.field} not set: {exc.message}"
        return Prepared(_followed(plan, run, block.id, "next", facts, now, note, zone))
    effect = _set_effect(dialect, run, block, value)
    return Prepared(
        _followed(plan, run, block.id, "next", facts, now, f"set {block.field}", zone), effect
    )


def _rules_in(tx: Cursor) -> RuleLookup:
    """The workspace's own rules of a type, read in this transaction."""

    def lookup(workspace_id: int, key: str) -> TypeRules | None:
        settings = type_settings(tx, workspace_id, key)
        return None if settings is None else _compiled(msgspec.json.encode(settings).decode())

    return lookup


@functools.lru_cache(maxsize=64)
def _compiled(settings_json: str) -> TypeRules | None:
    return rules_from_json(msgspec.json.decode(settings_json))


def _typed(
    event_type: str, params: list[dict[str, Any]], workspace_id: int, rules: RuleLookup
) -> list[dict[str, Any]]:
    """An emitted event's params under the event API's rules of its type: a standard type's
    (a cartUpdated needs its recycleStateId) and the workspace's own."""
    try:
        typed = typed_params(
            event_type, [Param(p["name"], p["value"]) for p in params], 2, workspace_id, rules
        )
    except InvalidEvent as exc:
        raise RenderFailed(f"the emitted event is invalid: {exc}") from None
    return [{"name": p.name, "value": p.value} for p in typed]


def _emit_effect(
    dialect: Dialect, run: Run, event_type: str, key_value: str, params: list[dict[str, Any]]
) -> Effect:
    try:
        check_key_value(key_value)
        key_value.encode()
        params_json = msgspec.json.encode(params).decode()
        refuse_nul(params_json)
    except Exception as exc:
        raise RenderFailed(f"the emitted event is invalid: {exc}") from None
    size = len(params_json.encode())
    if size > MAX_EMITTED_BYTES:
        raise RenderFailed(
            f"the emitted event's params are {size} bytes of JSON; the limit is {MAX_EMITTED_BYTES}"
        )
    if deeper_than(params, MAX_DEPTH):
        raise RenderFailed(f"the emitted event's params nest more than {MAX_DEPTH} levels deep")
    raw = msgspec.json.encode(
        {"eventTypeKey": event_type, "keyValue": key_value, "params": params}
    ).decode()
    shape = tuple((p["name"], json_type(p["value"])) for p in params)

    def effect(tx: Cursor, now: int) -> None:
        event = NewEvent(
            workspace_id=run.workspace_id,
            event_type_key=event_type,
            key_value=key_value,
            params_json=params_json,
            raw=raw,
            source="workflow",
            occurred_us=now,
            received_us=now,
            locators=Locators(contact_id=run.contact_id),
            shape=shape,
        )
        write_items(tx, [event], txid=dialect.current_txid(tx), sql=dialect)

    return effect


def _set_effect(dialect: Dialect, run: Run, block: SetField, value: Any) -> Effect:
    def effect(tx: Cursor, now: int) -> None:
        refused = set_field(tx, dialect, run.contact_id, block.field.strip(), value, now)
        if refused is not None:
            add_steps(tx, run.id, [(block.id, None, f"{block.field} not set: {refused}")], now)

    return effect


def _stopped(tx: Cursor, plan: Plan, run: Run, facts: Facts, block_id: str) -> Move | None:
    """A stop event stored since the start, or start conditions that no longer hold: stopped."""
    keys = run.match_keys if plan.stop_path is not None else None
    later = events_since_start(tx, run, sorted(plan.stop_events))
    for event in newsworthy(tx, later):  # history (an import, a sync) stops nothing
        if stops(plan, event_type=event.event_type_key, params=event.params, run_keys=keys):
            reason = f"stopped by {event.event_type_key} before {block_id!r}"
            return Move([(block_id, None, reason)], block_id, STOPPED, None, reason=reason)
    if plan.start_when is not None and not evaluate(plan.start_when, facts):
        reason = f"the start conditions no longer held before {block_id!r}"
        return Move([(block_id, None, reason)], block_id, STOPPED, None, reason=reason)
    return None


def _unknown(
    plan: Plan,
    run: Run,
    block: Http | Emit | SetField,
    attempt: int,
    facts: Facts,
    now: int,
    zone: str,
) -> Move:
    """The worker sending attempt ``attempt`` died before recording its outcome."""
    note = f"attempt {attempt}: outcome unknown (its worker stopped while the request was out)"
    retries = block.retries if isinstance(block, Http) else 0
    if attempt <= retries:
        return Move(
            [(block.id, None, note)],
            block.id,
            RUNNING,
            now,
            state={"do": "act", "attempt": attempt + 1},
            kind=ACTION,
        )
    return _followed(plan, run, block.id, "failed", facts, now, note, zone)


def _deferred(
    block: Http | Emit | SetField,
    timing: WorkspaceTiming,
    contact: dict[str, Any],
    now: int,
    item: Claimed,
) -> Move | None:
    """Outside the allowed hours: due at the start of the next window."""
    window = _window(block.allowed_hours, timing)
    if window is None:
        return None
    zone_name = contact.get("timeZone")
    zone = zone_for(zone_name if isinstance(zone_name, str) else None, timing.time_zone)
    at = to_us(next_allowed(moment_of(now), window, zone))
    if at <= now:
        return None
    note = f"outside the allowed hours {window.from_}-{window.to} ({zone.key}): due at {_iso(at)}"
    return Move([(block.id, None, note)], block.id, RUNNING, at, state=item.state, kind=ACTION)


def _window(own: Hours | bool | None, timing: WorkspaceTiming) -> Hours | None:
    if own is False:
        return None
    if isinstance(own, Hours):
        return own
    if timing.allowed is None:
        return None
    return Hours(from_=timing.allowed[0], to=timing.allowed[1])


def _followed(
    plan: Plan,
    run: Run,
    block_id: str,
    branch: str,
    facts: Facts,
    now: int,
    note: str,
    zone: str,
) -> Move:
    """The action's outcome (``note``), then its branch and what follows."""
    passed, outcome = follow(plan, block_id, branch, facts, f"{run.workflow_id}:{run.contact_id}")
    move = moved(plan, passed, outcome, facts, now, zone)
    return replace(move, steps=[(block_id, None, note), *move.steps])


def _event_data(event: StartingEvent | None) -> dict[str, Any] | None:
    if event is None:
        return None
    return event_data(
        event.id, event.event_type_key, event.key_value, event.occurred_us, event.params
    )


def _run_data(run: Run) -> dict[str, Any]:
    return {"id": run.id, "workflowId": run.workflow_id, "version": run.version}


def _iso(us: int) -> str:
    return moment_of(us).isoformat(timespec="seconds").replace("+00:00", "Z")


def _shown_url(url: str) -> str:
    """The URL as a run's path shows it: without its query (which may carry secrets)."""
    return url.split("?", 1)[0][:200]


def _contact_key(data: dict[str, Any]) -> str:
    """The key of an event emitted by a run without a starting event (started by a contact
    date): the contact's externalCustomerId, else its e-mail, else its phone."""
    contact = data.get("contact", {})
    for name in ("externalCustomerId", "email", "phone"):
        value = contact.get(name)
        if isinstance(value, str) and value:
            return value
    return ""
