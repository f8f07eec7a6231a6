"""A contact's runs going at once are bounded (FOOTFALL_WORKFLOW_MAX_ACTIVE_PER_CONTACT), on
SQLite and PostgreSQL: past the bound an event starts no run for that contact, while other
contacts' runs start."""

from __future__ import annotations

import functools

import pytest

import workflow_engine
from footfall.config import Settings
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
