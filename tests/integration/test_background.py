"""Periodic jobs run once per deployment: runners in several processes share one lease per job."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from functools import partial

import pytest

from conftest import Workspace
from footfall.background import Job, Runner, prune_failed_events
from footfall.background.jobs import prune_webhook_attempts
from footfall.clock import now_us
from footfall.config import Settings
from footfall.records import NewFailure, WebhookSpec
from footfall.store import Store, open_store
from footfall.store.leases import JobLeases
from footfall.store.webhooks import Attempt, log_attempts


class Clock:
    def __init__(self) -> None:
        self.now = time.time_ns() // 1000

    def __call__(self) -> int:
        return self.now


class Counting:
    """A job body that counts its runs and can be told to fail."""

    def __init__(self, fail: bool = False) -> None:
        self.runs = 0
        self.fail = fail

    def __call__(self) -> None:
        self.runs += 1
        if self.fail:
            raise RuntimeError("the job broke")


@pytest.fixture
def two_stores(settings: Settings) -> Iterator[tuple[Store, Store]]:
    """Two stores on one database, as two processes would have."""
    one, two = open_store(settings), open_store(settings)
    yield one, two
    one.close()
    two.close()


def old_failure(workspace_id: int) -> NewFailure:
    return NewFailure(
        workspace_id=workspace_id,
        event_type_key="oldType",
        key_value=None,
        route="v2/event",
        reason="params",
        field=None,
        error="too old to keep",
        raw="{}",
        raw_bytes=2,
        received_us=1,
    )


def failures_left(store: Store, workspace_id: int) -> int:
    with store.read() as tx:
        row = tx.one("SELECT count(*) FROM failed_events WHERE workspace_id = ?", workspace_id)
    return int(row[0])


def test_the_prune_job_runs_once_when_two_runners_tick_together(
    two_stores: tuple[Store, Store], workspace: Workspace
) -> None:
    ws = workspace.id
    one, two = two_stores
    one.events.commit_batch([old_failure(ws), old_failure(ws)])
    name = f"prune-{uuid.uuid4().hex[:8]}"  # not the shared test server's job
    runners, bodies = [], []
    for store in (one, two):
        prune = prune_failed_events(store.types, retention_days=30)
        body = Counting()

        def run(prune: Job = prune, body: Counting = body) -> None:
            body()
            prune.run()

        bodies.append(body)
        runners.append(Runner(JobLeases(store), [Job(name, 3600, run)]))
    together = threading.Barrier(2)
    ran: list[list[str]] = []

    def tick(runner: Runner) -> None:
        together.wait()
        ran.append(runner.tick())

    threads = [threading.Thread(target=tick, args=(r,)) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(ran) == [[], [name]]
    assert [b.runs for b in bodies] in ([1, 0], [0, 1])
    assert failures_left(one, ws) == 0
    assert [r.tick() for r in runners] == [[], []]  # done for this period, in both processes


def test_a_job_runs_again_once_its_period_is_over(two_stores: tuple[Store, Store]) -> None:
    clock, body, name = Clock(), Counting(), f"job-{uuid.uuid4().hex[:8]}"
    first, second = (Runner(JobLeases(s, clock), [Job(name, 60, body)]) for s in two_stores)
    assert first.tick() == [name]
    clock.now += 59_000_000
    assert first.tick() == [] and second.tick() == []
    clock.now += 2_000_000
    assert second.tick() == [name]
    assert first.tick() == []
    assert body.runs == 2


def test_a_failed_run_is_tried_again_after_retry_seconds(store: Store) -> None:
    clock, body, name = Clock(), Counting(fail=True), f"job-{uuid.uuid4().hex[:8]}"
    runner = Runner(JobLeases(store, clock), [Job(name, 3600, body, retry_seconds=10)])
    assert runner.tick() == [name]  # it ran, and failed
    clock.now += 9_000_000
    assert runner.tick() == []
    clock.now += 2_000_000
    body.fail = False
    assert runner.tick() == [name]
    clock.now += 11_000_000
    assert runner.tick() == []  # succeeded: not before the period is over
    assert body.runs == 2


def test_a_runner_ticks_until_stopped(store: Store) -> None:
    body, name = Counting(), f"job-{uuid.uuid4().hex[:8]}"
    fast = Job(name, 0.2, body)

    async def run_for_a_while() -> None:
        runner = Runner(JobLeases(store), [fast], tick_seconds=0.05)
        await runner.start()
        await asyncio.sleep(0.5)
        await runner.stop()

    asyncio.run(run_for_a_while())
    runs = body.runs
    assert 2 <= runs <= 4  # at start, then every 0.2 s
    time.sleep(0.3)
    assert body.runs == runs  # stopped


def test_old_webhook_attempts_are_pruned(store: Store, workspace: Workspace) -> None:
    hook = store.webhooks.create(workspace.id, WebhookSpec(url="http://127.0.0.1:9/hook"))
    day = 86_400_000_000
    attempts = [
        Attempt(hook.id, message, now_us() - age_days * day, 500, None, 1.0, 1, None)
        for age_days, message in ((8, "old"), (6, "recent"))
    ]
    for attempt in attempts:
        store.transact(partial(log_attempts, attempts=[attempt]))
    assert prune_webhook_attempts(store.webhooks, retention_days=7).run() == 1
    kept = store.webhooks.attempts(workspace.id, hook.id)
    assert [a.message_id for a in kept] == ["recent"]
