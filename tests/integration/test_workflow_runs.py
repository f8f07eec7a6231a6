"""Workflow runs end to end on the shared servers (their worker runtime in-process), on SQLite
and PostgreSQL: events sent to the event API start runs, stop them and wake them; timers fire;
the path and the counts show it; erasure takes runs with it."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from footfall.clock import now_us
from footfall.store import Store
from footfall.store.workflows import KEEP_VERSIONS
from footfall.workflows.date_scan import DateScan
from footfall.workflows.engine import Plans
from receiver import Receiver

FLOWS = "/api/v1/workflows"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def send(api: httpx.Client, kind: str, email: str, **params: Any) -> None:
    body = {
        "eventTypeKey": kind,
        "keyValue": email,
        "params": [{"name": "email", "value": email}]
        + [
            {"name": name, "value": json.dumps(v) if isinstance(v, dict | list) else v}
            for name, v in params.items()
        ],
    }
    answer = api.post("/api/v2/event", json=body)
    assert answer.status_code == 200, answer.text


def enabled(api: httpx.Client, document: dict[str, Any]) -> int:
    answer = api.post(FLOWS, json=document, params={"enabled": "true"})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def runs(api: httpx.Client, workflow_id: int) -> list[dict[str, Any]]:
    answer = api.get(f"{FLOWS}/{workflow_id}/runs")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


def until(check: Callable[[], Any], what: str, seconds: float = 15.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {what}")


def path(api: httpx.Client, workflow_id: int, run_id: int) -> list[tuple[str, str | None]]:
    answer = api.get(f"{FLOWS}/{workflow_id}/runs/{run_id}")
    assert answer.status_code == 200, answer.text
    return [(step["block"], step["branch"]) for step in answer.json()["path"]]


def cart_flow(name: str, *, delay: str = "1s", **start: Any) -> dict[str, Any]:
    return {
        "name": name,
        "start": {
            "event": "cartUpdated",
            "when": {"param": "products[*].productId", "op": "isSet"},
            **start,
        },
        "stop": {"events": ["orderCREATED"], "matchParam": "recycleStateId"},
        "blocks": [
            {"id": "wait", "type": "timer", "delay": delay},
            {
                "id": "big",
                "type": "condition",
                "when": {"param": "products[*].price", "op": "greater", "value": 100},
            },
            {"id": "goal", "type": "goal", "event": "orderCREATED", "within": "7d"},
            {"id": "done", "type": "end"},
        ],
        "edges": [
            {"from": "start", "to": "wait"},
            {"from": "wait", "to": "big"},
            {"from": "big", "on": "yes", "to": "goal"},
            {"from": "big", "on": "no", "to": "done"},
            {"from": "goal", "to": "done"},
        ],
    }


def email() -> str:
    return f"{uuid.uuid4().hex[:10]}@example.com"


def cart(cart_id: str, price: float = 150) -> dict[str, Any]:
    return {
        "recycleStateId": cart_id,
        "products": [{"productId": "p1", "price": price, "quantity": 1}],
    }


def test_a_run_starts_waits_on_its_timer_and_completes(api: httpx.Client) -> None:
    flow = enabled(api, cart_flow("carts"))
    who = email()
    send(api, "cartUpdated", who, **cart("c-1", price=150))
    run = until(lambda: [r for r in runs(api, flow) if r["status"] == "completed"], "completed")[0]
    assert path(api, flow, run["id"]) == [
        ("wait", "next"),
        ("big", "yes"),
        ("goal", "next"),
        ("done", None),
    ]
    assert run["version"] == 1 and run["reason"] is None and run["ended"] is not None

    send(api, "cartUpdated", who, **cart("c-2", price=20))
    cheap = until(
        lambda: [r for r in runs(api, flow) if r["status"] == "completed" and r["id"] != run["id"]],
        "the second run",
    )[0]
    assert path(api, flow, cheap["id"])[1] == ("big", "no")
    counts = api.get(f"{FLOWS}/{flow}/stats").json()
    assert counts["runs"] == {"completed": 2}
    assert counts["blocks"]["big"] == {"yes": 1, "no": 1}


def test_only_live_events_meeting_the_conditions_start_runs(api: httpx.Client) -> None:
    flow = enabled(api, cart_flow("carts", delay="1h"))
    who = email()
    send(api, "cartUpdated", who, recycleStateId="empty", products=[])
    past = {
        "events": [
            {
                "eventTypeKey": "cartUpdated",
                "keyValue": who,
                "occurred": "2024-03-22T14:30",
                "params": [
                    {"name": "email", "value": who},
                    {"name": "recycleStateId", "value": "old"},
                    {"name": "products", "value": [{"productId": "p1", "price": 1, "quantity": 1}]},
                ],
            }
        ]
    }
    assert api.post("/api/v2/past_events", json=past).status_code == 200
    send(api, "cartUpdated", who, **cart("c-1"))
    waiting = until(lambda: runs(api, flow), "a run")
    time.sleep(0.5)  # the events before it were handled before it: nothing else comes
    assert len(runs(api, flow)) == 1 and waiting[0]["status"] == "waiting"
    assert waiting[0]["block"] == "wait"


def test_a_stop_event_for_the_same_cart_stops_the_run_while_it_waits(api: httpx.Client) -> None:
    flow = enabled(api, cart_flow("carts", delay="1h"))
    who = email()
    send(api, "cartUpdated", who, **cart("c-1"))
    send(api, "cartUpdated", who, **cart("c-2"))
    until(lambda: len([r for r in runs(api, flow) if r["status"] == "waiting"]) == 2, "2 waiting")
    send(api, "orderCREATED", who, recycleStateId="c-1")
    stopped = until(
        lambda: [r for r in runs(api, flow) if r["status"] == "stopped"], "a stopped run"
    )
    assert len(stopped) == 1 and "orderCREATED" in stopped[0]["reason"]
    first = api.get(f"{FLOWS}/{flow}/runs/{stopped[0]['id']}").json()
    assert first["startEventId"] < max(r["startEventId"] for r in runs(api, flow))
    assert [r["status"] for r in runs(api, flow)].count("waiting") == 1

    # another contact's order for the same cart id stops nothing of this one
    send(api, "orderCREATED", email(), recycleStateId="c-2")
    time.sleep(0.5)
    assert [r["status"] for r in runs(api, flow)].count("waiting") == 1


def test_a_stop_event_before_the_start_within_the_look_back(api: httpx.Client) -> None:
    document = cart_flow("carts", delay="1h")
    document["stop"]["lookBack"] = "1h"
    flow = enabled(api, document)
    who = email()
    send(api, "orderCREATED", who, recycleStateId="c-9")
    send(api, "cartUpdated", who, **cart("c-9"))
    send(api, "cartUpdated", who, **cart("c-10"))
    found = until(lambda: len(runs(api, flow)) == 2 and runs(api, flow), "two runs")
    by_cart = {r["status"] for r in found}
    assert by_cart == {"stopped", "waiting"}
    stopped = next(r for r in found if r["status"] == "stopped")
    assert "lookBack" in stopped["reason"]


def test_repeat_policies_and_not_while_active(api: httpx.Client) -> None:
    once = enabled(api, cart_flow("once", delay="1h", repeat="oncePerContact"))
    guarded = enabled(api, cart_flow("guarded", delay="1h", notWhileActive=True))
    who = email()
    for cart_id in ("a", "b", "c"):
        send(api, "cartUpdated", who, **cart(cart_id))
    until(lambda: runs(api, once) and runs(api, guarded), "runs of both")
    time.sleep(0.5)
    assert len(runs(api, once)) == 1
    assert len(runs(api, guarded)) == 1
    run = runs(api, guarded)[0]
    stopped = api.post(f"{FLOWS}/{guarded}/runs/{run['id']}/stop")
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    send(api, "cartUpdated", who, **cart("d"))
    until(lambda: len(runs(api, guarded)) == 2, "a new run once the other stopped")
    assert len(runs(api, once)) == 1
    assert api.post(f"{FLOWS}/{guarded}/stop").json() == {"stopped": 1}


def test_a_wait_for_an_event_takes_its_branch_or_times_out(api: httpx.Client) -> None:
    document = {
        "name": "wait",
        "start": {"event": "cartUpdated"},
        "blocks": [
            {
                "id": "order",
                "type": "waitEvent",
                "event": "orderCREATED",
                "matchParam": "recycleStateId",
                "timeout": "2s",
            },
            {"id": "bought", "type": "end"},
            {"id": "left", "type": "end"},
        ],
        "edges": [
            {"from": "start", "to": "order"},
            {"from": "order", "on": "event", "to": "bought"},
            {"from": "order", "on": "timeout", "to": "left"},
        ],
    }
    flow = enabled(api, document)
    buyer, browser = email(), email()
    send(api, "cartUpdated", buyer, **cart("w-1"))
    send(api, "cartUpdated", browser, **cart("w-2"))
    until(lambda: len(runs(api, flow)) == 2, "two runs")
    send(api, "orderCREATED", buyer, recycleStateId="w-1")
    send(api, "orderCREATED", browser, recycleStateId="another cart")
    done = until(
        lambda: (
            len([r for r in runs(api, flow) if r["status"] == "completed"]) == 2 and runs(api, flow)
        ),
        "both runs over",
    )
    ends = {r["block"] for r in done}
    assert ends == {"bought", "left"}
    bought = next(r for r in done if r["block"] == "bought")
    assert path(api, flow, bought["id"]) == [("order", "event"), ("bought", None)]


def test_a_workflow_started_by_a_contact_date_runs_enabled(api: httpx.Client, store: Store) -> None:
    """Enabled through the API; the date scan (the workers' periodic job, run here at once)
    creates the run ahead of its moment, waiting, without a starting event."""
    moment = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    start = {"field": "birthday", "daysBefore": 0, "at": moment.strftime("%H:%M")}
    birthday = {
        "name": "birthday",
        "start": {"contactDate": start},
        "stop": {"events": ["orderCREATED"]},
        "blocks": [{"id": "wait", "type": "timer", "delay": "1h"}, {"id": "done", "type": "end"}],
        "edges": [{"from": "start", "to": "wait"}, {"from": "wait", "to": "done"}],
    }
    flow = enabled(api, birthday)
    contact = {
        "externalCustomerId": f"b-{uuid.uuid4().hex[:8]}",
        "timeZone": "UTC",
        "fields": [{"id": "birthday", "value": moment.date().isoformat()}],
    }
    assert api.post("/api/v1/contact", json=contact).status_code == 200
    DateScan(store.workflow_dates, Plans(), now_us).run()
    (run,) = until(lambda: runs(api, flow), "the run of the birthday")
    assert (run["status"], run["block"], run["startEventId"]) == ("waiting", None, None)
    assert datetime.fromisoformat(run["started"]) == moment  # its moment
    assert api.post(f"{FLOWS}/{flow}/stop").json() == {"stopped": 1}
    assert api.post(f"{FLOWS}/{flow}/disable").status_code == 200


def test_an_event_reaches_a_receiver_through_the_running_workers(
    api: httpx.Client, receiver: Receiver
) -> None:
    document = cart_flow("acts")
    document["blocks"].insert(
        0,
        {
            "id": "call",
            "type": "http",
            "url": receiver.url,
            "body": {"cart": "{{ event.params.recycleStateId }}"},
        },
    )
    document["edges"][0] = {"from": "start", "to": "call"}
    document["edges"].append({"from": "call", "to": "wait"})
    flow = enabled(api, document)
    send(api, "cartUpdated", email(), **cart("live-1"))
    (request,) = receiver.wait_for(lambda seen: len(seen) == 1)
    assert request.json() == {"cart": "live-1"}
    run = until(lambda: [r for r in runs(api, flow) if r["block"] == "wait"], "past the call")[0]
    assert request.headers["Idempotency-Key"] == f"footfall-run-{run['id']}-call"


def test_erasure_takes_the_runs_and_their_paths(api: httpx.Client, store: Store) -> None:
    flow = enabled(api, cart_flow("carts", delay="1h"))
    who = email()
    send(api, "cartUpdated", who, **cart("e-1"))
    run = until(lambda: runs(api, flow), "a run")[0]
    contact = run["contactId"]
    assert [r["id"] for r in api.get(f"/api/v1/contact/{contact}/runs").json()] == [run["id"]]
    assert api.delete(f"/api/v1/contact/{contact}", params={"erase": "true"}).status_code == 200
    assert runs(api, flow) == []
    assert api.get(f"/api/v1/contact/{contact}/runs").json() == []
    with store.read() as tx:
        left = tx.one("SELECT count(*) FROM workflow_steps WHERE run_id = ?", run["id"])
        due = tx.one(
            "SELECT count(*) FROM due_work WHERE kind = 'workflow_run' AND subject = ?", run["id"]
        )
    assert (int(left[0]), int(due[0])) == (0, 0)


def test_deleting_a_workflow_deletes_its_runs(api: httpx.Client) -> None:
    flow = enabled(api, cart_flow("carts", delay="1h"))
    send(api, "cartUpdated", email(), **cart("d-1"))
    until(lambda: runs(api, flow), "a run")
    assert api.delete(f"{FLOWS}/{flow}").status_code == 204
    assert api.get(f"{FLOWS}/{flow}/runs").status_code == 404


@pytest.mark.parametrize("given", ["0", "x", "99999999999999999999"])
def test_bad_run_ids(api: httpx.Client, given: str) -> None:
    flow = enabled(api, cart_flow("carts"))
    assert api.get(f"{FLOWS}/{flow}/runs/{given}").status_code == 400
    assert api.get(f"{FLOWS}/{flow}/runs", params={"before": given}).status_code in (200, 400)
    assert api.get(f"{FLOWS}/{flow}/runs/12345678").status_code == 404


def test_replayed_failures_never_start_runs(api: httpx.Client) -> None:
    flow = enabled(api, {**cart_flow("reviews", delay="1h"), "start": {"event": "Reviewed"}})
    rules = {"validateParams": True, "params": [{"name": "sku"}]}
    assert api.put("/api/v1/event-types/Reviewed", json=rules).status_code == 200
    refused, accepted = email(), email()
    body = {
        "eventTypeKey": "Reviewed",
        "keyValue": refused,
        "params": [{"name": "email", "value": refused}],
    }
    assert api.post("/api/v2/event", json=body).status_code == 400
    assert (
        api.put("/api/v1/event-types/Reviewed", json={"validateParams": False}).status_code == 200
    )
    replay = api.post("/api/v1/failed-events/replay", json={"eventTypeKey": "Reviewed"})
    assert replay.json()["replayed"] == 1
    history = api.get("/api/v1/events", params={"eventTypeKey": "Reviewed"}).json()
    assert [event["source"] for event in history] == ["replay"]
    send(api, "Reviewed", accepted)
    started = until(lambda: runs(api, flow), "the live event's run")
    time.sleep(0.5)
    assert len(runs(api, flow)) == 1
    assert started[0]["startEventId"] > history[0]["id"]


def test_versions_a_run_uses_outlive_the_pruning(api: httpx.Client) -> None:
    flow = enabled(api, cart_flow("carts", delay="1h"))
    who = email()
    send(api, "cartUpdated", who, **cart("v-1"))
    until(lambda: runs(api, flow), "a run")
    for hours in range(2, 2 + KEEP_VERSIONS + 3):
        changed = api.put(f"{FLOWS}/{flow}", json=cart_flow("carts", delay=f"{hours}h"))
        assert changed.status_code == 200, changed.text
    assert api.get(f"{FLOWS}/{flow}", params={"version": 1}).status_code == 200
    assert api.get(f"{FLOWS}/{flow}", params={"version": 2}).status_code == 404
    send(api, "orderCREATED", who, recycleStateId="v-1")
    stopped = until(lambda: [r for r in runs(api, flow) if r["status"] == "stopped"], "stopped")
    assert stopped[0]["version"] == 1


def test_a_stale_wake_and_an_orphaned_step_change_nothing(api: httpx.Client, store: Store) -> None:
    from footfall.store.workflow_runs import KIND, active_runs_of, wake_run

    document = {
        "name": "wait",
        "start": {"event": "cartUpdated"},
        "blocks": [
            {"id": "order", "type": "waitEvent", "event": "orderCREATED", "timeout": "1h"},
            {"id": "done", "type": "end"},
        ],
        "edges": [
            {"from": "start", "to": "order"},
            {"from": "order", "on": "event", "to": "done"},
            {"from": "order", "on": "timeout", "to": "done"},
        ],
    }
    flow = enabled(api, document)
    send(api, "cartUpdated", email(), **cart("s-1"))
    run = until(lambda: [r for r in runs(api, flow) if r["status"] == "waiting"], "waiting")[0]
    with store.read() as tx:
        going = active_runs_of(tx, [run["contactId"]])[run["contactId"]]
        [seen] = [r for r in going if r.id == run["id"]]

    def wake(tx: Any) -> bool:
        return wake_run(tx, store.dialect, seen, {"do": "event", "event": 0}, seen.updated_us + 1)

    assert store.transact(wake) is True
    assert store.transact(wake) is False  # the run moved on since it was read: no second wake
    until(lambda: runs(api, flow)[0]["status"] == "completed", "completed once")
    assert path(api, flow, run["id"]) == [("order", "event"), ("done", None)]

    def orphan(tx: Any) -> None:
        tx.execute(
            "INSERT INTO due_work (kind, subject, workspace_id, due_us, attempts, until_us) "
            "VALUES (?, ?, ?, 0, 0, 0)",
            KIND,
            987654321,
            _workspace_of(store, flow),
        )

    store.transact(orphan)
    claimed = store.workflow_runs.claim("test-owner", 1000, 1_000_000)
    assert all(c.run.id != 987654321 for c in claimed)
    with store.read() as tx:
        left = tx.one(
            "SELECT count(*) FROM due_work WHERE kind = ? AND subject = ?", KIND, 987654321
        )
    assert int(left[0]) == 0
    store.workflow_runs.release("test-owner")


def _workspace_of(store: Store, workflow_id: int) -> int:
    with store.read() as tx:
        return int(tx.one("SELECT workspace_id FROM workflows WHERE id = ?", workflow_id)[0])
