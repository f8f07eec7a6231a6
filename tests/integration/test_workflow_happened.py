"""A condition block asking what happened since the run started, on SQLite and PostgreSQL with
time controlled by the test: the contact's events after the starting one count, those before do
not, nor history (past events), and ``where`` tests the event's params."""

from __future__ import annotations

import json
from typing import Any

from footfall.identity.locators import Locators
from footfall.records import NewEvent
from workflow_engine import Engine, email
from workflow_engine import engine as engine  # the fixtures, for pytest to find here
from workflow_engine import own_store as own_store

FLOW: dict[str, Any] = {
    "name": "did they buy",
    "start": {"event": "cartUpdated"},
    "blocks": [
        {"id": "wait", "type": "timer", "delay": "1h"},
        {
            "id": "bought",
            "type": "condition",
            "when": {
                "happened": "purchase",
                "where": {"param": "total", "op": "greater", "value": 10},
            },
        },
        {"id": "yes", "type": "end"},
        {"id": "no", "type": "end"},
    ],
    "edges": [
        {"from": "start", "to": "wait"},
        {"from": "wait", "to": "bought"},
        {"from": "bought", "on": "yes", "to": "yes"},
        {"from": "bought", "on": "no", "to": "no"},
    ],
}


def ended_at(engine: Engine, flow: int) -> str | None:
    run, _ = engine.run(flow)
    assert run.status == "completed"
    return run.block


def test_an_event_since_the_start_that_satisfies_where_takes_yes(engine: Engine) -> None:
    flow = engine.flow(FLOW)
    who = email()
    engine.send("cartUpdated", who)
    engine.step()
    engine.send("purchase", who, total=5)  # too small
    engine.send("purchase", who, total=50)
    engine.clock.advance(3600)
    engine.step()
    assert ended_at(engine, flow) == "yes"


def test_events_before_the_start_history_and_misses_take_no(engine: Engine) -> None:
    flow = engine.flow(FLOW)
    who = email()
    engine.send("purchase", who, total=50)  # before the run started
    engine.send("cartUpdated", who)
    engine.step()
    engine.send("purchase", who, total=5)
    engine.send("purchase", email(), total=50)  # someone else
    engine.store.events.commit_batch(  # history: a past event, imported now
        [
            NewEvent(
                workspace_id=engine.ws,
                event_type_key="purchase",
                key_value=who,
                params_json=json.dumps([{"name": "total", "value": 99}]),
                raw="{}",
                source="past",
                occurred_us=engine.clock() - 86_400_000_000,
                received_us=engine.clock(),
                locators=Locators(email=who),
            )
        ]
    )
    engine.sent += 1
    engine.clock.advance(3600)
    engine.step()
    assert ended_at(engine, flow) == "no"
