"""The worker runtime: everything a worker process runs, and what ``serve`` runs in-process.

- periodic jobs (runner.py), each once per period in the whole deployment: pruning, and the
  date scan that creates the runs of workflows started by a contact date (workflows/date_scan.py);
- feed consumers (consumers.py): the webhooks' fan-out of events and of identity changes into
  each subscription's outbox;
- due work (webhooks/delivery.py): deliveries, claimed under leases, several workers sharing
  them on PostgreSQL (``FOR UPDATE SKIP LOCKED``);
- workflows (workflows/engine.py): a consumer that starts, stops and wakes runs, and the loop
  that moves due runs on; workflows/actions.py: the loop that runs their action blocks.

A commit in this process wakes the consumers (``wake``); a fan-out wakes the deliveries. On
PostgreSQL, what other processes commit wakes them too (LISTEN/NOTIFY on the channels FEED and
DUE, store/dialect.py); on SQLite, where one process does the background work, other processes'
commits are seen within the poll interval (half a second).
"""

from __future__ import annotations

import asyncio
import threading

from footfall.background.consumers import Consumer, ConsumerLoop
from footfall.background.jobs import default_jobs, scan_contact_dates
from footfall.background.runner import Runner, process_owner
from footfall.background.status import CONSUMERS
from footfall.clock import now_us
from footfall.config import Settings
from footfall.outbound.guard import AllowList
from footfall.outbound.sender import Sender
from footfall.store import Store
from footfall.store.dialect import DUE, FEED
from footfall.store.leases import JobLeases
from footfall.store.webhooks import fan_out_events, fan_out_identity
from footfall.webhooks.delivery import DeliveryLoop, Policy
from footfall.workflows.actions import IN_FLIGHT, ActionLoop
from footfall.workflows.date_scan import DateScan
from footfall.workflows.dating import DatePolicy
from footfall.workflows.engine import Plans, RunLoop, handle_events, handle_identity

WEBHOOK_EVENTS, WEBHOOK_IDENTITY, WORKFLOW_EVENTS, WORKFLOW_IDENTITY = (
    name for name, _ in CONSUMERS
)


class Runtime:
    def __init__(self, store: Store, settings: Settings, owner: str | None = None) -> None:
        self.owner = owner or process_owner()
        self.grace = settings.shutdown_grace_seconds
        dates = DatePolicy()
        scan = DateScan(
            store.workflow_dates,
            Plans(16),
            now_us,
            dates,
            max_active=settings.workflow_max_active_per_contact,
        )
        jobs = [
            *default_jobs(store.types, store.webhooks, settings, store.workflow_runs),
            scan_contact_dates(scan, dates.every),
        ]
        self.runner = Runner(JobLeases(store), jobs, owner=self.owner)
        allow = AllowList.parse(settings.webhook_allow_hosts)
        sender = Sender(
            allow,
            settings.webhook_timeout_seconds,
            settings.webhook_concurrency,
        )
        policy = Policy(
            settings.webhook_retry_schedule,
            settings.webhook_max_age_seconds,
            settings.webhook_concurrency,
        )
        self.deliveries = DeliveryLoop(store.webhooks, sender, policy, self.owner)
        dialect = self.dialect = store.dialect
        plans = Plans()
        most_active = settings.workflow_max_active_per_contact
        self.actions = ActionLoop(
            store.workflow_runs,
            plans,
            self.owner,
            now_us,
            Sender(allow, settings.webhook_timeout_seconds, IN_FLIGHT),
            emitted=self.wake,
        )
        self.runs = RunLoop(
            store.workflow_runs, plans, self.owner, now_us, at_action=self.actions.nudge
        )
        self._listening = threading.Event()  # set: stop listening
        self._listener: asyncio.Future[None] | None = None
        self.consumers = [
            ConsumerLoop(store.feed, consumer, self.owner)
            for consumer in (
                Consumer(
                    WEBHOOK_EVENTS,
                    "event_span",
                    lambda tx, page: fan_out_events(tx, dialect, page[0], now_us()),
                    after=self._fanned_out,
                ),
                Consumer(
                    WEBHOOK_IDENTITY,
                    "identity",
                    lambda tx, page: fan_out_identity(tx, dialect, page, now_us()),
                    after=self._fanned_out,
                ),
                Consumer(
                    WORKFLOW_EVENTS,
                    "event_span",
                    lambda tx, page: handle_events(
                        tx, dialect, page[0], plans, now_us(), most_active
                    ),
                    # Longer pages than the webhooks': only the events that may concern a
                    # workflow are read, and fewer pages are fewer write transactions.
                    page=1000,
                    after=self._workflows_moved,
                ),
                Consumer(
                    WORKFLOW_IDENTITY,
                    "identity",
                    lambda tx, page: handle_identity(
                        tx, dialect, page, plans, now_us(), most_active
                    ),
                ),
            )
        ]

    def _workflows_moved(self, handled: int) -> None:
        """Runs were started (up to their first timer, wait or action) or woken."""
        self.runs.nudge()
        self.actions.nudge()

    def _fanned_out(self, handled: int) -> None:
        self.deliveries.nudge()

    def wake(self) -> None:
        """Something was committed: the consumers look at the feed now (call on the loop)."""
        for consumer in self.consumers:
            consumer.wake.set()

    def _heard(self, channel: str) -> None:
        """A notification from another process (a listener thread): wake who it concerns."""
        if channel == FEED:
            for consumer in self.consumers:
                consumer.nudge()
        else:
            self.deliveries.nudge()
            self.runs.nudge()
            self.actions.nudge()

    async def start(self) -> None:
        await self.runner.start()
        for consumer in self.consumers:
            await consumer.start()
        await self.deliveries.start()
        await self.runs.start()
        await self.actions.start()
        self._listening.clear()
        listen = self.dialect.listen
        self._listener = asyncio.get_running_loop().run_in_executor(
            None, listen, (FEED, DUE), self._heard, self._listening
        )

    async def stop(self) -> None:
        """Stop taking work, finish or give back what is in flight, release every lease."""
        self._listening.set()
        if self._listener is not None:
            await self._listener
        await self.deliveries.stop(self.grace)
        await self.actions.stop(self.grace)
        await self.runs.stop()
        for consumer in self.consumers:
            await consumer.stop()
        await self.runner.stop()
