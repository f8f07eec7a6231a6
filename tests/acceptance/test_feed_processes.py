"""Two real processes consume one feed consumer: each event is handled exactly once, and when the
lease holder is killed (-9) the other takes over within seconds, skipping and repeating nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import BACKENDS, migrated_database
from footfall.config import Settings
from footfall.identity.locators import Locators
from footfall.records import NewEvent
from footfall.store import Store, open_store

CONSUMER = "effects"
TTL = 1.0  # seconds: how long a killed holder keeps the lease

# Each process: take the lease when it can, then consume pages, writing one effects row per event
# in the page's transaction (slowly, so that the run lasts long enough to kill the holder).
SCRIPT = """
import sys, time
from pathlib import Path
from footfall.config import Settings
from footfall.store import open_store
from footfall.store.leases import LeaseLost

url, owner, stop, ttl = sys.argv[1], sys.argv[2], Path(sys.argv[3]), float(sys.argv[4])
feed = open_store(Settings(database_url=url)).feed

def handle(tx, page):
    rows = [(item.event.id, owner) for item in page]
    tx.executemany("INSERT INTO effects (event_id, owner) VALUES (?, ?)", rows)
    time.sleep(0.02)

holding = False
print("started", flush=True)
while True:
    if not holding:
        holding = feed.acquire("effects", owner, ttl)
        if holding:
            print("acquired", flush=True)
        elif stop.exists():
            break
        else:
            time.sleep(0.05)
        continue
    try:
        handled = feed.consume("effects", owner, handle, limit=10, ttl=ttl)
    except LeaseLost:
        holding = False
        continue
    if handled == 0:
        if stop.exists():
            break
        time.sleep(0.02)
"""


@dataclass
class Shared:
    """A database two processes share, with its store and workspace in this process."""

    url: str
    store: Store
    workspace_id: int

    def add_events(self, count: int) -> None:
        now = time.time_ns() // 1000
        events = [
            NewEvent(
                workspace_id=self.workspace_id,
                event_type_key="feedLoad",
                key_value=f"k{i % 7}",
                params_json=json.dumps([{"name": "n", "value": i}]),
                raw="{}",
                source="live",
                occurred_us=now,
                received_us=now,
                locators=Locators(external_id=f"k{i % 7}"),
            )
            for i in range(count)
        ]
        for start in range(0, count, 100):
            self.store.events.commit_batch(events[start : start + 100])

    def scalar(self, sql: str) -> object:
        with self.store.read() as tx:
            return tx.one(sql)[0]

    def handled(self) -> int:
        return int(str(self.scalar("SELECT count(*) FROM effects")))

    def holder(self) -> str | None:
        """Who holds the consumer's lease now."""
        with self.store.read() as tx:
            row = tx.one(
                "SELECT owner FROM leases WHERE name = ? AND until_us > ?",
                f"feed:{CONSUMER}",
                time.time_ns() // 1000,
            )
        return None if row is None else str(row[0])


@pytest.fixture(params=BACKENDS)
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Shared]:
    with migrated_database(request.param, tmp_path) as url:
        store = open_store(Settings(database_url=url))
        try:
            store.transact(
                lambda tx: tx.execute("CREATE TABLE effects (event_id BIGINT, owner VARCHAR(200))")
            )
            workspace_id = store.access.create_workspace(f"feed-{uuid.uuid4().hex[:8]}", 1)
            yield Shared(url, store, workspace_id)
        finally:
            store.close()


def start(shared: Shared, owner: str, stop: Path, log: Path) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-c", SCRIPT, shared.url, owner, str(stop), str(TTL)]
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until ``condition`` held; fails after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)
    return time.monotonic() - started


def test_two_processes_handle_each_event_once_and_survive_a_kill(
    shared: Shared, tmp_path: Path
) -> None:
    shared.add_events(300)
    stop = tmp_path / "stop"
    processes = {
        owner: start(shared, owner, stop, tmp_path / f"{owner}.log") for owner in ("A", "B")
    }
    try:
        wait_for(lambda: shared.handled() >= 30, 20, "the first pages are handled")
        assert all(p.poll() is None for p in processes.values()), "both processes run"
        holder = shared.holder()
        assert holder in processes
        survivor = "B" if holder == "A" else "A"
        assert shared.handled() < 300, "the run must still be going when the holder is killed"

        processes[holder].send_signal(signal.SIGKILL)
        processes[holder].wait(timeout=10)
        took = wait_for(lambda: shared.holder() == survivor, 10, "the survivor takes over")
        assert took < TTL + 3, f"took over after {took:.1f} s"
        shared.add_events(100)
        stop.touch()
        assert processes[survivor].wait(timeout=30) == 0
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    logs = {o: (tmp_path / f"{o}.log").read_text() for o in processes}
    assert "acquired" in logs[survivor], logs

    events = shared.scalar(
        f"SELECT count(*) FROM events WHERE workspace_id = {shared.workspace_id}"
    )
    assert events == 400
    assert shared.scalar("SELECT count(*) FROM effects") == 400  # nothing handled twice
    assert shared.scalar("SELECT count(DISTINCT event_id) FROM effects") == 400  # nor skipped
    assert (
        shared.scalar("SELECT count(*) FROM effects WHERE event_id NOT IN (SELECT id FROM events)")
        == 0
    )
    owners = shared.scalar("SELECT count(DISTINCT owner) FROM effects")
    assert owners == 2  # both did part of the work: the holder before its death, then the other
