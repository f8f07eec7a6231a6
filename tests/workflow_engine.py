"""The workflow engine of one worker, moved by hand over a database of its own, with time
controlled by the test: the harness of the engine-level workflow tests (actions, recipes).

Each test gets a workspace of its own in a module's database (``own_store``, on SQLite and on
PostgreSQL), a fake clock the store and the loops read, and ``Engine.step()``, which hands the
stored events to the feed consumer and moves the run loop and the action loop until nothing
moves. No other worker claims these runs, so a run moves only when the test says.
``Engine.scan_dates()`` runs the date scan once, as its periodic job does (workflows started by
a contact date).

Events go in either as the test builds them (``send``) or as the ingestion parses a request
body (``post``: an eSputnik Generate event v2, embedded JSON decoded; ``send_order``: the
orders API), at the clock's time. A test module uses the fixtures by importing them into its
namespace (``from workflow_engine import engine as engine, ...``), which is how pytest finds them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from conftest import migrated_database
from footfall.access import create_workspace
from footfall.config import Settings
from footfall.identity.contacts import decode_contact_request
from footfall.identity.locators import Locators
from footfall.ingest.dates import to_us
from footfall.ingest.events import parse_event
from footfall.ingest.orders import parse_orders
from footfall.outbound.guard import AllowList
from footfall.outbound.sender import Sender
from footfall.records import NewEvent
from footfall.store import Store, open_store
from footfall.store.cursor import Cursor
from footfall.store.identity import Why
from footfall.store.rows import EventSpan
from footfall.store.workflow_runs import Run, Step
from footfall.workflows.actions import ActionLoop
from footfall.workflows.date_scan import DateScan
from footfall.workflows.engine import CONSUMER, Plans, RunLoop, handle_events
from footfall.workflows.service import WorkflowService
from receiver import Receiver

__all__ = [
    "OWNER",
    "START",
    "Clock",
    "Engine",
    "email",
    "engine",
    "notes",
    "own_store",
    "receiver",
    "store_of_its_own",
]

OWNER = "test-worker"
START = to_us(datetime(2026, 12, 3, 3, 0, tzinfo=UTC))  # 03:00 UTC, a Thursday


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def own_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """A database no running server works on: these runs move only when the test says."""
    yield from store_of_its_own(request.param, tmp_path_factory)


def store_of_its_own(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A store on a migrated database of its own (for a fixture to yield from)."""
    directory = tmp_path_factory.mktemp("store")
    with migrated_database(backend, directory) as url:
        store = open_store(Settings(database_url=url, data_dir=directory / "data"))
        try:
            yield store
        finally:
            store.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1_000_000)

    def to(self, moment: datetime) -> None:
        """Forward to ``moment`` (timezone-aware); time never goes back."""
        at = to_us(moment)
        assert at >= self.now, f"the clock would go back to {moment.isoformat()}"
        self.now = at


class Engine:
    """The feed consumer, the run loop and the action loop of one worker, moved by hand."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.clock = Clock()
        name = f"acts-{uuid.uuid4().hex[:10]}"
        create_workspace(store.access, name)
        found = store.access.workspace_id(name)
        assert found is not None
        self.ws = found
        self.flows = WorkflowService(store.workflows, Settings())
        runs = store.workflow_runs
        runs._clock = self.clock  # the store's clock is the test's
        self.plans = Plans()
        self.sent = self.seen = 0  # events this test stored, and the consumer handed on
        self._held: list[Any] | None = None  # what ``together`` commits at its end
        self.run_loop = RunLoop(runs, self.plans, OWNER, self.clock)
        self.aio = asyncio.new_event_loop()
        sender = Sender(AllowList.parse("127.0.0.1"), 5.0)
        self.actions = ActionLoop(runs, self.plans, OWNER, self.clock, sender)
        self.dates = DateScan(store.workflow_dates, self.plans, self.clock)

    def close(self) -> None:
        self.aio.run_until_complete(self.actions.sender.close())
        self.aio.close()

    def flow(self, document: dict[str, Any]) -> int:
        return self.flows.create(self.ws, document, enabled=True).id

    def send(self, kind: str, email: str, **params: Any) -> None:
        values = [{"name": "email", "value": email}] + [
            {"name": k, "value": v} for k, v in params.items()
        ]
        self._store(
            NewEvent(
                workspace_id=self.ws,
                event_type_key=kind,
                key_value=email,
                params_json=json.dumps(values),
                raw="{}",
                source="live",
                occurred_us=self.clock(),
                received_us=self.clock(),
                locators=Locators(email=email),
            )
        )

    def post(self, kind: str, key_value: str, *params: tuple[str, Any]) -> NewEvent:
        """A live event as ``POST /api/v2/event`` stores it now: the body
        ``{"eventTypeKey": kind, "keyValue": key_value, "params": [{"name", "value"}, ...]}``
        parsed by the ingestion (JSON inside string values decoded, the standard types' rules
        checked, a searchRequest's missing isFound set to 0)."""
        body = {
            "eventTypeKey": kind,
            "keyValue": key_value,
            "params": [{"name": name, "value": value} for name, value in params],
        }
        event = parse_event(
            json.dumps(body).encode(), version=2, workspace_id=self.ws, received_us=self.clock()
        )
        self._store(event)
        return event

    def send_order(self, order: dict[str, Any]) -> NewEvent:
        """One order as ``POST /api/v1/orders`` stores it now: the order and its event
        ``order<STATUS>`` (source "order", key the externalOrderId, occurred at the order's
        date, the order's fields as params)."""
        batch = parse_orders(
            json.dumps({"orders": [order]}).encode(), workspace_id=self.ws, now_us=self.clock()
        )
        assert batch.failed == [], batch.failed
        (accepted,) = batch.accepted
        self._store(accepted)
        return accepted.event

    def contact(self, document: dict[str, Any]) -> int:
        """A contact as ``POST /api/v1/contact`` creates (or updates) it; its id."""
        why = Why("test", "api", None, self.clock())
        saved = self.store.contacts.upsert_contact(
            self.ws, decode_contact_request(json.dumps(document).encode()), why
        )
        return saved.id

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """Events and orders stored inside are committed in one transaction, as the group commit
        stores requests that arrive together: the consumer gets them in one page."""
        assert self._held is None, "together() does not nest"
        self._held = []
        try:
            yield
            held = self._held
        finally:
            self._held = None
        self.sent += len(held)
        self.store.events.commit_batch(held)

    def _store(self, item: Any) -> None:
        if self._held is not None:
            self._held.append(item)
            return
        self.sent += 1
        self.store.events.commit_batch([item])

    def consume(self) -> None:
        """Hand every event this test stored to the workflows' consumer. On PostgreSQL an event
        shows in the feed once no older transaction of the server (of any database) is open:
        wait for it."""
        feed, dialect = self.store.feed, self.store.dialect
        assert feed.acquire(CONSUMER, OWNER)

        def handle(tx: Cursor, page: list[EventSpan]) -> int:
            return handle_events(tx, dialect, page[0], self.plans, self.clock())

        deadline = time.monotonic() + 10
        while True:
            self.seen += feed.consume_stream("event_span", CONSUMER, OWNER, handle, limit=1000)
            if self.seen >= self.sent:
                return
            assert time.monotonic() < deadline, "the feed did not show the events"
            time.sleep(0.01)

    def step(self) -> None:
        """Everything due now: new events, runs' next steps, actions, until nothing moves."""
        for _ in range(10):
            self.consume()
            moved = self.run_loop.work()
            acted = self.aio.run_until_complete(self.actions.drain())
            if not moved and not acted:
                return
        raise AssertionError("the engine kept moving")

    def scan_dates(self) -> int:
        """The date scan, once: the runs of workflows started by a contact date whose moments
        fall within its window are created, each due at its moment; how many started."""
        return self.dates.run()

    def runs(self, flow: int) -> list[Run]:
        """The workflow's runs, newest first."""
        return self.store.workflow_runs.runs(self.ws, workflow_id=flow)

    def run(self, flow: int) -> tuple[Run, list[Step]]:
        (only,) = self.runs(flow)
        return self.path(only)

    def path(self, run: Run) -> tuple[Run, list[Step]]:
        """The run as it is now, with the blocks it passed."""
        found = self.store.workflow_runs.run(self.ws, run.id)
        assert found is not None
        return found


@pytest.fixture
def engine(own_store: Store) -> Iterator[Engine]:
    made = Engine(own_store)
    yield made
    made.close()


def email() -> str:
    return f"{uuid.uuid4().hex[:10]}@example.com"


def notes(steps: list[Step]) -> list[str]:
    return [step.note for step in steps if step.note]
