"""When two contacts merge, the survivor holds both contacts' runs; the workflows:identity
consumer stops those the start policy would not have let start (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

from footfall.identity.locators import Locators
from footfall.records import NewEvent
from footfall.store import Store
from footfall.workflows.engine import handle_identity
from workflow_engine import Engine
from workflow_engine import engine as engine  # the fixtures, for pytest to find here
from workflow_engine import own_store as own_store

CONSUMER = "workflows:identity"


def flow(name: str, **start: Any) -> dict[str, Any]:
    return {
        "name": name,
        "start": {"event": "cartUpdated", **start},
        "blocks": [{"id": "wait", "type": "timer", "delay": "1h"}, {"id": "done", "type": "end"}],
        "edges": [{"from": "start", "to": "wait"}, {"from": "wait", "to": "done"}],
    }


def event(engine: Engine, kind: str, locators: Locators) -> None:
    key = locators.email or locators.phone or "x"
    engine.store.events.commit_batch(
        [
            NewEvent(
                workspace_id=engine.ws,
                event_type_key=kind,
                key_value=key,
                params_json=json.dumps([]),
                raw="{}",
                source="live",
                occurred_us=engine.clock(),
                received_us=engine.clock(),
                locators=locators,
            )
        ]
    )
    engine.sent += 1


def consume_identity(engine: Engine, store: Store) -> None:
    assert store.feed.acquire(CONSUMER, "test")
    while store.feed.consume_identity(
        CONSUMER,
        "test",
        lambda tx, page: handle_identity(tx, store.dialect, page, engine.plans, engine.clock()),
    ):
        pass


def test_a_merge_stops_the_runs_the_start_policy_would_not_have_allowed(
    engine: Engine, own_store: Store
) -> None:
    guarded = engine.flow(flow("guarded", notWhileActive=True))
    free = engine.flow(flow("free"))
    ann, phone = "ann@example.com", "+380501234567"
    event(engine, "cartUpdated", Locators(email=ann))
    engine.clock.advance(1)
    event(engine, "cartUpdated", Locators(phone=phone))  # another contact, as far as we know
    engine.step()
    assert len(engine.runs(guarded)) == 2 and len(engine.runs(free)) == 2
    event(engine, "login", Locators(email=ann, phone=phone))  # the same person: they merge
    engine.step()
    consume_identity(engine, own_store)
    guarded_runs = sorted(engine.runs(guarded), key=lambda r: (r.started_us, r.id))
    assert [r.status for r in guarded_runs] == ["waiting", "stopped"]
    assert "merged" in (guarded_runs[1].reason or "")
    assert guarded_runs[0].contact_id == guarded_runs[1].contact_id
    assert [r.status for r in engine.runs(free)] == ["waiting", "waiting"]  # everyTime: both go on
