"""Attacks on the workflow action loop (http, emit, setField), on SQLite and PostgreSQL, with the
engine harness (time controlled by the test, one worker moved by hand) and real HTTP servers on
loopback only: a receiver that hangs, one that streams an endless body, one that redirects.

The project's promises under test: no workspace slows the others or grows the process; a crafted
input gets a clear refusal (a run's reason, a 4xx), never a traceback, a 5xx or a stuck run; what
the event and contact APIs refuse cannot be stored by a workflow either.

A confirmed problem is a strict xfail whose reason says what happens; a defence that holds is an
ordinary test. Every request goes to 127.0.0.1 (the harness's sender allows 127.0.0.1 only).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from footfall.config import Settings
from footfall.decoding import MAX_DEPTH, deeper_than
from footfall.exceptions import InvalidWorkflow
from footfall.identity.contacts import MAX_FIELDS, MAX_NAME
from footfall.ingest.events import MAX_PARAM_NAME
from footfall.outbound.guard import AllowList
from footfall.outbound.sender import Sender
from footfall.store import Store
from footfall.store.rows import EventQuery
from footfall.store.workflow_runs import Run, Step
from footfall.workflows.acting import MAX_HEADER
from footfall.workflows.actions import MAX_EMITTED_BYTES
from footfall.workflows.engine import CONSUMER
from receiver import Receiver
from workflow_engine import Engine, email, notes, store_of_its_own
from workflow_engine import own_store as own_store  # the fixtures, for pytest to find here
from workflow_engine import receiver as receiver

FLOWS = "/api/v1/workflows"
EVENT_BYTES = Settings().max_body_bytes  # what the event API takes in one event


@pytest.fixture
def engine(own_store: Store) -> Iterator[Engine]:
    """The harness's engine; at the end, this test's runs still going are stopped: the
    module's database is shared, and a run whose action raises (what some tests show) would be
    claimed again by the next test's engine and raise there."""
    made = Engine(own_store)
    yield made
    hand_on(made)
    stop_runs(made)
    made.close()


def chain(name: str, start: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """A workflow whose blocks follow each other on their ``next`` branch (an http block's
    ``failed`` branch goes to the end as well), then an end."""
    blocks = [*blocks, {"id": "done", "type": "end"}]
    edges = [{"from": "start", "to": blocks[0]["id"]}]
    for before, after in itertools.pairwise(blocks):
        edges.append({"from": before["id"], "to": after["id"]})
        if before["type"] == "http":
            edges.append({"from": before["id"], "on": "failed", "to": "done"})
    return {
        "name": f"{name} {uuid.uuid4().hex[:6]}",
        "start": {"event": start},
        "blocks": blocks,
        "edges": edges,
    }


def http(url: str, **fields: Any) -> dict[str, Any]:
    return {"id": "call", "type": "http", "url": url, "retries": 0, "timeout": "2s", **fields}


def drain(engine: Engine) -> BaseException | None:
    """Everything due now (events, runs, actions); the exception the action loop let out, if
    one did (the running loop's task would die with it, unlogged until collected)."""
    try:
        engine.step()
    except Exception as exc:  # what the engine should have turned into a run's reason
        return exc
    return None


def only_run(engine: Engine, flow: int) -> tuple[Run, list[Step]]:
    return engine.run(flow)


def emitted(engine: Engine, contact: int, kind: str) -> list[Any]:
    events = engine.store.events.list_events(engine.ws, EventQuery(contact_id=contact, limit=100))
    return [e for e in events if e.event_type_key == kind]


# -- one workspace's slow receiver and the others ------------------------------------------------


def as_in_production(engine: Engine) -> None:
    """The worker's sender as the runtime makes it: a connection for each action in flight (the
    harness's has the webhook default, 16)."""
    actions = engine.actions
    actions.sender = Sender(AllowList.parse("127.0.0.1"), 5.0, actions.in_flight)


def second_engine(store: Store, first: Engine) -> Engine:
    """Another workspace on the same database, moved by the first engine's worker (one action
    loop for both, as in a real worker) and on its clock."""
    other = Engine(store)
    store.workflow_runs._clock = first.clock
    other.clock = other.run_loop.clock = first.clock
    return other


def hand_on(engine: Engine) -> None:
    """The workflows' feed consumer handed every event of the engine's workspace, emitted ones
    too. One left in the feed (on PostgreSQL an event shows there once the server's older
    transactions end) would be counted by the next test's ``Engine.consume`` as one of its
    own, which would then look for its run before its event was handed on."""
    store = engine.store
    deadline = time.monotonic() + 10
    while True:
        where, args = store.dialect.feed_upto(store.feed.load_offset(CONSUMER))
        with store.read() as tx:
            row = tx.one(
                f"SELECT COUNT(*) FROM events WHERE workspace_id = ? AND NOT ({where})",
                engine.ws,
                *args,
            )
        left = row[0] if row is not None else 0
        if not left:
            return
        assert time.monotonic() < deadline, f"{left} events never showed in the feed"
        engine.sent = engine.seen  # one page, whatever it holds
        engine.consume()
        time.sleep(0.01)


def stop_runs(engine: Engine) -> None:
    """The engine's workspace's runs still going, stopped (the module's database is shared)."""
    runs = engine.store.workflow_runs
    for flow in {r.workflow_id for r in runs.runs(engine.ws, limit=1000)}:
        runs.stop(engine.ws, None, flow, "the test is over")


@contextlib.contextmanager
def workspaces(store: Store, first: Engine, count: int) -> Iterator[list[Engine]]:
    """``count`` other workspaces moved by the first engine's worker; at the end their runs are
    stopped and the store's clock is the first engine's again."""
    others = [second_engine(store, first) for _ in range(count)]
    try:
        yield others
    finally:
        for other in others:
            hand_on(other)
            stop_runs(other)
            other.close()
        store.workflow_runs._clock = first.clock


@pytest.fixture
def hanging() -> Iterator[Receiver]:
    with Receiver() as r:
        r.hang()
        yield r
        r.release()


def in_flight(engine: Engine) -> int:
    """The runs the worker's action loop holds (claimed, not done), all workspaces together."""
    return sum(engine.actions._busy.values())


def held(engine: Engine, workspace: Engine) -> int:
    """The runs of ``workspace`` the worker's action loop holds."""
    return engine.actions._busy[workspace.ws]


async def hang_until(engine: Engine, hanging: Receiver, count: int) -> None:
    """Claim until ``count`` requests hang at the receiver, and the loop holds as many runs."""
    for _ in range(100):
        await engine.actions.step()
        await asyncio.sleep(0.02)
        if len(hanging.requests) >= count and in_flight(engine) >= count:
            return
    raise AssertionError(f"only {len(hanging.requests)} requests in flight")


async def _settle(engine: Engine) -> None:
    deadline = time.monotonic() + 15
    while in_flight(engine) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def slow_workspace(engine: Engine, hanging: Receiver, runs: int) -> int:
    """A workflow of ``engine``'s workspace whose request hangs (5 s timeout), with ``runs``
    runs at it and due now."""
    flow = engine.flow(chain("slow", "cartUpdated", [http(hanging.url, timeout="5s")]))
    for _ in range(runs):
        engine.send("cartUpdated", email())
    engine.consume()
    engine.run_loop.work()
    return flow


def test_a_hanging_receiver_frees_its_slot_at_the_timeout_and_takes_the_failed_branch(
    engine: Engine, hanging: Receiver
) -> None:
    flow = engine.flow(chain("hang", "cartUpdated", [http(hanging.url, timeout="1s")]))
    engine.send("cartUpdated", email())
    engine.consume()
    engine.run_loop.work()

    async def act() -> float:
        started = time.monotonic()
        await engine.actions.step()
        await asyncio.to_thread(hanging.wait_for, lambda seen: len(seen) == 1)
        while (await asyncio.to_thread(only_run, engine, flow))[0].status == "running":
            await asyncio.sleep(0.05)
            assert time.monotonic() - started < 10
        await _settle(engine)
        return time.monotonic() - started

    took = engine.aio.run_until_complete(act())
    assert 0.9 < took < 5
    assert in_flight(engine) == 0 and not engine.actions._busy
    run, steps = only_run(engine, flow)
    assert run.status == "completed" and run.block == "done"
    assert ("call", "failed") in [(s.block, s.branch) for s in steps]
    assert any("timed out after 1 s" in n for n in notes(steps))


def test_one_workspace_hanging_receiver_does_not_hold_up_another_workspace_actions(
    engine: Engine, own_store: Store, hanging: Receiver, receiver: Receiver
) -> None:
    """More runs of one workspace at a receiver that hangs than it may hold: the worker holds
    ``per_workspace`` of them however many claims follow (the older backlog wins no more), and
    another workspace's actions due meanwhile are sent at once. Alone, a workspace has every
    slot (a cap of a quarter held one busy workspace to 8 actions at once: at 100 actions a
    second on PostgreSQL they queued for up to 2 s)."""
    as_in_production(engine)
    room = engine.actions.per_workspace
    assert room == engine.actions.slots
    with workspaces(own_store, engine, 1) as (other,):
        slow_workspace(engine, hanging, room + 8)
        other.flow(chain("fast", "cartUpdated", [http(receiver.url)]))

        async def act() -> tuple[int, int, float | None]:
            await hang_until(engine, hanging, room)
            for _ in range(10):  # more claims find the slow workspace without room
                await engine.actions.step()
                await asyncio.sleep(0.02)
            hung, holding = len(hanging.requests), held(engine, engine)
            engine.clock.advance(1)  # the slow workspace's backlog is the older
            for _ in range(3):
                await asyncio.to_thread(other.send, "cartUpdated", email())
            await asyncio.to_thread(other.consume)
            await asyncio.to_thread(other.run_loop.work)  # the fast workspace's are due now
            started = time.monotonic()
            while time.monotonic() - started < 4:  # within the hanging requests' 5 s
                await engine.actions.step()
                if len(receiver.posts()) == 3:
                    return hung, holding, time.monotonic() - started
                await asyncio.sleep(0.02)
            return hung, holding, None

        hung, holding, waited = engine.aio.run_until_complete(act())
        hanging.release()
        engine.aio.run_until_complete(_settle(engine))
    assert (hung, holding) == (room, room), "the slow workspace held more than its room"
    assert waited is not None and waited < 1.0, f"the other workspace waited {waited} s"


def test_four_workspaces_hanging_receivers_do_not_hold_up_a_fifth_workspace_actions(
    engine: Engine, own_store: Store, hanging: Receiver, receiver: Receiver
) -> None:
    """Found: four workspaces whose receivers hang (tenants of one receiving service that is
    down, say) held every slot, and a fifth workspace's action waited for their timeout. A
    request in flight for WAITING_SECONDS now frees its slot."""
    as_in_production(engine)
    slots = engine.actions.slots
    with workspaces(own_store, engine, slots // (slots // 4)) as others:
        *slow, fast = others
        for each in [engine, *slow]:
            slow_workspace(each, hanging, 10)
        fast.flow(chain("fast", "cartUpdated", [http(receiver.url)]))

        async def act() -> float | None:
            await hang_until(engine, hanging, slots)
            engine.clock.advance(1)
            await asyncio.to_thread(fast.send, "cartUpdated", email())
            await asyncio.to_thread(fast.consume)
            await asyncio.to_thread(fast.run_loop.work)
            started = time.monotonic()
            while time.monotonic() - started < 3:  # within the hanging requests' 5 s
                await engine.actions.step()
                if receiver.posts():
                    return time.monotonic() - started
                await asyncio.sleep(0.02)
            return None

        waited = engine.aio.run_until_complete(act())
        hanging.release()
        engine.aio.run_until_complete(_settle(engine))
    assert waited is not None and waited < 1.0, f"the fifth workspace waited {waited} s"


def test_requests_waiting_on_hanging_receivers_are_bounded_in_all(
    engine: Engine, own_store: Store, hanging: Receiver
) -> None:
    """A request waiting on its receiver frees its slot, not its socket: however many
    workspaces' receivers hang, the loop holds at most ``in_flight`` requests (8 times the
    slots in production), and the other runs stay due until one ends."""
    actions = engine.actions
    actions.slots, actions.in_flight, actions.per_workspace = 8, 6, 2  # four would hold 8
    as_in_production(engine)
    with workspaces(own_store, engine, 3) as others:
        for each in [engine, *others]:
            slow_workspace(each, hanging, 4)

        async def act() -> int:
            peak = 0
            deadline = time.monotonic() + 1.5  # several times WAITING_SECONDS
            while time.monotonic() < deadline:
                await actions.step()
                peak = max(peak, in_flight(engine))
                await asyncio.sleep(0.02)
            return peak

        peak = engine.aio.run_until_complete(act())
        requests = len(hanging.requests)
        hanging.release()
        engine.aio.run_until_complete(_settle(engine))
    assert (peak, requests) == (6, 6)


def test_a_fast_action_claimed_with_hanging_ones_moves_on_at_once(
    engine: Engine, own_store: Store, hanging: Receiver, receiver: Receiver
) -> None:
    """Both workspaces due at once, so one claim takes runs of both: the fast receiver's runs
    move on when it answers, not when the other workspace's requests time out, and their slots
    are free then."""
    as_in_production(engine)
    with workspaces(own_store, engine, 1) as (other,):
        engine.flow(chain("slow", "cartUpdated", [http(hanging.url, timeout="5s")]))
        fast = other.flow(chain("fast", "cartUpdated", [http(receiver.url)]))
        for _ in range(4):
            engine.send("cartUpdated", email())
            other.send("cartUpdated", email())
        hand_on(engine)  # both workspaces' events: Engine.consume counts its own only
        hand_on(other)
        engine.run_loop.work()
        other.run_loop.work()

        async def act() -> tuple[float | None, int]:
            started = time.monotonic()
            await engine.actions.step()  # one claim: both workspaces' runs
            while time.monotonic() - started < 4:
                runs = await asyncio.to_thread(other.runs, fast)
                done = runs and all(r.status == "completed" for r in runs)
                if done and held(engine, other) == 0:
                    return time.monotonic() - started, held(engine, engine)
                await asyncio.sleep(0.02)
            return None, held(engine, engine)

        took, slow_held = engine.aio.run_until_complete(act())
        hung = len(hanging.requests)
        hanging.release()
        engine.aio.run_until_complete(_settle(engine))
    assert len(receiver.posts()) == 4 and hung == 4
    assert took is not None and took < 1.0, f"the fast workspace's runs moved on after {took} s"
    assert slow_held == 4  # the hanging ones still held then, and only they


def test_timers_of_another_workspace_fire_while_every_action_slot_hangs(
    engine: Engine, own_store: Store, hanging: Receiver
) -> None:
    """Every slot of the worker held by hanging requests (of four workspaces): a
    timer of a fifth workspace fires at once all the same."""
    as_in_production(engine)
    slots = engine.actions.slots
    with workspaces(own_store, engine, slots // (slots // 4)) as others:
        *slow, timing = others
        timed = timing.flow(
            chain("timer", "visit", [{"id": "wait", "type": "timer", "delay": "1m"}])
        )
        timing.send("visit", email())
        timing.consume()
        timing.run_loop.work()
        for each in [engine, *slow]:
            slow_workspace(each, hanging, 10)

        async def act() -> tuple[float, int]:
            await hang_until(engine, hanging, slots)
            full = in_flight(engine)
            engine.clock.advance(60)
            started = time.monotonic()
            await asyncio.to_thread(timing.run_loop.work)
            return time.monotonic() - started, full

        took, full = engine.aio.run_until_complete(act())
        hanging.release()
        engine.aio.run_until_complete(_settle(engine))
        run, _ = timing.run(timed)
    assert full == slots
    assert run.status == "completed" and took < 1.0


def saved(engine: Engine, document: dict[str, Any]) -> int | str:
    """The workflow's id, or why saving the document was refused (InvalidWorkflow's message)."""
    try:
        return engine.flow(document)
    except InvalidWorkflow as exc:
        return exc.message


def test_a_costly_template_does_not_stop_the_event_loop(engine: Engine) -> None:
    """round(-N) on an event's number computes 10**N in one C call, holding the GIL: rendered on
    the worker's process (the API's by default), it would stop the event loop (API requests,
    timers, other actions) for all of it (2.5e6 digits: about 0.7 s; 1e7: 8 s; 1e9: hours).
    Either the template is refused when saved, or rendering it leaves the loop going."""
    flow = saved(
        engine,
        chain(
            "round",
            "visit",
            [
                {
                    "id": "set",
                    "type": "setField",
                    "field": "r",
                    "value": "{{ event.params.n | round(-2500000) }}",
                }
            ],
        ),
    )
    if isinstance(flow, str):
        assert "round" in flow, flow
        return
    engine.send("visit", email(), n=1)
    engine.consume()
    engine.run_loop.work()

    async def act() -> float:
        gaps: list[float] = []
        stop = asyncio.Event()

        async def tick() -> None:
            last = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.005)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        ticker = asyncio.get_running_loop().create_task(tick())
        await engine.actions.drain()
        stop.set()
        await ticker
        return max(gaps)

    worst = engine.aio.run_until_complete(act())
    assert worst < 0.1, f"the event loop stood still for {worst:.2f} s"


# -- what a receiver sends back ------------------------------------------------------------------


class Streamer:
    """A loopback server that answers every request with ``head`` and then, if ``endless``, a
    body that never ends (a chunk every few milliseconds), or nothing at all if ``head`` is
    empty (the request hangs). Counts the bytes it wrote."""

    def __init__(self, head: bytes, endless: bool) -> None:
        self.head = head
        self.endless = endless
        self.written = 0
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._serving: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    def __enter__(self) -> Streamer:
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._serving:
            task.cancel()
        await asyncio.gather(*self._serving, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._serving.add(task)
        try:
            await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            if not self.head:
                await asyncio.sleep(3600)
            writer.write(self.head)
            chunk = b"x" * 16384
            while self.endless:
                writer.write(chunk)
                self.written += len(chunk)
                await writer.drain()
                await asyncio.sleep(0.001)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._serving.discard(task)


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",  # then not chunks at all
        b"HTTP/1.1 500 Oops\r\nContent-Length: 100000000000\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"a" * 8000 + b"\r\n" * 1,  # a head never ending
    ],
)
def test_an_endless_answer_is_cut_off_and_the_slot_released(engine: Engine, head: bytes) -> None:
    with Streamer(head, endless=True) as server:
        flow = engine.flow(chain("stream", "visit", [http(server.url, timeout="5s")]))
        engine.send("visit", email())
        started = time.monotonic()
        engine.step()
        took = time.monotonic() - started
        written = server.written
    run, steps = only_run(engine, flow)
    assert run.status == "completed", (run, notes(steps))
    assert took < 6.5 and in_flight(engine) == 0
    assert written < 64 * 1024 * 1024, written  # the client stopped reading


def test_a_receiver_that_never_answers_is_given_up_at_the_timeout(engine: Engine) -> None:
    with Streamer(b"", endless=False) as server:
        flow = engine.flow(chain("mute", "visit", [http(server.url, timeout="1s")]))
        engine.send("visit", email())
        started = time.monotonic()
        engine.step()
        took = time.monotonic() - started
    run, steps = only_run(engine, flow)
    assert 0.9 < took < 5
    assert run.status == "completed" and any("timed out" in n for n in notes(steps))


def test_a_redirect_is_not_followed(engine: Engine, receiver: Receiver) -> None:
    with Receiver() as elsewhere:
        receiver.status(307, {"Location": elsewhere.url + "?followed"})
        flow = engine.flow(chain("redirect", "visit", [http(receiver.url)]))
        engine.send("visit", email())
        engine.step()
        assert len(receiver.posts()) == 1
        assert elsewhere.requests == []
    _, steps = only_run(engine, flow)
    assert ("call", "failed") in [(s.block, s.branch) for s in steps]
    assert any("answered 307" in n for n in notes(steps))


# -- requests that cannot be made ----------------------------------------------------------------


def attempts(steps: list[Step]) -> list[str]:
    return [n for n in notes(steps) if n.startswith("attempt ")]


@pytest.mark.parametrize(
    ("url", "headers", "tag", "refusal"),
    [
        (
            "",
            {"X-Tag": "{{ event.params.tag }}"},
            "a\x01b",  # the event API takes it in a parameter
            "blocks.call.headers.X-Tag rendered to a value with a control character",
        ),
        (
            "",
            {"X-Tag": "{{ event.params.tag }}"},
            "a\x7fb",  # aiohttp refuses it ("Forbidden control character")
            "blocks.call.headers.X-Tag rendered to a value with a control character",
        ),
        (
            "",
            {"X-Tag": "{{ event.params.tag }}"},
            "x" * (MAX_HEADER + 1),
            f"blocks.call.headers.X-Tag renders to more than {MAX_HEADER} characters",
        ),
        (
            "",
            {"X-Tag": 'a{{ "\\ud800" }}'},
            "",
            "blocks.call.headers.X-Tag rendered to text that is not valid Unicode",
        ),
        (
            '{{ "\\ud800" }}',
            {},
            "",
            "blocks.call.url rendered to text that is not valid Unicode",
        ),
    ],
    ids=["header-control", "header-del", "header-long", "header-surrogate", "url-surrogate"],
)
def test_a_request_that_cannot_be_sent_fails_the_block_with_a_reason(
    engine: Engine,
    receiver: Receiver,
    url: str,
    headers: dict[str, str],
    tag: str,
    refusal: str,
) -> None:
    """Rendered, not sent: the block's failed branch at once (no attempt, no retry), the
    reason in the run's path."""
    flow = engine.flow(
        chain("bad", "visit", [http(receiver.url + url, headers=headers, retries=2)])
    )
    engine.send("visit", email(), tag=tag)
    escaped = drain(engine)
    run, steps = only_run(engine, flow)
    assert escaped is None, repr(escaped)
    assert receiver.requests == []
    assert ("call", "failed") in [(s.block, s.branch) for s in steps], notes(steps)
    assert refusal in notes(steps), notes(steps)
    assert attempts(steps) == [] and run.status == "completed" and run.block == "done"


def test_a_url_the_guard_refuses_is_not_tried_again(engine: Engine, receiver: Receiver) -> None:
    """The guard's 'refused: …' (no status) takes the failed branch at once: no retry after
    10 s, 1 min, 5 min… for a URL that can never pass."""
    target = receiver.url.replace("http://", "http://someone@")
    flow = engine.flow(chain("refused", "visit", [http(target, retries=3)]))
    engine.send("visit", email())
    engine.step()
    run, steps = only_run(engine, flow)
    assert receiver.requests == []
    (attempt,) = attempts(steps)
    assert "failed: refused: webhook URL must not contain credentials" in attempt, attempt
    assert "tried again" not in attempt
    assert ("call", "failed") in [(s.block, s.branch) for s in steps]
    assert run.status == "completed" and run.block == "done", (run.status, notes(steps))


def test_what_the_client_cannot_send_is_an_outcome_refused(engine: Engine) -> None:
    """The sender turns the HTTP client's ValueError (a header it will not write) into an
    outcome 'refused: …' rather than an exception out of the action's task: the action loop
    takes the failed branch at once for such an outcome, as for the guard's. Nothing of the
    request reaches the listening socket (a plain one: the client may connect, then drops the
    connection before writing)."""
    sender = Sender(AllowList.parse("127.0.0.1"), 2.0)
    with socket.create_server(("127.0.0.1", 0)) as server:
        url = f"http://127.0.0.1:{server.getsockname()[1]}/hook"

        async def send() -> Any:
            try:
                return await sender.request("POST", url, b"{}", {"X-Tag": "a\x7fb"})
            finally:
                await sender.close()

        outcome = engine.aio.run_until_complete(send())
        server.settimeout(0.5)
        received = b""
        with contextlib.suppress(TimeoutError):
            conn, _ = server.accept()
            with conn, contextlib.suppress(ConnectionResetError):
                conn.settimeout(2)
                while chunk := conn.recv(65536):
                    received += chunk
    assert not outcome.delivered and outcome.status_code is None
    assert (outcome.error or "").startswith("refused: ValueError"), outcome
    assert received == b""


# -- emit ----------------------------------------------------------------------------------------


def test_workflows_emitting_each_other_start_events_stop_after_one_round(engine: Engine) -> None:
    first = engine.flow(chain("ping", "ping", [{"id": "e", "type": "emit", "event": "pong"}]))
    second = engine.flow(chain("pong", "pong", [{"id": "e", "type": "emit", "event": "ping"}]))
    who = email()
    engine.send("ping", who)
    engine.step()
    hand_on(engine)  # the emitted pong (on PostgreSQL it may show in the feed a little later)
    engine.step()
    pings, pongs = engine.runs(first), engine.runs(second)
    assert len(pings) == 1 and len(pongs) == 1
    assert all(r.status == "completed" for r in pings + pongs)
    _, steps = engine.path(pongs[0])
    assert any("not emitted" in n for n in notes(steps))
    assert len(emitted(engine, pings[0].contact_id, "pong")) == 1
    assert emitted(engine, pings[0].contact_id, "ping")[0].source == "live"


def big_event_params(count: int) -> dict[str, str]:
    """An emit block's params: ``count`` copies of the starting event's params."""
    return {f"p{i}": "{{ event.params }}" for i in range(count)}


def test_an_emitted_event_many_times_its_starting_event_fails_the_run(engine: Engine) -> None:
    """A document's 64 Ki templated characters hold about 4,000 params of '{{ event.params }}':
    one 19 KiB live event would become an emitted event of about 80 MB (here 100 copies, 1.9
    MB). The params are bounded (MAX_EMITTED_BYTES of JSON): the run fails, its path says why,
    nothing is stored."""
    flow = engine.flow(
        chain(
            "amplify",
            "visit",
            [{"id": "e", "type": "emit", "event": "big", "params": big_event_params(100)}],
        )
    )
    engine.send("visit", email(), text="x" * (EVENT_BYTES - 1500))
    assert drain(engine) is None
    run, steps = only_run(engine, flow)
    assert run.status == "failed" and run.block == "e", (run.status, notes(steps))
    (refusal,) = [n for n in notes(steps) if n.startswith("the emitted event's params are ")]
    assert refusal.endswith(f"bytes of JSON; the limit is {MAX_EMITTED_BYTES}"), refusal
    assert int(refusal.split()[5]) > 100 * (EVENT_BYTES - 1500)
    assert emitted(engine, run.contact_id, "big") == []


ONE_PARAM = len(json.dumps([{"name": "p", "value": ""}], separators=(",", ":")))
NAMED_TEXT = "{{ event.params.text }}"


@pytest.mark.parametrize(
    ("length", "stored"),
    [(MAX_EMITTED_BYTES - ONE_PARAM, True), (MAX_EMITTED_BYTES - ONE_PARAM + 1, False)],
    ids=["at-the-limit", "one-over"],
)
def test_an_emitted_event_is_bounded_to_the_byte(engine: Engine, length: int, stored: bool) -> None:
    flow = engine.flow(
        chain(
            "bound",
            "visit",
            [{"id": "e", "type": "emit", "event": "bound", "params": {"p": NAMED_TEXT}}],
        )
    )
    engine.send("visit", email(), text="x" * length)
    assert drain(engine) is None
    run, steps = only_run(engine, flow)
    found = emitted(engine, run.contact_id, "bound")
    if stored:  # (PostgreSQL's JSONB writes it back with spaces: its value is compared)
        assert run.status == "completed", notes(steps)
        assert [len(json.loads(e.params_json)[0]["value"]) for e in found] == [length]
    else:
        assert run.status == "failed" and found == []
        refusal = f"the emitted event's params are {MAX_EMITTED_BYTES + 1} bytes of JSON"
        assert any(n.startswith(refusal) for n in notes(steps)), notes(steps)


def test_the_emitted_bound_counts_bytes_not_characters(engine: Engine) -> None:
    flow = engine.flow(
        chain(
            "wide",
            "visit",
            [{"id": "e", "type": "emit", "event": "wide", "params": {"p": NAMED_TEXT}}],
        )
    )
    engine.send("visit", email(), text="\U0001f600" * 16_000)  # 16,025 characters of JSON
    assert drain(engine) is None
    run, _ = only_run(engine, flow)
    sizes = [len(e.params_json.encode()) for e in emitted(engine, run.contact_id, "wide")]
    assert all(size <= MAX_EMITTED_BYTES for size in sizes), (sizes, run.status, run.reason)


def test_an_emitted_standard_event_keeps_the_event_api_rules(engine: Engine) -> None:
    """Found: an emitted cartUpdated without recycleStateId, 'products' a string, was stored."""
    flow = saved(
        engine,
        chain(
            "standard",
            "visit",
            [
                {
                    "id": "e",
                    "type": "emit",
                    "event": "cartUpdated",
                    "params": {"products": NAMED_TEXT},
                }
            ],
        ),
    )
    if isinstance(flow, str):  # refused when saved: nothing is emitted
        return
    engine.send("visit", email(), text="not a list")
    assert drain(engine) is None
    run, steps = only_run(engine, flow)
    assert emitted(engine, run.contact_id, "cartUpdated") == [], notes(steps)
    assert run.status == "failed" and "recycleStateId" in (run.reason or ""), run.reason


def test_an_emitted_event_keeps_the_workspace_rules_of_its_type(engine: Engine) -> None:
    """The operator's own rules of a type (required params, JSON Schema) apply to an emitted
    event as to one sent to the API, read when the block acts: an event that breaks them is
    not stored and fails the run with the API's message; one that keeps them is stored."""
    settings = {
        "validateParams": True,
        "params": [{"name": "orderId", "required": True}],
        "jsonSchema": {"type": "object", "properties": {"total": {"type": "number"}}},
    }
    engine.store.types.set_type_settings(engine.ws, "audited", json.dumps(settings), 1)
    flow = engine.flow(
        chain(
            "audited",
            "visit",
            [
                {
                    "id": "e",
                    "type": "emit",
                    "event": "audited",
                    "params": {
                        "orderId": "{{ event.params.order }}",
                        "total": "{{ event.params.total }}",
                    },
                }
            ],
        )
    )
    engine.send("visit", email(), order="o-1", total=12.5)
    engine.send("visit", email(), order="o-2", total="twelve")
    assert drain(engine) is None
    runs = {run.status: run for run in engine.runs(flow)}
    assert set(runs) == {"completed", "failed"}, runs
    assert "do not match its JSON Schema at total" in (runs["failed"].reason or "")
    assert emitted(engine, runs["failed"].contact_id, "audited") == []
    [kept] = emitted(engine, runs["completed"].contact_id, "audited")
    assert {p["name"]: p["value"] for p in json.loads(kept.params_json)} == {
        "orderId": "o-1",
        "total": 12.5,
    }


@pytest.mark.parametrize(
    "name",
    ["{{ event.params.name }}", "n" * (MAX_PARAM_NAME + 1), " "],
    ids=["templated", "too-long", "blank"],
)
def test_emitted_param_names_follow_the_event_api_rules(engine: Engine, name: str) -> None:
    """A templated name would let each run record a new one in event_type_params (the API's
    FOOTFALL_MAX_NEW_PARAM_NAMES_PER_DAY applies at ingestion only), and of any length: either
    the document is refused when saved, or no stored name breaks the event API's rules."""
    flow = saved(
        engine,
        chain(
            "names", "visit", [{"id": "e", "type": "emit", "event": "named", "params": {name: 1}}]
        ),
    )
    if isinstance(flow, str):
        assert "param name" in flow, flow
        return
    engine.send("visit", email(), name="n" * 1000)
    engine.step()
    run, _ = only_run(engine, flow)
    for event in emitted(engine, run.contact_id, "named"):
        for param in json.loads(event.params_json):
            assert param["name"].strip(), "a blank param name was stored"
            assert len(param["name"]) <= MAX_PARAM_NAME, len(param["name"])


def test_an_emit_key_value_that_cannot_be_stored_fails_the_run(engine: Engine) -> None:
    """A keyValue rendered with a lone surrogate (a Jinja escape) is refused with the emitted
    event (it used to escape _emit_effect's check: 'the engine could not take its next step
    (UnicodeEncodeError)'); nothing is stored."""
    flow = engine.flow(
        chain(
            "key",
            "visit",
            [{"id": "e", "type": "emit", "event": "keyed", "keyValue": 'k{{ "\\ud800" }}'}],
        )
    )
    engine.send("visit", email())
    assert drain(engine) is None
    run, steps = only_run(engine, flow)
    assert run.status == "failed" and run.block == "e", (run.status, notes(steps))
    assert "could not take its next step" not in " ".join([run.reason or "", *notes(steps)])
    assert emitted(engine, run.contact_id, "keyed") == []


@pytest.mark.parametrize(
    ("block", "params", "refusal"),
    [
        (
            {"id": "e", "type": "emit", "event": "big", "params": big_event_params(100)},
            {"text": "x" * 1000},
            "the emitted event's params are ",
        ),
        (
            {"id": "e", "type": "emit", "event": "keyed", "keyValue": 'k{{ "\\ud800" }}'},
            {},
            "the emitted event is invalid: ",
        ),
        (
            {
                "id": "e",
                "type": "setField",
                "field": "f",
                "value": "{{ event.params.text ~ event.params.text }}",
            },
            {"text": "x" * 40_000},
            "blocks.e.value ",
        ),
    ],
    ids=["emit-short-refusal", "emit-long-refusal", "set-field-render"],
)
def test_a_refused_emit_or_set_field_is_the_run_reason(
    engine: Engine, block: dict[str, Any], params: dict[str, Any], refusal: str
) -> None:
    flow = engine.flow(chain("reason", "visit", [block]))
    engine.send("visit", email(), **params)
    assert drain(engine) is None
    run, steps = only_run(engine, flow)
    assert run.status == "failed", notes(steps)
    assert (run.reason or "").startswith(refusal), (run.reason, notes(steps))
    assert run.reason in notes(steps)
    assert run.listen_event is None


def test_an_emitted_event_with_nul_is_refused_with_a_reason(engine: Engine) -> None:
    flow = engine.flow(
        chain(
            "nul",
            "visit",
            [{"id": "e", "type": "emit", "event": "nul", "params": {"a": '{{ "\\x00" }}'}}],
        )
    )
    engine.send("visit", email())
    assert drain(engine) is None
    run, steps = only_run(engine, flow)
    assert run.status == "failed" and "NUL" in " ".join(notes(steps))
    assert emitted(engine, run.contact_id, "nul") == []


# -- setField ------------------------------------------------------------------------------------


def set_field(field: str, value: Any) -> dict[str, Any]:
    return {"id": "set", "type": "setField", "field": field, "value": value}


def contact_value(engine: Engine, contact_id: int, field: str) -> Any:
    contact = engine.store.contacts.get_contact(engine.ws, contact_id)
    if field in contact:
        return contact[field]
    return next((f["value"] for f in contact.get("fields") or [] if str(f["id"]) == field), None)


def nested(value: Any, levels: int) -> Any:
    for _ in range(levels):
        value = [value]
    return value


NESTED = nested("{{ event.params.deep }}", 28)  # the document's limit: 32 levels, blocks' too
TWO_TEXTS = len(json.dumps(["x" * 40_000] * 2, separators=(",", ":")))


@pytest.mark.parametrize(
    ("field", "value", "params", "refusal"),
    [
        (
            "firstName",
            "{{ event.params.s ~ event.params.s ~ event.params.s }}",
            {"s": "x" * 18_000},
            f"firstName is longer than {MAX_NAME} characters",
        ),
        ("firstName", "{{ event.params.n }}", {"n": 5}, "firstName takes text, not int"),
        (
            "timeZone",
            "Mars/Olympus_Mons",
            {},
            "timeZone must be an IANA time zone such as 'Europe/Kyiv', got 'Mars/Olympus_Mons'",
        ),
        (
            "languageCode",
            "{{ event.params.s }}",
            {"s": "not a language"},
            "languageCode must be a language code such as 'en' or 'uk-UA', got 'not a language'",
        ),
        (
            "custom",
            NESTED,
            {"deep": nested("x", MAX_DEPTH - 28 + 1)},
            f"custom nests more than {MAX_DEPTH} levels deep",
        ),
        (
            "custom",
            ["{{ event.params.s }}", "{{ event.params.s }}"],
            {"s": "x" * 40_000},
            f"custom is {TWO_TEXTS} bytes of JSON; at most 65536",
        ),
    ],
    ids=[
        "firstName-length",
        "firstName-number",
        "timeZone",
        "languageCode",
        "custom-depth",
        "custom-size",
    ],
)
def test_set_field_keeps_the_contact_api_rules(
    engine: Engine, field: str, value: Any, params: dict[str, Any], refusal: str
) -> None:
    """A value the contact API refuses is not set: the run notes why and goes on by the
    block's next branch."""
    flow = engine.flow(chain("set", "visit", [set_field(field, value)]))
    engine.send("visit", email(), **params)
    assert drain(engine) is None
    run, steps = only_run(engine, flow)
    assert contact_value(engine, run.contact_id, field) is None
    assert f"{field} not set: {refusal}" in notes(steps), notes(steps)
    assert f"set {field}" not in notes(steps)
    assert ("set", "next") in [(s.block, s.branch) for s in steps], steps
    assert run.status == "completed" and run.block == "done"


@pytest.mark.parametrize(
    ("field", "value", "params", "stored"),
    [
        ("firstName", " {{ event.params.s }} ", {"s": "x" * MAX_NAME}, "x" * MAX_NAME),
        ("timeZone", "{{ event.params.s }}", {"s": "Europe/Kyiv"}, "Europe/Kyiv"),
        ("languageCode", "uk-UA", {}, "uk-UA"),
        (
            "custom",
            NESTED,
            {"deep": nested("x", MAX_DEPTH - 28)},
            nested(nested("x", MAX_DEPTH - 28), 28),
        ),
    ],
    ids=["firstName-longest", "timeZone", "languageCode", "custom-deepest"],
)
def test_set_field_sets_what_the_contact_api_takes(
    engine: Engine, field: str, value: Any, params: dict[str, Any], stored: Any
) -> None:
    flow = engine.flow(chain("set", "visit", [set_field(field, value)]))
    engine.send("visit", email(), **params)
    assert drain(engine) is None
    run, steps = only_run(engine, flow)
    assert contact_value(engine, run.contact_id, field) == stored
    assert f"set {field}" in notes(steps), notes(steps)
    assert run.status == "completed" and run.block == "done"


def test_set_field_names_a_custom_field_as_the_contact_api_does(engine: Engine) -> None:
    flow = saved(engine, chain("spaced", "visit", [set_field(" plan ", "gold")]))
    if isinstance(flow, str):  # refused when saved
        return
    engine.send("visit", email())
    assert drain(engine) is None
    run, steps = only_run(engine, flow)
    fields = engine.store.contacts.get_contact(engine.ws, run.contact_id).get("fields") or []
    assert [f["id"] for f in fields] in ([], ["plan"]), (fields, notes(steps))


@pytest.fixture(params=["sqlite", "postgresql"])
def poisonable_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """A database of the test's own: what the test leaves in the feed must not reach the
    module's other tests."""
    yield from store_of_its_own(request.param, tmp_path_factory)


def test_set_field_cannot_make_a_contact_unreadable_for_the_feed(
    poisonable_store: Store,
) -> None:
    """setField re-reads the field it sets: a chain of 45 blocks, each '[[…28 levels…[\"{{
    contact.d }}\"]…]]', would nest it about 950 levels deep, which readers on a deeper stack
    cannot decode (RecursionError), and the workflows' feed consumer, reading the contact for
    each of its events, would try the same page for ever. The field stops at its last value
    within MAX_DEPTH; every later block notes why it did not set it."""
    engine = Engine(poisonable_store)
    other = second_engine(poisonable_store, engine)
    try:
        blocks = [
            set_field("d", nested("{{ contact.d }}", 28)) | {"id": f"s{i}"} for i in range(45)
        ]
        deep = engine.flow(chain("deep", "visit", blocks))
        innocent = other.flow(
            chain("innocent", "visit", [{"id": "t", "type": "timer", "delay": "1h"}])
        )
        who = email()
        engine.send("visit", who)
        escaped = drain(engine)
        run, steps = engine.run(deep)
        value = contact_value(engine, run.contact_id, "d")
        engine.send("visit", who)  # the same contact, once more
        other.send("visit", email())  # another workspace's contact, in the same page
        try:
            other.consume()
            hand_on(other)  # up to its own event, whatever else shows in the feed first
            consumed = None
        except Exception as exc:  # the feed consumer's page raised
            consumed = exc
        started = other.runs(innocent)
    finally:
        other.close()
        engine.close()
    assert escaped is None and consumed is None, (escaped, consumed)
    assert len(started) == 1
    assert run.status == "completed", (run.status, run.reason)
    assert value == nested(None, 56) and not deeper_than(value, MAX_DEPTH)
    said = notes(steps)
    assert said.count("set d") == 2
    assert said.count(f"d not set: d nests more than {MAX_DEPTH} levels deep") == 43, said


@pytest.mark.parametrize(
    ("field", "value", "refusal"),
    [
        ("firstName", 'x{{ "\\ud800" }}', "firstName is not valid text"),
        ("custom", 'x{{ "\\ud800" }}', "custom is not a JSON value of valid text"),
        ("firstName", 'x{{ "\\x00" }}', "firstName contains a NUL character"),
        ("custom", 'x{{ "\\x00" }}', "custom contains a NUL character"),
    ],
    ids=["named-surrogate", "custom-surrogate", "named-nul", "custom-nul"],
)
def test_a_value_that_cannot_be_stored_is_not_set_with_a_reason(
    engine: Engine, field: str, value: str, refusal: str
) -> None:
    """A lone surrogate or NUL rendered from a Jinja escape (the template itself holds no
    control character) is refused before the move's transaction, on both backends alike (it
    used to be stored on SQLite, and fail the run on PostgreSQL): not set, noted, next."""
    flow = engine.flow(chain("unstorable", "visit", [set_field(field, value)]))
    engine.send("visit", email())
    escaped = drain(engine)
    run, steps = only_run(engine, flow)
    assert escaped is None, repr(escaped)
    assert f"{field} not set: {refusal}" in notes(steps), notes(steps)
    assert run.status == "completed" and run.block == "done", (run.status, notes(steps))
    assert contact_value(engine, run.contact_id, field) is None
    contact = engine.store.contacts.get_contact(engine.ws, run.contact_id)
    assert "\\u0000" not in json.dumps(contact)


def test_set_field_keeps_the_number_of_custom_fields_bounded(engine: Engine) -> None:
    who = email()
    fields = [{"id": f"f{i}", "value": i} for i in range(MAX_FIELDS)]
    contact = engine.contact({"channels": [{"type": "email", "value": who}], "fields": fields})
    flow = engine.flow(chain("many", "visit", [set_field("extra", 1)]))
    engine.send("visit", who)
    engine.step()
    run, steps = only_run(engine, flow)
    assert run.status == "completed" and run.contact_id == contact
    assert any(f"already has {MAX_FIELDS} fields" in n for n in notes(steps)), notes(steps)
    stored = engine.store.contacts.get_contact(engine.ws, contact)["fields"]
    assert len(stored) == MAX_FIELDS and "extra" not in {f["id"] for f in stored}


def test_a_garbage_time_zone_set_by_a_workflow_does_not_stop_timers_or_windows(
    engine: Engine, receiver: Receiver
) -> None:
    setter = engine.flow(chain("zone", "visit", [set_field("timeZone", "{{ event.params.zone }}")]))
    waiting = engine.flow(
        chain(
            "later",
            "later",
            [
                {"id": "wait", "type": "timer", "until": {"time": "10:00"}},
                http(receiver.url, id="call", allowedHours={"from": "09:00", "to": "21:00"}),
            ],
        )
    )
    who = email()
    for zone in ("../../etc/passwd", "Europe/Nowhere", "x" * 5000, "America"):
        engine.send("visit", who, zone=zone)
        engine.step()
    engine.send("later", who)
    engine.step()
    assert all(r.status == "completed" for r in engine.runs(setter))
    engine.clock.advance(8 * 3600)  # 03:00 UTC to 11:00 UTC: the workspace's zone, UTC
    engine.step()
    run, steps = only_run(engine, waiting)
    assert run.status == "completed", notes(steps)
    assert len(receiver.posts()) == 1


# -- the API -------------------------------------------------------------------------------------


def document(block: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "hostile",
        "start": {"event": "visit"},
        "blocks": [{"id": "a", **block}, {"id": "done", "type": "end"}],
        "edges": [{"from": "start", "to": "a"}, {"from": "a", "to": "done"}],
    }


HOSTILE_BLOCKS: list[dict[str, Any]] = [
    {"type": "http", "url": "http://127.0.0.1/{{ " + "(" * 2000 + "1" + ")" * 2000 + " }}"},
    {
        "type": "http",
        "url": "http://127.0.0.1/",
        "headers": {"X": "{{ event.params.a" + " | lower" * 1400 + " }}"},
    },
    {"type": "http", "url": "http://127.0.0.1/", "body": {"{% for x in y %}": 1}},
    {"type": "http", "url": "http://127.0.0.1/", "body": json.loads("[" * 40 + "1" + "]" * 40)},
    {"type": "http", "url": "http://127.0.0.1/", "headers": {"Host": "x"}},
    {"type": "http", "url": "http://127.0.0.1/", "headers": {"X\r\nY": "x"}},
    {"type": "http", "url": "http://127.0.0.1/", "headers": {"X": "a\r\nY: b"}},
    {"type": "http", "url": "http://127.0.0.1/", "timeout": "31s"},
    {"type": "http", "url": "http://127.0.0.1/", "retries": 2**70},
    {"type": "http", "url": "http://127.0.0.1/", "auth": {"bearer": "a\nb"}},
    {"type": "http", "url": "ftp://127.0.0.1/"},
    {"type": "http", "url": "http://127.0.0.1/", "method": "CONNECT"},
    {"type": "emit", "event": "x", "params": ["{{ event }}"]},
    {"type": "emit", "event": "x<>;", "params": {}},
    {"type": "emit", "event": "visit"},
    {"type": "emit", "event": "x", "keyValue": "{{ lipsum() }}"},
    {"type": "setField", "field": "", "value": 1},
    {"type": "setField", "field": "x" * 5000, "value": 1},
    {"type": "setField", "field": "a", "value": "{{ event.params.s * 100000000 }}"},
    {
        "type": "setField",
        "field": "a",
        "value": {"{{ x }}": "{{ event.__class__.__mro__[1].__subclasses__() }}"},
    },
    {"type": "setField", "field": "a", "value": "{% raw %}{{ {% endraw %}"},
    {"type": "setField", "field": "a", "value": "x" * 70_000},
]


@pytest.mark.parametrize("block", HOSTILE_BLOCKS)
def test_checking_a_hostile_action_block_is_a_4xx(api: httpx.Client, block: dict[str, Any]) -> None:
    answer = api.post(f"{FLOWS}/check", json=document(block))
    assert 400 <= answer.status_code < 500 or answer.status_code == 200, answer.text
    saved = api.post(FLOWS, json=document(block))  # created disabled: nothing runs it
    assert 400 <= saved.status_code < 500 or saved.status_code == 201, saved.text


@pytest.mark.parametrize("route", ["check", "create"])
def test_a_huge_integer_literal_is_a_4xx(api: httpx.Client, route: str) -> None:
    """An integer literal of more than 4,300 digits in a template: the Jinja lexer's int()
    raises ValueError (int_max_str_digits), which must be a refusal, not a 500."""
    block = {"type": "setField", "field": "a", "value": "{{ 1" + "0" * 5000 + " }}"}
    answer = api.post(f"{FLOWS}/check" if route == "check" else FLOWS, json=document(block))
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:200])
