"""Workflows started by a contact date, on SQLite and PostgreSQL, with time controlled by the
test: the date scan creates each run ahead of its moment (daysBefore the anniversary, at a time
of day in the contact's zone, else the workspace's), due then; the repeat policy, notWhileActive
and stop events hold; a contact starts once per occasion, whatever crashes or overlapping scans;
deleted contacts never start, and a changed date moves or stops what waits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from footfall.background.runtime import Runtime
from footfall.config import Settings
from footfall.ingest.dates import to_us
from footfall.store import Store
from footfall.store.rows import EventQuery
from footfall.store.workflow_runs import Run
from footfall.workflows import date_scan
from footfall.workflows.date_scan import DateScan
from footfall.workflows.dating import DatePolicy
from workflow_engine import Engine, notes
from workflow_engine import engine as engine  # the fixtures, for pytest to find here
from workflow_engine import own_store as own_store


@pytest.fixture(autouse=True)
def alone(engine: Engine) -> Iterator[None]:
    """The test's workflows are disabled after it: the scans of the tests after it (all share
    the module's database) start no runs of theirs."""
    yield
    for workflow in engine.flows.all(engine.ws):
        engine.flows.disable(engine.ws, workflow.id)


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def birthday_flow(name: str = "birthday", **start: Any) -> dict[str, Any]:
    """Emits ``greeted`` for the contact at its moment."""
    contact_date = {"field": "birthday", "daysBefore": 3, "at": "09:00"}
    contact_date.update(start.pop("contactDate", {}))
    return {
        "name": name,
        "start": {"contactDate": contact_date, **start},
        "stop": {"events": ["unsubscribed"]},
        "blocks": [
            {"id": "greet", "type": "emit", "event": "greeted", "params": {"flow": name}},
            {"id": "done", "type": "end"},
        ],
        "edges": [{"from": "start", "to": "greet"}, {"from": "greet", "to": "done"}],
    }


def person(engine: Engine, key: str, birthday: Any = None, **more: Any) -> int:
    document: dict[str, Any] = {"externalCustomerId": key, **more}
    if birthday is not None:
        document["fields"] = [{"id": "birthday", "value": birthday}]
    return engine.contact(document)


def due(run: Run) -> datetime:
    """A waiting date run's moment (its ``started``)."""
    return datetime.fromtimestamp(run.started_us / 1_000_000, UTC)


def greeted(engine: Engine) -> list[str]:
    events = engine.store.events.list_events(engine.ws, EventQuery("greeted"))
    assert all(event.source == "workflow" for event in events)
    return sorted(event.key_value for event in events)


def test_days_before_at_a_local_time_in_the_contacts_zone(engine: Engine) -> None:
    flow = engine.flow(birthday_flow())
    person(engine, "tokyo", "1990-12-10", timeZone="Asia/Tokyo")
    assert engine.scan_dates() == 0  # 3 December: the moment is more than a day ahead
    assert engine.runs(flow) == []
    engine.clock.to(at(2026, 12, 6, 3))
    assert engine.scan_dates() == 1
    run, steps = engine.run(flow)
    assert (run.status, run.block, run.event_id) == ("waiting", None, 0)
    assert due(run) == at(2026, 12, 7, 0)  # 09:00 in Tokyo, 3 days before 10 December
    assert notes(steps) == ["due at 2026-12-07T00:00:00Z: 3 days before birthday 2026-12-10"]
    engine.step()
    assert engine.run(flow)[0].status == "waiting"  # not before its moment
    assert engine.scan_dates() == 0  # the window is covered: nothing twice
    engine.clock.to(at(2026, 12, 7, 0))
    engine.step()
    run, steps = engine.run(flow)
    assert run.status == "completed"
    assert [s.block for s in steps] == ["start", "greet", "greet", "done"]
    assert greeted(engine) == ["tokyo"]  # an emitted event is keyed by the contact


def test_the_workspace_zone_when_the_contact_has_none(engine: Engine) -> None:
    engine.store.workspace_settings.update(engine.ws, time_zone="America/New_York")
    flow = engine.flow(birthday_flow(contactDate={"daysBefore": 0}))
    person(engine, "local", "12-05")  # month and day only
    person(engine, "kyiv", "1985-12-05T00:00:00Z", timeZone="Europe/Kyiv")
    engine.clock.to(at(2026, 12, 4, 18))
    assert engine.scan_dates() == 2
    moments = sorted(due(run) for run in engine.runs(flow))
    assert moments == [at(2026, 12, 5, 7), at(2026, 12, 5, 14)]  # 09:00 EET, 09:00 EST


def test_29_february_falls_on_28_february_in_other_years(engine: Engine) -> None:
    flow = engine.flow(birthday_flow(contactDate={"daysBefore": 0}))
    person(engine, "leap", "2000-02-29")
    engine.clock.to(at(2027, 2, 27, 12))
    assert engine.scan_dates() == 1
    assert due(engine.run(flow)[0]) == at(2027, 2, 28, 9)
    engine.clock.to(at(2027, 2, 28, 9))
    engine.step()
    engine.clock.to(at(2028, 2, 28, 12))
    assert engine.scan_dates() == 1
    assert due(engine.runs(flow)[0]) == at(2028, 2, 29, 9)  # a leap year: its own day


def test_a_contact_without_a_date_never_starts(engine: Engine) -> None:
    flow = engine.flow(birthday_flow())
    person(engine, "nodate", channels=[{"type": "email", "value": "nodate@example.com"}])
    person(engine, "text", "soon")
    person(engine, "number", 19901210)
    for day in range(4, 20):
        engine.clock.to(at(2026, 12, day, 12))
        assert engine.scan_dates() == 0
    assert engine.runs(flow) == []


def test_once_per_contact_or_every_year(engine: Engine) -> None:
    every = engine.flow(birthday_flow("every year", contactDate={"daysBefore": 0}))
    once = engine.flow(
        birthday_flow("once", contactDate={"daysBefore": 0}, repeat="oncePerContact")
    )
    person(engine, "ann", "1990-12-05")
    engine.clock.to(at(2026, 12, 4, 12))
    assert engine.scan_dates() == 2
    engine.clock.to(at(2026, 12, 5, 9))
    engine.step()
    engine.clock.to(at(2027, 12, 4, 12))
    assert engine.scan_dates() == 1
    assert [due(r) for r in engine.runs(every)] == [at(2027, 12, 5, 9), at(2026, 12, 5, 9)]
    assert [r.status for r in engine.runs(once)] == ["completed"]


def test_not_while_a_run_of_the_contact_is_active(engine: Engine) -> None:
    document = birthday_flow(contactDate={"daysBefore": 0}, notWhileActive=True)
    document["blocks"][0] = {
        "id": "greet",
        "type": "waitEvent",
        "event": "visited",
        "timeout": "400d",
    }
    document["edges"] = [
        {"from": "start", "to": "greet"},
        {"from": "greet", "on": "event", "to": "done"},
        {"from": "greet", "on": "timeout", "to": "done"},
    ]
    flow = engine.flow(document)
    person(engine, "busy", "1990-12-05")
    engine.clock.to(at(2026, 12, 4, 12))
    assert engine.scan_dates() == 1
    engine.clock.to(at(2026, 12, 5, 9))
    engine.step()
    assert engine.run(flow)[0].status == "waiting"  # for 400 days
    engine.clock.to(at(2027, 12, 4, 12))
    assert engine.scan_dates() == 0
    assert len(engine.runs(flow)) == 1


def test_a_crash_before_the_commit_and_overlapping_scans_start_one_run(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = engine.flow(birthday_flow())
    person(engine, "once", "1990-12-10")
    engine.scan_dates()  # the workflow's position, from now
    engine.clock.to(at(2026, 12, 6, 12))

    def crash(*args: Any) -> None:
        raise RuntimeError("killed between the page's writes and its commit")

    with monkeypatch.context() as patched:
        patched.setattr(date_scan, "save_position", crash)
        assert engine.scan_dates() == 0
    assert engine.runs(flow) == []  # the runs went with the position
    assert engine.scan_dates() == 1
    engine.store.transact(
        lambda tx: tx.execute(
            "UPDATE workflow_date_scans SET until_us = ?, pass_until_us = NULL, pass_after = 0, "
            "changed_us = 0, changed_id = 0 WHERE workflow_id = ?",
            to_us(at(2026, 12, 3)),
            flow,
        )
    )
    other = DateScan(engine.store.workflow_dates, engine.plans, engine.clock)  # another worker
    assert other.run() == 0  # the same window again: the occasion has its run
    assert len(engine.runs(flow)) == 1


def test_deleted_contacts_never_start(engine: Engine) -> None:
    flow = engine.flow(birthday_flow())
    gone = person(engine, "gone", "1990-12-10")
    later = person(engine, "later", "1990-12-10")
    erased = person(engine, "erased", "1990-12-10")
    person(engine, "kept", "1990-12-10")
    engine.store.contacts.delete_contact(engine.ws, gone, False, engine.clock())
    engine.clock.to(at(2026, 12, 6, 12))
    assert engine.scan_dates() == 3
    engine.store.contacts.delete_contact(engine.ws, later, False, engine.clock())
    engine.store.contacts.delete_contact(engine.ws, erased, True, engine.clock())
    engine.clock.advance(60)
    engine.scan_dates()
    runs = {run.contact_id: run for run in engine.runs(flow)}
    assert gone not in runs and erased not in runs
    assert runs[later].status == "stopped"
    assert runs[later].reason == "the contact was deleted before the run's moment"
    engine.clock.to(at(2026, 12, 7, 9))
    engine.step()
    assert greeted(engine) == ["kept"]


def test_a_changed_date_moves_or_stops_what_waits(engine: Engine) -> None:
    flow = engine.flow(birthday_flow())
    person(engine, "ann", "1990-12-10")
    engine.clock.to(at(2026, 12, 6, 12))
    assert engine.scan_dates() == 1
    person(engine, "ann", "1990-12-12")  # moved beyond the window: the waiting run stops
    engine.clock.advance(60)
    assert engine.scan_dates() == 0
    (stopped,) = engine.runs(flow)
    assert stopped.reason == "the contact's birthday changed before the run's moment"
    person(engine, "ann", "1990-12-10")  # back inside the window: it starts again at once
    engine.clock.advance(60)
    assert engine.scan_dates() == 1
    person(engine, "ann", timeZone="Asia/Tokyo")  # the zone changed: the moment moves
    engine.clock.advance(60)
    engine.scan_dates()
    waiting = [r for r in engine.runs(flow) if r.status == "waiting"]
    assert [due(r) for r in waiting] == [at(2026, 12, 7, 0)]
    engine.clock.to(at(2026, 12, 7, 0))
    engine.step()
    assert greeted(engine) == ["ann"]
    person(engine, "ann", "1990-12-09", timeZone="UTC")  # 6 December: already past
    engine.clock.to(at(2026, 12, 8))
    assert engine.scan_dates() == 0
    engine.clock.to(at(2026, 12, 12))
    assert engine.scan_dates() == 0  # and the next is a year away
    assert len(engine.runs(flow)) == 2


def test_stop_events_stop_a_run_before_and_at_its_moment(engine: Engine) -> None:
    document = birthday_flow()
    document["stop"]["lookBack"] = "2d"
    flow = engine.flow(document)
    person(engine, "old", "1990-12-10", channels=[{"type": "email", "value": "old@e.com"}])
    person(engine, "new", "1990-12-10", channels=[{"type": "email", "value": "new@e.com"}])
    person(engine, "near", "1990-12-10", channels=[{"type": "email", "value": "near@e.com"}])
    engine.send("unsubscribed", "old@e.com")  # long before: no run stops for it
    engine.step()
    engine.clock.to(at(2026, 12, 5, 12))
    engine.send("unsubscribed", "near@e.com")  # within lookBack of the moment
    engine.step()
    engine.clock.to(at(2026, 12, 6, 12))
    assert engine.scan_dates() == 2
    engine.send("unsubscribed", "new@e.com")  # while its run waits
    engine.step()
    engine.clock.to(at(2026, 12, 7, 9))
    engine.step()
    assert greeted(engine) == ["old"]
    keys = {
        c: k
        for k in ("old", "new", "near")
        for c in [engine.store.contacts.contact_by_external_id(engine.ws, k)]
    }
    reasons = {keys[run.contact_id]: run.reason or "" for run in engine.runs(flow)}
    assert reasons["old"] == ""
    assert reasons["near"] == "a stop event came within stop.lookBack before the start"
    assert reasons["new"].startswith("stopped by unsubscribed")


def test_pages_are_bounded_and_go_on_at_the_next_scan(engine: Engine) -> None:
    flow = engine.flow(birthday_flow())
    for n in range(5):
        person(engine, f"p{n}", "1990-12-10")
    engine.scan_dates()
    engine.clock.to(at(2026, 12, 6, 12))
    small = DateScan(
        engine.store.workflow_dates, engine.plans, engine.clock, DatePolicy(page=2, budget=0)
    )
    counts = [small.run() for _ in range(4)]
    assert counts == [2, 2, 1, 0]  # one page of two contacts per scan
    assert len(engine.runs(flow)) == 5


def test_the_worker_runtime_runs_the_scan_once_a_minute(own_store: Store) -> None:
    runtime = Runtime(own_store, Settings())
    (job,) = [job for job in runtime.runner.jobs if job.name == "workflow-dates"]
    assert job.every_seconds == DatePolicy().every == 60.0


def test_another_contact_date_or_disabling_stops_what_waits(engine: Engine) -> None:
    flow = engine.flow(birthday_flow())
    person(engine, "ann", "1990-12-10")
    engine.clock.to(at(2026, 12, 6, 12))
    assert engine.scan_dates() == 1
    engine.flows.update(engine.ws, flow, birthday_flow(contactDate={"daysBefore": 2}))
    assert engine.scan_dates() == 0  # a window of its own, from now: 8 December is ahead
    (stopped,) = engine.runs(flow)
    assert stopped.reason == "the workflow's contactDate changed before the run's moment"
    engine.clock.to(at(2026, 12, 7, 12))
    assert engine.scan_dates() == 1
    assert due(engine.runs(flow)[0]) == at(2026, 12, 8, 9)
    engine.flows.disable(engine.ws, flow)
    engine.scan_dates()
    assert [r.status for r in engine.runs(flow)] == ["stopped", "stopped"]
    engine.flows.enable(engine.ws, flow)
    assert engine.scan_dates() == 1  # from now again, and what never started may start
    engine.clock.to(at(2026, 12, 8, 9))
    engine.step()
    assert greeted(engine) == ["ann"]
