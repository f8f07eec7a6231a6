"""Goal blocks on SQLite and PostgreSQL, with time controlled by the test: a run passing a goal
opens it; a conversion event of the run's contact (matching the goal's condition and matched
value) within the window reaches it once, even after the run has ended; the workflow's counts
show entered and reached."""

from __future__ import annotations

from typing import Any

from footfall.store import Store
from workflow_engine import Engine, email
from workflow_engine import engine as engine  # the fixtures, for pytest to find here
from workflow_engine import own_store as own_store

FLOW: dict[str, Any] = {
    "name": "carts to orders",
    "start": {"event": "cartUpdated"},
    "blocks": [
        {
            "id": "bought",
            "type": "goal",
            "event": "purchase",
            "when": {"param": "total", "op": "greater", "value": 0},
            "matchParam": "recycleStateId",
            "within": "1d",
        },
        {"id": "wait", "type": "timer", "delay": "1h"},
        {"id": "done", "type": "end"},
    ],
    "edges": [
        {"from": "start", "to": "bought"},
        {"from": "bought", "to": "wait"},
        {"from": "wait", "to": "done"},
    ],
}


def goal_counts(engine: Engine, flow: int) -> dict[str, int]:
    counts: dict[str, int] = engine.store.workflow_runs.counts(engine.ws, flow)["blocks"]["bought"]
    return counts


def test_a_conversion_within_the_window_reaches_the_goal_once_even_after_the_run_ended(
    engine: Engine,
) -> None:
    flow = engine.flow(FLOW)
    who = email()
    engine.send("cartUpdated", who, recycleStateId="c-1")
    engine.step()
    engine.clock.advance(2 * 3600)
    engine.step()
    run, _ = engine.run(flow)
    assert run.status == "completed"
    engine.send("purchase", who, recycleStateId="c-1", total=30)
    engine.send("purchase", who, recycleStateId="c-1", total=40)  # counted once
    engine.step()
    _, steps = engine.run(flow)
    reached = [s for s in steps if s.branch == "reached"]
    assert len(reached) == 1 and reached[0].block == "bought"
    assert (reached[0].note or "").startswith("reached by purchase")
    assert goal_counts(engine, flow) == {"next": 1, "reached": 1}


def test_what_does_not_convert(engine: Engine) -> None:
    flow = engine.flow(FLOW)
    who = email()
    engine.send("purchase", who, recycleStateId="c-2", total=10)  # before the run: not counted
    engine.send("cartUpdated", who, recycleStateId="c-2")
    engine.step()
    engine.send("purchase", who, recycleStateId="another", total=10)  # another cart
    engine.send("purchase", who, recycleStateId="c-2", total=0)  # fails the goal's condition
    engine.send("purchase", email(), recycleStateId="c-2", total=10)  # another contact
    engine.step()
    assert goal_counts(engine, flow) == {"next": 1}
    engine.clock.advance(24 * 3600 + 1)  # the window is over
    engine.send("purchase", who, recycleStateId="c-2", total=10)
    engine.step()
    assert goal_counts(engine, flow) == {"next": 1}


def test_erasing_the_contact_takes_its_open_goals(engine: Engine, own_store: Store) -> None:
    flow = engine.flow(FLOW)
    who = email()
    engine.send("cartUpdated", who, recycleStateId="c-3")
    engine.step()
    run, _ = engine.run(flow)
    own_store.contacts.delete_contact(engine.ws, run.contact_id, True, engine.clock())
    with own_store.db.read() as tx:
        left = tx.one("SELECT count(*) FROM workflow_goals WHERE contact_id = ?", run.contact_id)
    assert left is not None and int(left[0]) == 0
    assert engine.runs(flow) == []
