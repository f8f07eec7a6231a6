"""Workspaces share the workers fairly, on SQLite and PostgreSQL: a claim of due runs is split
between the workspaces that have runs due, so one workspace's backlog delays another's due
timer by a claim, not by the whole backlog."""

from __future__ import annotations

import json

from footfall.identity.locators import Locators
from footfall.records import NewEvent
from footfall.store import Store
from footfall.store.workflow_runs import ACTION, KIND
from workflow_engine import Engine
from workflow_engine import engine as engine  # the fixtures, for pytest to find here
from workflow_engine import own_store as own_store

BACKLOG = 1200  # more than two claims of the run loop (500 each)
TIMER = {
    "name": "remind",
    "start": {"event": "cartUpdated"},
    "blocks": [
        {"id": "wait", "type": "timer", "delay": "1m"},
        {"id": "done", "type": "end"},
    ],
    "edges": [{"from": "start", "to": "wait"}, {"from": "wait", "to": "done"}],
}


def carts(engine: Engine, ws: int, count: int, tag: str) -> None:
    """``count`` cartUpdated events of as many contacts of ``ws``, stored in one batch."""
    now = engine.clock()
    engine.store.events.commit_batch(
        [
            NewEvent(
                workspace_id=ws,
                event_type_key="cartUpdated",
                key_value=f"{tag}-{n}@example.com",
                params_json=json.dumps([{"name": "n", "value": n}]),
                raw="{}",
                source="live",
                occurred_us=now,
                received_us=now,
                locators=Locators(email=f"{tag}-{n}@example.com"),
            )
            for n in range(count)
        ]
    )
    engine.sent += count


def test_a_backlog_in_one_workspace_does_not_hold_up_another(
    engine: Engine, own_store: Store
) -> None:
    other = Engine(own_store)  # a second workspace, moved by the first engine's loops
    own_store.workflow_runs._clock = engine.clock
    try:
        busy_flow = engine.flow(TIMER)
        quiet_flow = other.flows.create(other.ws, TIMER, enabled=True).id
        carts(engine, engine.ws, BACKLOG, "busy")
        engine.clock.advance(30)  # the quiet workspace's run falls due after all the backlog
        carts(engine, other.ws, 1, "quiet")
        engine.consume()
        engine.clock.advance(90)
        claimed = own_store.workflow_runs.claim("one-worker", 500, 30_000_000, KIND)
        workspaces = [item.run.workspace_id for item in claimed]
        assert workspaces.count(other.ws) == 1  # the quiet one's run is in the first claim
        assert workspaces.count(engine.ws) == 250  # each workspace's part: half of the claim
        assert own_store.workflow_runs.claim("idle", 500, 30_000_000, ACTION) == []
        own_store.workflow_runs.release("one-worker")
        engine.run_loop.work()  # every due run moves on to its timer, short claims included
        engine.clock.advance(60)
        engine.run_loop.work()
        busy = own_store.workflow_runs.counts(engine.ws, busy_flow)
        quiet = own_store.workflow_runs.counts(other.ws, quiet_flow)
        assert busy["runs"] == {"completed": BACKLOG}, busy
        assert quiet["runs"] == {"completed": 1}, quiet
    finally:
        other.close()
