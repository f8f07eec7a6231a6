"""A contact's runs going at once are bounded (FOOTFALL_WORKFLOW_MAX_ACTIVE_PER_CONTACT), on
SQLite and PostgreSQL: past the bound an event starts no run for that contact, while other
contacts' runs start."""

from __future__ import annotations

import functools

import pytest

import workflow_engine
from footfall.background.jobs import DAY_US, default_jobs
from footfall.clock import now_us
from footfall.config import Settings
from footfall.store import Store
from footfall.workflows.engine import handle_events
from workflow_engine import Engine, email
from workflow_engine import engine as engine  # the fixtures, for pytest to find here
from workflow_engine import own_store as own_store

EVERY_VISIT = {
    "name": "visits",
    "start": {"event": "visit"},
    "blocks": [{"id": "wait", "type": "timer", "delay": "1h"}, {"id": "done", "type": "end"}],
    "edges": [{"from": "start", "to": "wait"}, {"from": "wait", "to": "done"}],
}


def test_a_contact_has_at_most_the_configured_runs_going(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    bounded = functools.partial(handle_events, max_active=2)
    monkeypatch.setattr(workflow_engine, "handle_events", bounded)
    flow = engine.flow(EVERY_VISIT)
    busy, other = email(), email()
    for _ in range(4):
        engine.send("visit", busy)
    engine.send("visit", other)
    engine.step()
    runs = engine.runs(flow)
    by_contact = [run.contact_id for run in runs]
    assert len(runs) == 3 and len(set(by_contact)) == 2
    engine.clock.advance(3600)
    engine.step()  # both of the busy contact's runs end: it may have two again
    engine.send("visit", busy)
    engine.step()
    assert len(engine.runs(flow)) == 4


def test_the_bound_is_a_setting() -> None:
    env = {"FOOTFALL_WORKFLOW_MAX_ACTIVE_PER_CONTACT": "7"}
    assert Settings.from_env(env).workflow_max_active_per_contact == 7
    assert Settings.from_env({}).workflow_max_active_per_contact == 100


def test_ended_runs_are_pruned_after_the_retention_with_their_paths(
    engine: Engine, own_store: Store
) -> None:
    flow = engine.flow(EVERY_VISIT)
    engine.send("visit", email())
    engine.step()
    engine.clock.advance(3600)
    engine.step()  # this run is over
    engine.send("visit", email())
    engine.step()  # this one waits
    ended, waiting = sorted(engine.runs(flow), key=lambda r: r.id)
    assert ended.status == "completed" and waiting.status == "waiting"
    runs = own_store.workflow_runs
    runs.prune(engine.clock() - 1)  # ended exactly now: kept (this module's others may go)
    assert len(engine.runs(flow)) == 2
    assert runs.prune(engine.clock() + 1, batch=1) >= 1  # a batch at a time, until none is left
    assert [r.id for r in engine.runs(flow)] == [waiting.id]
    with own_store.db.read() as tx:
        steps = tx.one("SELECT count(*) FROM workflow_steps WHERE run_id = ?", ended.id)
    assert steps is not None and int(steps[0]) == 0


def test_the_retention_is_a_setting_and_a_job() -> None:
    settings = Settings.from_env({"FOOTFALL_WORKFLOW_RUN_RETENTION_DAYS": "30"})
    assert settings.workflow_run_retention_days == 30
    assert Settings.from_env({}).workflow_run_retention_days == 90
    jobs = default_jobs(None, None, settings, None)  # type: ignore[arg-type]
    assert "prune-workflow-runs" not in [job.name for job in jobs]


class _History:
    def __init__(self) -> None:
        self.asked: list[int] = []

    def prune(self, ended_before_us: int, batch: int = 5_000) -> int:
        self.asked.append(ended_before_us)
        return 3


def test_the_retention_job_prunes_runs_older_than_the_retention() -> None:
    history = _History()
    settings = Settings.from_env({"FOOTFALL_WORKFLOW_RUN_RETENTION_DAYS": "30"})
    jobs = default_jobs(None, None, settings, history)  # type: ignore[arg-type]
    (job,) = [j for j in jobs if j.name == "prune-workflow-runs"]
    before = now_us()
    assert job.run() == 3
    (asked,) = history.asked
    assert before - 30 * DAY_US - 1_000_000 <= asked <= now_us() - 30 * DAY_US
