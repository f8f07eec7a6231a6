"""Workflow timers survive workers killed with SIGKILL: real ``footfall serve --no-worker`` and
``footfall worker`` processes (two workers on PostgreSQL). Runs started before the kill wait on
a timer that falls due while no worker runs; once workers are back every run goes on exactly
once: each passes its timer once and completes."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
from test_webhook_workers import Processes, deployment, wait_healthy

from conftest import NO_TLS_HERE, basic, free_port
from footfall import access
from footfall.config import Settings
from footfall.store import Store
from footfall.workflows.service import WorkflowService
from receiver import Receiver

__all__ = ["deployment"]  # the fixture, shared with the webhook workers' tests

RUNS = 60
FLOW = {
    "name": "visits",
    "start": {"event": "visited"},
    "blocks": [
        {"id": "wait", "type": "timer", "delay": "3s"},
        {"id": "done", "type": "end"},
    ],
    "edges": [{"from": "start", "to": "wait"}, {"from": "wait", "to": "done"}],
}


def statuses(store: Store) -> dict[str, int]:
    with store.read() as tx:
        rows = tx.all("SELECT status, count(*) FROM workflow_runs GROUP BY status")
    return {status: int(count) for status, count in rows}


def wait_until(check: object, seconds: float, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.1)


def test_timers_fire_after_the_workers_were_killed_and_no_run_moves_twice(
    deployment: tuple[str, dict[str, str], Store], tmp_path: Path
) -> None:
    backend, env, store = deployment
    workspace = access.create_workspace(store.access, "flows")
    ws = store.access.workspace_id("flows")
    assert ws is not None
    WorkflowService(store.workflows, Settings()).create(ws, FLOW, enabled=True)
    log = tmp_path / "processes.log"
    processes = Processes(env, log)
    try:
        port = free_port()
        api = processes.start("serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port))
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, api, log)
        count = 2 if backend == "postgres" else 1
        workers = [processes.start("worker") for _ in range(count)]
        with httpx.Client(
            base_url=url, headers=basic(workspace.api_key), timeout=10, verify=NO_TLS_HERE
        ) as client:
            for n in range(RUNS):
                who = f"visitor-{n}@example.com"  # an event without a contact starts nothing
                event = {
                    "eventTypeKey": "visited",
                    "keyValue": who,
                    "params": [{"name": "email", "value": who}],
                }
                assert client.post("/api/v2/event", json=event).status_code == 200
        wait_until(lambda: statuses(store).get("waiting") == RUNS, 30, log)
        for worker in workers:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
        time.sleep(3.5)  # every timer falls due while no worker runs
        assert statuses(store) == {"waiting": RUNS}
        for _ in range(count):
            processes.start("worker")
        wait_until(lambda: statuses(store).get("completed") == RUNS, 30, log)
        with store.read() as tx:
            passes = tx.all(
                "SELECT run_id, count(*) FROM workflow_steps WHERE block = 'wait' "
                "AND branch = 'next' GROUP BY run_id"
            )
            due = tx.one("SELECT count(*) FROM due_work WHERE kind = 'workflow_run'")
        assert len(passes) == RUNS and all(int(n) == 1 for _, n in passes)
        assert int(due[0]) == 0
    finally:
        processes.stop_all()
    assert "Traceback" not in log.read_text()


CALLS = 8


def call_flow(url: str) -> dict[str, Any]:
    return {
        "name": "calls",
        "start": {"event": "ordered"},
        "blocks": [
            {"id": "call", "type": "http", "url": url, "timeout": "2s",
             "body": {"n": "{{ event.params.n }}"}},
            {"id": "done", "type": "end"},
        ],
        "edges": [{"from": "start", "to": "call"}, {"from": "call", "to": "done"}],
    }  # fmt: skip


def test_requests_in_flight_when_the_workers_die_are_recorded_unknown_and_sent_again(
    deployment: tuple[str, dict[str, str], Store], tmp_path: Path
) -> None:
    backend, env, store = deployment
    workspace = access.create_workspace(store.access, "calls")
    ws = store.access.workspace_id("calls")
    assert ws is not None
    log = tmp_path / "processes.log"
    processes = Processes(env, log)
    with Receiver() as receiver:
        flow = call_flow(receiver.url)
        WorkflowService(store.workflows, Settings()).create(ws, flow, enabled=True)
        receiver.hang()
        try:
            port = free_port()
            api = processes.start(
                "serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)
            )
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, api, log)
            count = 2 if backend == "postgres" else 1
            workers = [processes.start("worker") for _ in range(count)]
            with httpx.Client(
                base_url=url, headers=basic(workspace.api_key), timeout=10, verify=NO_TLS_HERE
            ) as client:
                for n in range(CALLS):
                    who = f"buyer-{n}@example.com"
                    event = {
                        "eventTypeKey": "ordered",
                        "keyValue": who,
                        "params": [{"name": "email", "value": who}, {"name": "n", "value": n}],
                    }
                    assert client.post("/api/v2/event", json=event).status_code == 200
            receiver.wait_for(lambda seen: len(seen) == CALLS, timeout=30)
            for worker in workers:  # every request is out, none answered
                worker.send_signal(signal.SIGKILL)
                worker.wait()
            receiver.ok()
            for _ in range(count):
                processes.start("worker")
            wait_until(lambda: statuses(store).get("completed") == CALLS, 40, log)
        finally:
            processes.stop_all()
        keys = [r.headers["Idempotency-Key"] for r in receiver.posts()]
    assert len(set(keys)) == CALLS
    assert all(keys.count(key) == 2 for key in set(keys))  # once in flight, once again
    with store.read() as tx:
        unknown = tx.all(
            "SELECT run_id FROM workflow_steps WHERE block = 'call' AND note LIKE ?",
            "attempt 1: outcome unknown%",
        )
        taken = tx.all(
            "SELECT run_id, count(*) FROM workflow_steps WHERE block = 'call' AND branch = 'next' "
            "GROUP BY run_id"
        )
    assert len(unknown) == CALLS
    assert len(taken) == CALLS and all(int(n) == 1 for _, n in taken)
    assert "Traceback" not in log.read_text()
