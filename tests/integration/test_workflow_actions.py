"""Workflow action blocks (http, emit, setField) on SQLite and PostgreSQL, with time controlled by
the test: the engine's loops are driven step by step over a database of their own (no other
worker claims these runs), and requests go to a real HTTP receiver on loopback.

What is shown: the rendered request and its stable Idempotency-Key, retries on failures that may
pass and none on a refusal, the failed branch, an outcome a dead worker left unknown, emitted
events and set fields written once, the re-checks before every action (stop events not yet
consumed, start conditions on contact fields), and allowed hours.
"""

from __future__ import annotations

import base64
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from footfall.store.contacts import set_field
from footfall.store.rows import EventQuery
from footfall.store.workflow_runs import ACTION
from receiver import Receiver
from workflow_engine import Engine, email, notes
from workflow_engine import engine as engine  # the fixtures, for pytest to find here
from workflow_engine import own_store as own_store
from workflow_engine import receiver as receiver


def http_flow(url: str, **http: Any) -> dict[str, Any]:
    return {
        "name": f"calls {uuid.uuid4().hex[:6]}",
        "start": {"event": "cartUpdated"},
        "stop": {"events": ["orderCREATED"], "matchParam": "recycleStateId"},
        "blocks": [
            {
                "id": "call",
                "type": "http",
                "url": url,
                "body": {
                    "cart": "{{ event.params.recycleStateId }}",
                    "items": "{{ event.params.products }}",
                    "to": "{{ contact.email }}",
                    "first": "{{ event.params.products[0].name | upper }}",
                },
                "headers": {"X-Cart": "cart {{ event.params.recycleStateId }}"},
                "auth": {"username": "shop", "password": "{{ run.workflowId }}"},
                "timeout": "2s",
                **http,
            },
            {"id": "done", "type": "end"},
            {"id": "left", "type": "end"},
        ],
        "edges": [
            {"from": "start", "to": "call"},
            {"from": "call", "to": "done"},
            {"from": "call", "on": "failed", "to": "left"},
        ],
    }


PRODUCTS = [{"productId": "p1", "name": "boots", "price": 120}]


def test_http_block_sends_the_rendered_request_with_its_idempotency_key(
    engine: Engine, receiver: Receiver
) -> None:
    flow = engine.flow(http_flow(receiver.url))
    who = email()
    engine.send("cartUpdated", who, recycleStateId="c-1", products=PRODUCTS)
    engine.step()
    (request,) = receiver.posts()
    run, steps = engine.run(flow)
    assert request.json() == {"cart": "c-1", "items": PRODUCTS, "to": who, "first": "BOOTS"}
    assert request.headers["Idempotency-Key"] == f"footfall-run-{run.id}-call"
    assert request.headers["X-Cart"] == "cart c-1"
    assert (
        request.headers["Authorization"]
        == "Basic " + base64.b64encode(f"shop:{flow}".encode()).decode()
    )
    assert run.status == "completed" and run.block == "done"
    assert [(s.block, s.branch) for s in steps] == [
        ("call", None),
        ("call", "next"),
        ("done", None),
    ]
    assert "answered 200" in notes(steps)[0]


def test_a_failure_that_may_pass_is_retried_with_the_same_key(
    engine: Engine, receiver: Receiver
) -> None:
    flow = engine.flow(http_flow(receiver.url, retries=2))
    receiver.status(503)
    engine.send("cartUpdated", email(), recycleStateId="c-2", products=PRODUCTS)
    engine.step()
    assert len(receiver.posts()) == 1
    run, _ = engine.run(flow)
    assert run.status == "running" and run.block == "call"
    engine.step()  # not due yet: nothing is sent
    assert len(receiver.posts()) == 1
    engine.clock.advance(10)
    engine.step()
    assert len(receiver.posts()) == 2
    engine.clock.advance(60)
    engine.step()
    posts = receiver.posts()
    assert len(posts) == 3
    assert len({p.headers["Idempotency-Key"] for p in posts}) == 1
    run, steps = engine.run(flow)
    assert run.status == "completed" and run.block == "left"
    assert ("call", "failed") in [(s.block, s.branch) for s in steps]
    assert sum("answered 503" in n for n in notes(steps)) == 3


def test_a_retry_that_succeeds_takes_the_next_branch(engine: Engine, receiver: Receiver) -> None:
    flow = engine.flow(http_flow(receiver.url))
    receiver.script([500])
    engine.send("cartUpdated", email(), recycleStateId="c-3", products=PRODUCTS)
    engine.step()
    engine.clock.advance(10)
    engine.step()
    assert [a.headers["Idempotency-Key"] for a in receiver.posts()].count(
        receiver.posts()[0].headers["Idempotency-Key"]
    ) == 2
    run, _ = engine.run(flow)
    assert run.status == "completed" and run.block == "done"


def test_a_refusal_is_not_retried_and_without_a_failed_edge_fails_the_run(
    engine: Engine, receiver: Receiver
) -> None:
    document = http_flow(receiver.url)
    document["edges"] = document["edges"][:2]
    document["blocks"] = document["blocks"][:2]
    flow = engine.flow(document)
    receiver.status(422)
    engine.send("cartUpdated", email(), recycleStateId="c-4", products=PRODUCTS)
    engine.step()
    engine.clock.advance(3600)
    engine.step()
    assert len(receiver.posts()) == 1
    run, steps = engine.run(flow)
    assert run.status == "failed" and run.reason == "block 'call' failed"
    assert "answered 422" in notes(steps)[0]


def test_an_outcome_a_dead_worker_left_unknown_is_recorded_then_tried_again(
    engine: Engine, receiver: Receiver
) -> None:
    flow = engine.flow(http_flow(receiver.url))
    engine.send("cartUpdated", email(), recycleStateId="c-5", products=PRODUCTS)
    engine.consume()  # the run is now at its action
    sending = {"do": "act", "attempt": 1, "sending": True}
    until = engine.clock() + 17_000_000
    claimed, _ = engine.store.workflow_runs.claim_prepared(
        "dead-worker",
        10,
        30_000_000,
        ACTION,
        None,
        lambda tx, found: [None for _ in found],
        lambda found, _: [(item.run, sending, until) for item in found],
    )  # as a worker does before it sends the request, then it dies
    assert len(claimed) == 1
    engine.step()  # the dead worker's hold lasts until the request's deadline
    assert receiver.posts() == []
    engine.clock.advance(18)
    engine.step()
    (request,) = receiver.posts()
    run, steps = engine.run(flow)
    assert request.headers["Idempotency-Key"] == f"footfall-run-{run.id}-call"
    assert run.status == "completed"
    assert "attempt 1: outcome unknown" in notes(steps)[0]
    assert "attempt 2:" in notes(steps)[1]


def test_a_stop_event_not_consumed_yet_stops_the_run_before_it_acts(
    engine: Engine, receiver: Receiver
) -> None:
    flow = engine.flow(http_flow(receiver.url))
    who = email()
    engine.send("cartUpdated", who, recycleStateId="c-6", products=PRODUCTS)
    engine.consume()
    engine.send("orderCREATED", who, recycleStateId="other-cart")
    engine.aio.run_until_complete(engine.actions.drain())
    assert len(receiver.posts()) == 1  # another cart's order does not stop it
    flow = engine.flow(http_flow(receiver.url) | {"name": "second"})
    engine.send("cartUpdated", who, recycleStateId="c-7", products=PRODUCTS)
    engine.consume()
    engine.send("orderCREATED", who, recycleStateId="c-7")
    engine.aio.run_until_complete(engine.actions.drain())  # the feed is not consumed yet
    assert len(receiver.posts()) == 1
    run, _steps = engine.run(flow)
    assert run.status == "stopped" and run.reason == "stopped by orderCREATED before 'call'"


def test_start_conditions_on_the_contact_are_checked_again_before_acting(
    engine: Engine, receiver: Receiver
) -> None:
    document = http_flow(receiver.url)
    document["start"]["when"] = {"contact": "tier", "op": "notEquals", "value": "blocked"}
    document["blocks"].insert(0, {"id": "wait", "type": "timer", "delay": "1h"})
    document["edges"][0] = {"from": "start", "to": "wait"}
    document["edges"].append({"from": "wait", "to": "call"})
    flow = engine.flow(document)
    engine.send("cartUpdated", email(), recycleStateId="c-8", products=PRODUCTS)
    engine.step()
    run, _ = engine.run(flow)
    assert run.status == "waiting"
    engine.store.db.transact(
        lambda tx: set_field(tx, engine.store.dialect, run.contact_id, "tier", "blocked", 1)
    )
    engine.clock.advance(3600)
    engine.step()
    assert receiver.posts() == []
    run, _ = engine.run(flow)
    assert run.status == "stopped" and "start conditions no longer held" in (run.reason or "")


def test_emit_and_set_field_write_once_and_the_emitted_event_starts_other_workflows(
    engine: Engine, receiver: Receiver
) -> None:
    marking = engine.flow(
        {
            "name": "mark",
            "start": {"event": "visit"},
            "blocks": [
                {
                    "id": "tier",
                    "type": "setField",
                    "field": "tier",
                    "value": "{{ event.params.level }}",
                },
                {"id": "name", "type": "setField", "field": "firstName", "value": "Ann"},
                {
                    "id": "tell",
                    "type": "emit",
                    "event": "tiered",
                    "params": {"level": "{{ event.params.level }}", "by": "{{ run.id }}"},
                },
                {"id": "done", "type": "end"},
            ],
            "edges": [
                {"from": "start", "to": "tier"},
                {"from": "tier", "to": "name"},
                {"from": "name", "to": "tell"},
                {"from": "tell", "to": "done"},
            ],
        }
    )
    echo = engine.flow(
        {
            "name": "echo",
            "start": {"event": "tiered"},
            "blocks": [
                {"id": "call", "type": "http", "url": receiver.url, "body": "{{ event.params }}"},
                {"id": "again", "type": "emit", "event": "tieredAgain"},
                {"id": "done", "type": "end"},
            ],
            "edges": [
                {"from": "start", "to": "call"},
                {"from": "call", "to": "again"},
                {"from": "again", "to": "done"},
            ],
        }
    )
    who = email()
    engine.send("visit", who, level=3)
    engine.step()
    run, _steps = engine.run(marking)
    assert run.status == "completed"
    contact = engine.store.contacts.get_contact(engine.ws, run.contact_id)
    assert contact["firstName"] == "Ann"
    assert {"id": "tier", "value": 3} in contact["fields"]
    events = engine.store.events.list_events(engine.ws, _query(run.contact_id))
    emitted = [e for e in events if e.event_type_key == "tiered"]
    assert len(emitted) == 1 and emitted[0].source == "workflow"
    assert json.loads(emitted[0].params_json) == [
        {"name": "level", "value": 3},
        {"name": "by", "value": run.id},
    ]
    assert emitted[0].key_value == who and emitted[0].contact_id == run.contact_id
    (request,) = receiver.posts()
    assert request.json() == {"level": 3, "by": run.id}
    echoed, echo_steps = engine.run(echo)
    assert echoed.status == "completed" and echoed.contact_id == run.contact_id
    assert any("not emitted" in n for n in notes(echo_steps))
    assert not [e for e in events if e.event_type_key == "tieredAgain"]


def _query(contact_id: int) -> EventQuery:
    return EventQuery(contact_id=contact_id, limit=100)


def test_an_action_outside_its_allowed_hours_waits_for_the_window(
    engine: Engine, receiver: Receiver
) -> None:
    flow = engine.flow(http_flow(receiver.url, allowedHours={"from": "09:00", "to": "21:00"}))
    engine.send("cartUpdated", email(), recycleStateId="c-9", products=PRODUCTS)
    engine.step()  # 03:00 UTC: the contact has no time zone, the workspace's is UTC
    assert receiver.posts() == []
    run, steps = engine.run(flow)
    assert run.status == "running" and run.block == "call"
    assert "due at 2026-12-03T09:00:00Z" in notes(steps)[0]
    engine.clock.advance(6 * 3600 - 1)
    engine.step()
    assert receiver.posts() == []
    engine.clock.advance(1)
    engine.step()
    assert len(receiver.posts()) == 1
    assert engine.run(flow)[0].status == "completed"


def test_allowed_hours_are_the_contacts_local_time(engine: Engine, receiver: Receiver) -> None:
    document = http_flow(receiver.url, allowedHours={"from": "09:00", "to": "21:00"})
    document["blocks"].insert(0, {"id": "wait", "type": "timer", "delay": "1s"})
    document["edges"][0] = {"from": "start", "to": "wait"}
    document["edges"].append({"from": "wait", "to": "call"})
    flow = engine.flow(document)
    engine.send("cartUpdated", email(), recycleStateId="c-10", products=PRODUCTS)
    engine.step()
    run, _ = engine.run(flow)
    engine.store.db.transact(
        lambda tx: set_field(tx, engine.store.dialect, run.contact_id, "timeZone", "Asia/Tokyo", 1)
    )
    engine.clock.advance(1)
    engine.step()  # 03:00 UTC is 12:00 in Tokyo
    assert len(receiver.posts()) == 1


def test_the_workspace_window_and_time_zone_apply_unless_a_block_says_otherwise(
    engine: Engine, receiver: Receiver
) -> None:
    settings = engine.store.workspace_settings
    settings.update(engine.ws, allowed=("09:00", "21:00"))
    anytime = engine.flow(http_flow(receiver.url, allowedHours=False))
    windowed = engine.flow(http_flow(receiver.url) | {"name": "windowed"})
    engine.send("cartUpdated", email(), recycleStateId="c-11", products=PRODUCTS)
    engine.step()  # 03:00 UTC, the workspace's zone: only the block that allows any time acts
    assert len(receiver.posts()) == 1
    assert engine.run(anytime)[0].status == "completed"
    assert engine.run(windowed)[0].block == "call"
    settings.update(engine.ws, time_zone="Asia/Tokyo")  # 12:00 there
    engine.clock.advance(3600)  # the deferred run is due at 09:00 UTC; Tokyo is no sooner due
    engine.step()
    assert len(receiver.posts()) == 1
    engine.clock.advance(5 * 3600)
    engine.step()
    assert len(receiver.posts()) == 2


def test_timers_fall_due_in_the_workspace_time_zone_when_the_contact_has_none(
    engine: Engine, receiver: Receiver
) -> None:
    engine.store.workspace_settings.update(engine.ws, time_zone="Asia/Tokyo")
    document = http_flow(receiver.url)
    document["blocks"].insert(0, {"id": "wait", "type": "timer", "until": {"time": "10:00"}})
    document["edges"][0] = {"from": "start", "to": "wait"}
    document["edges"].append({"from": "wait", "to": "call"})
    flow = engine.flow(document)
    engine.send("cartUpdated", email(), recycleStateId="c-12", products=PRODUCTS)
    engine.step()  # 12:00 in Tokyo: the next 10:00 there is 01:00 UTC tomorrow
    assert engine.run(flow)[0].status == "waiting"
    engine.clock.advance(22 * 3600 - 1)
    engine.step()
    assert receiver.posts() == []
    engine.clock.advance(1)
    engine.step()
    assert len(receiver.posts()) == 1


def test_an_effect_the_database_refuses_fails_the_run_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*args: Any, **kwargs: Any) -> None:
        raise ValueError("refused by the database")

    monkeypatch.setattr("footfall.workflows.actions.write_items", refused)
    flow = engine.flow(
        {
            "name": "emits",
            "start": {"event": "visit"},
            "blocks": [
                {"id": "tell", "type": "emit", "event": "told"},
                {"id": "done", "type": "end"},
            ],
            "edges": [{"from": "start", "to": "tell"}, {"from": "tell", "to": "done"}],
        }
    )
    engine.send("visit", email())
    engine.step()
    run, steps = engine.run(flow)
    assert run.status == "failed"
    assert run.reason == "its action could not be taken (the database refused its effect)"
    engine.clock.advance(60)  # past any lease: it is not taken again
    engine.step()
    assert engine.run(flow)[1] == steps


def test_preparing_a_claim_holds_no_lock_and_what_another_worker_took_meanwhile_is_left_out(
    engine: Engine, receiver: Receiver
) -> None:
    """Preparing (rendering templates: up to 500 per workflow) is done in a read, never inside
    a write transaction (on SQLite it would hold the only writer; on PostgreSQL every feed of
    the cluster waits for a write transaction to end): another worker takes the run while it
    is being prepared, and the claim's short write then leaves it out, attempt and all."""
    engine.flow(http_flow(receiver.url))
    engine.send("cartUpdated", email(), recycleStateId="c-7", products=PRODUCTS)
    engine.consume()  # the run is now at its action
    runs = engine.store.workflow_runs
    seen: list[int] = []

    def prepare(tx: Any, found: list[Any]) -> list[str]:
        seen.extend(item.run.id for item in found)
        with ThreadPoolExecutor(1) as other:  # a write, meanwhile: it would wait on a lock
            taken = other.submit(runs.claim, "other-worker", 10, 30_000_000, ACTION).result(10)
        assert [item.run.id for item in taken] == seen
        return ["prepared"] * len(found)

    def attempts(found: list[Any], prepared: list[str]) -> list[tuple[Any, Any, int]]:
        return [(item.run, {"do": "act", "sending": True}, engine.clock() + 1) for item in found]

    claimed, prepared = runs.claim_prepared(
        "this-worker", 10, 30_000_000, ACTION, None, prepare, attempts
    )
    assert len(seen) == 1 and (claimed, prepared) == ([], [])
    with engine.store.read() as tx:  # the other worker's claim stands, without an attempt
        owner, state = tx.one(
            "SELECT owner, state FROM due_work WHERE kind = ? AND subject = ?", ACTION, seen[0]
        )
    assert owner == "other-worker" and "sending" not in str(state)
