"""Webhook deliveries survive a worker killed with SIGKILL mid-delivery: real ``footfall serve
--no-worker`` and ``footfall worker`` processes (two workers on PostgreSQL), a real receiver.

Every event is received at least once, in order; an event received twice came again in a
request with the ``webhook-id`` of the delivery it was first sent in (a receiver de-duplicates on
it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import (
    BACKENDS,
    NO_TLS_HERE,
    basic,
    free_port,
    migrated_database,
)
from footfall import access
from footfall.clock import now_us
from footfall.config import Settings
from footfall.identity.locators import Locators
from footfall.records import NewEvent, WebhookSpec
from footfall.store import Store, open_store
from receiver import Received, Receiver

FOOTFALL = Path(sys.executable).parent / "footfall"
EVENTS = 120


@pytest.fixture(params=BACKENDS)
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, dict[str, str], Store]]:
    with migrated_database(request.param, tmp_path) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")}
        env |= {
            "FOOTFALL_DATABASE_URL": url,
            "FOOTFALL_DATA_DIR": str(tmp_path),
            "FOOTFALL_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
            "FOOTFALL_WEBHOOK_TIMEOUT": "1s",
            "FOOTFALL_WEBHOOK_RETRY_SCHEDULE": "200ms",
        }
        store = open_store(Settings(database_url=url))
        try:
            yield str(request.param), env, store
        finally:
            store.close()


class Processes:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            process = subprocess.Popen([str(FOOTFALL), *args], env=self.env, stdout=out, stderr=out)
        self.running.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/health", timeout=1, verify=NO_TLS_HERE).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)


def holder(store: Store, workers: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """The worker process holding the subscription's delivery lease (owner: host:pid:nonce)."""
    with store.read() as tx:
        owner = tx.one("SELECT owner FROM due_work WHERE owner IS NOT NULL")[0]
    pid = int(owner.split(":")[1])
    return next(w for w in workers if w.pid == pid)


def check_delivery(posts: list[Received], sent: list[int]) -> None:
    """At least once, in order, duplicates only as re-sends of one delivery under its id."""
    first_id: dict[int, str] = {}
    newest = 0
    for post in posts:
        message = post.headers["webhook-id"]
        for event_id in (item["id"] for item in post.json()):
            if event_id in first_id:
                assert first_id[event_id] == message, (event_id, message, first_id[event_id])
                continue
            assert event_id > newest, f"event {event_id} arrived after {newest}: out of order"
            first_id[event_id] = message
            newest = event_id
    missing = sorted(set(sent) - set(first_id))
    assert not missing, f"{len(missing)} events never delivered, e.g. {missing[:5]}"


def test_every_event_is_delivered_in_order_across_a_killed_worker(
    deployment: tuple[str, dict[str, str], Store], tmp_path: Path
) -> None:
    backend, env, store = deployment
    workspace = access.create_workspace(store.access, "hooks")
    ws = store.access.workspace_id("hooks")
    assert ws is not None
    log = tmp_path / "processes.log"
    processes = Processes(env, log)
    with Receiver() as receiver:
        receiver.slow(0.02)  # deliveries take a while: some are in flight at the kill
        store.webhooks.create(ws, WebhookSpec(url=receiver.url, batch_size=5))
        try:
            port = free_port()
            api = processes.start(
                "serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port)
            )
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, api, log)
            workers = [processes.start("worker") for _ in range(2 if backend == "postgres" else 1)]
            sent: list[int] = []
            with httpx.Client(
                base_url=url, headers=basic(workspace.api_key), timeout=10, verify=NO_TLS_HERE
            ) as client:
                for n in range(EVENTS):
                    event = {"eventTypeKey": "visited", "keyValue": f"k{n}"}
                    assert client.post("/api/v2/event", json=event).status_code == 200
                    if n == EVENTS // 3:
                        receiver.hang()  # the next delivery stays in flight until its worker dies
                        hung = receiver.wait_for(
                            lambda r: any(x.answered == "hang" for x in r), timeout=20
                        )
                        victim = holder(store, workers)
                        victim.send_signal(signal.SIGKILL)
                        victim.wait()
                        receiver.ok()
                        workers.append(processes.start("worker"))
                sent = [e["id"] for e in client.get("/api/v1/events?limit=1000").json()]
            assert len(sent) == EVENTS

            def everything(requests: list[Received]) -> bool:
                got = {i["id"] for r in requests if r.answered == 200 for i in r.json()}
                return got >= set(sent)

            receiver.wait_for(everything, timeout=60)
            delivered = [r for r in receiver.requests if r.answered == 200]
            check_delivery(delivered, sent)
            in_flight = next(x for x in hung if x.answered == "hang")
            resent = [
                r for r in delivered if r.headers["webhook-id"] == in_flight.headers["webhook-id"]
            ]
            assert resent and resent[0].body == in_flight.body  # the same delivery, sent again
            assert sum(w.poll() is None for w in workers) == len(workers) - 1, log.read_text()
        finally:
            processes.stop_all()
    assert "Traceback" not in log.read_text()


def test_sigterm_gives_back_a_hanging_delivery_and_a_restart_sends_it_once_more(
    deployment: tuple[str, dict[str, str], Store], tmp_path: Path
) -> None:
    _, env, store = deployment
    access.create_workspace(store.access, "hooks")
    ws = store.access.workspace_id("hooks")
    assert ws is not None
    log = tmp_path / "processes.log"
    processes = Processes(
        env | {"FOOTFALL_WEBHOOK_TIMEOUT": "30s", "FOOTFALL_SHUTDOWN_GRACE": "1s"}, log
    )
    with Receiver() as receiver:
        receiver.hang()
        store.webhooks.create(ws, WebhookSpec(url=receiver.url))
        event_id = plant_event(store, ws)
        try:
            worker = processes.start("worker")
            hung = receiver.wait_for(lambda r: any(x.answered == "hang" for x in r), timeout=20)
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=10) == 0, log.read_text()  # after the 1 s grace
            with store.read() as tx:
                owner, due = tx.one("SELECT owner, due_us FROM due_work")
            assert owner is None and due is not None  # given back, due again
            receiver.ok()
            processes.start("worker")
            again = receiver.wait_for(lambda r: any(x.answered == 200 for x in r), timeout=20)
        finally:
            processes.stop_all()
    first = next(x for x in hung if x.answered == "hang")
    resent = next(x for x in again if x.answered == 200)
    assert resent.headers["webhook-id"] == first.headers["webhook-id"]
    assert [i["id"] for i in resent.json()] == [event_id]
    assert "Traceback" not in log.read_text()


def plant_event(store: Store, ws: int) -> int:
    """One accepted event, written as ingestion writes it."""
    now = now_us()
    params = '[{"name": "externalCustomerId", "value": "k1"}]'
    event = NewEvent(
        ws, "visited", "k1", params, "{}", "live", now, now, Locators(external_id="k1")
    )
    store.events.commit_batch([event])
    with store.read() as tx:
        return int(tx.one("SELECT max(id) FROM events")[0])


def test_a_killed_worker_s_delivery_is_taken_over_within_seconds_whatever_the_timeout(
    deployment: tuple[str, dict[str, str], Store], tmp_path: Path
) -> None:
    """Leases last 5 s and are renewed while the request is in flight: a live worker keeps a
    slow delivery for as long as its timeout (30 s here), a dead one loses it within seconds."""
    _, env, store = deployment
    access.create_workspace(store.access, "hooks")
    ws = store.access.workspace_id("hooks")
    assert ws is not None
    log = tmp_path / "processes.log"
    processes = Processes(env | {"FOOTFALL_WEBHOOK_TIMEOUT": "30s"}, log)
    with Receiver() as receiver:
        receiver.hang()
        store.webhooks.create(ws, WebhookSpec(url=receiver.url))
        plant_event(store, ws)
        try:
            first = processes.start("worker")
            receiver.wait_for(lambda r: any(x.answered == "hang" for x in r), timeout=20)
            time.sleep(7)  # longer than a lease: renewed, so nobody else may take it
            with store.read() as tx:
                owner, until = tx.one("SELECT owner, until_us FROM due_work")
            assert owner is not None and int(owner.split(":")[1]) == first.pid
            assert until > now_us(), "the live worker's lease lapsed while it was sending"
            receiver.ok()
            first.kill()
            first.wait()
            killed_at = time.monotonic()
            processes.start("worker")
            delivered = receiver.wait_for(lambda r: any(x.answered == 200 for x in r), timeout=20)
            taken_after = time.monotonic() - killed_at
        finally:
            processes.stop_all()
    hung = next(x for x in delivered if x.answered == "hang")
    resent = next(x for x in delivered if x.answered == 200)
    assert resent.headers["webhook-id"] == hung.headers["webhook-id"]
    assert taken_after < 12, f"taken over {taken_after:.1f} s after the kill (timeout 30 s)"
