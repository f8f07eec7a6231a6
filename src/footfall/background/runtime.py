"""The worker runtime: everything a worker process runs, and what ``serve`` runs in-process.

- periodic jobs (runner.py), each once per period in the whole deployment;
- feed consumers (consumers.py): the webhooks' fan-out of events and of identity changes into
  each subscription's outbox;
- due work (webhooks/delivery.py): deliveries, claimed under leases, several workers sharing
  them on PostgreSQL (``FOR UPDATE SKIP LOCKED``).

A commit in this process wakes the consumers (``wake``); a fan-out wakes the deliveries. What
other processes commit is seen within the poll intervals.
"""

from __future__ import annotations

from footfall.background.consumers import Consumer, ConsumerLoop
from footfall.background.jobs import default_jobs
from footfall.background.runner import Runner, process_owner
from footfall.background.status import CONSUMERS
from footfall.clock import now_us
from footfall.config import Settings
from footfall.store import Store
from footfall.store.leases import JobLeases
from footfall.store.webhooks import fan_out_events, fan_out_identity
from footfall.webhooks.delivery import DeliveryLoop, Policy
from footfall.webhooks.guard import AllowList
from footfall.webhooks.sender import Sender

WEBHOOK_EVENTS, WEBHOOK_IDENTITY = (name for name, _ in CONSUMERS)


class Runtime:
    def __init__(self, store: Store, settings: Settings, owner: str | None = None) -> None:
        self.owner = owner or process_owner()
        self.runner = Runner(
            JobLeases(store), default_jobs(store.types, settings), owner=self.owner
        )
        sender = Sender(
            AllowList.parse(settings.webhook_allow_hosts),
            settings.webhook_timeout_seconds,
            settings.webhook_concurrency,
        )
        policy = Policy(
            settings.webhook_retry_schedule,
            settings.webhook_max_age_seconds,
            settings.webhook_concurrency,
        )
        self.deliveries = DeliveryLoop(store.webhooks, sender, policy, self.owner)
        self.consumers = [
            ConsumerLoop(store.feed, consumer, self.owner)
            for consumer in (
                Consumer(
                    WEBHOOK_EVENTS,
                    "events",
                    lambda tx, page: fan_out_events(tx, page, now_us()),
                    after=self._fanned_out,
                ),
                Consumer(
                    WEBHOOK_IDENTITY,
                    "identity",
                    lambda tx, page: fan_out_identity(tx, page, now_us()),
                    after=self._fanned_out,
                ),
            )
        ]

    def _fanned_out(self, handled: int) -> None:
        self.deliveries.nudge()

    def wake(self) -> None:
        """Something was committed: the consumers look at the feed now (call on the loop)."""
        for consumer in self.consumers:
            consumer.wake.set()

    async def start(self) -> None:
        await self.runner.start()
        for consumer in self.consumers:
            await consumer.start()
        await self.deliveries.start()

    async def stop(self) -> None:
        """Stop taking work, finish or give back what is in flight, release every lease."""
        await self.deliveries.stop()
        for consumer in self.consumers:
            await consumer.stop()
        await self.runner.stop()
