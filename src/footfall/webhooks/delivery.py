"""The delivery loop: claim due deliveries, send each, settle it; never two of one subscription.

Claims are leased (store/webhooks.py) for a few seconds, renewed while their requests are in
flight: a worker that dies mid-delivery leaves its claims to expire within seconds, whatever the
timeout, and another worker sends the same items under the same ``webhook-id`` again (at least
once). At most ``concurrency`` deliveries are in flight per worker, each bounded by the timeout,
so a slow or hanging receiver holds one slot, never the others' deliveries nor ingestion.

A slot that delivered a batch sends the subscription's next ones at once, up to RUN_BATCHES in
a run, and settles the run in one transaction (store/webhooks.py); a run that ended delivered
goes on with the batch taken in that transaction, while no other subscription's delivery is
due and waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from footfall import logs
from footfall.clock import now_us
from footfall.loops import WakeLoop
from footfall.outbound.schedule import next_retry_us
from footfall.outbound.sender import Outcome, Sender, basic_header, now, signed_headers
from footfall.store.webhooks import Attempt, Delivery, Sent, WebhookStore

log = logs.get("footfall.webhooks")
LEASE_SECONDS = 5.0  # a dead worker's deliveries are taken over this long after its last renewal
LEASE_US = int(LEASE_SECONDS * 1_000_000)
RENEW_SECONDS = LEASE_SECONDS / 3
POLL_SECONDS = 1.0
TIMER_SLACK_SECONDS = 0.005  # the loop's timers may fire a little early
# Batches a worker sends in a row to one subscription, each after the one before was delivered,
# settled in one transaction: on SQLite the API's commits wait for each settle's write lock.
RUN_BATCHES = 8


@dataclass(frozen=True, slots=True)
class Policy:
    schedule: Sequence[float]  # seconds between tries; the last repeats
    max_age: float  # seconds of failing after which the subscription is paused
    concurrency: int


class DeliveryLoop(WakeLoop):
    failed_action = "webhook.claim_failed"

    def __init__(
        self,
        store: WebhookStore,
        sender: Sender,
        policy: Policy,
        owner: str,
        clock: Callable[[], int] = now_us,
    ) -> None:
        super().__init__("webhooks:deliveries")
        self.store = store
        self.sender = sender
        self.policy = policy
        self.owner = owner
        self.clock = clock
        self._flying: dict[asyncio.Task[None], int] = {}  # each sending task's subscription
        self._renewer: asyncio.Task[None] | None = None

    async def claim(self) -> int:
        """Start as many due deliveries as there are free slots; how many started."""
        free = self.policy.concurrency - len(self._flying)
        if free <= 0:
            return 0
        claimed = await asyncio.to_thread(
            self.store.claim, self.owner, free, LEASE_US, set(self._flying.values())
        )
        for delivery in claimed:
            task = asyncio.get_running_loop().create_task(self.deliver(delivery))
            self._flying[task] = delivery.webhook.id
            task.add_done_callback(self._landed)
        return len(claimed)

    async def _renew_leases(self) -> None:
        """While requests are in flight, keep their leases: another worker takes a delivery over
        only once this one has stopped renewing it (it died, or its storage is down)."""
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            sending = list(self._flying.values())
            if not sending:
                continue
            try:
                await asyncio.to_thread(self.store.renew, self.owner, sending, LEASE_US)
            except Exception as exc:  # storage down: the leases may lapse; at least once holds
                log.warning("renewing leases failed", action="webhook.renew_failed", error=str(exc))

    def _landed(self, task: asyncio.Task[None]) -> None:
        self._flying.pop(task, None)
        self.wake.set()  # a slot is free, and the subscription may have its next batch due

    async def deliver(self, delivery: Delivery) -> None:
        """Send ``delivery``, then the batches settling it took at once, while there are any."""
        current: Delivery | None = delivery
        while current is not None:
            try:
                current = await self._deliver(current)
            except Exception:  # storage down while settling: the lease expires, it is sent again
                log.exception(
                    "delivery not settled", action="webhook.unsettled", webhook=delivery.webhook.id
                )
                return

    async def _deliver(self, delivery: Delivery) -> Delivery | None:
        """Send ``delivery`` and, while each is delivered, up to ``RUN_BATCHES`` - 1 batches
        that follow it; settle them in one transaction; the batch it took next, if any."""
        run: list[Sent] = []
        current: Delivery | None = delivery
        while current is not None:
            sent = await self._send(current)
            run.append(sent)
            if not sent.delivered or len(run) == RUN_BATCHES or self.stopping:
                break
            current = await asyncio.to_thread(self.store.next_batch, current, self.owner)
        last = run[-1]
        pause = ""
        if last.attempt.next_retry_us is None and not last.delivered:
            failures, attempt = last.delivery.attempts + 1, last.attempt
            pause = (
                f"paused after failing for over {self.policy.max_age:g} s ({failures} "
                f"attempts); last: {attempt.error or attempt.status_code}"
            )
        settled = await asyncio.to_thread(
            self.store.settle,
            run,
            self.owner,
            pause=pause,
            then_lease_us=0 if self.stopping else LEASE_US,
        )
        retry = last.attempt.next_retry_us
        if retry is not None:  # look again when it is due, not at the next poll
            delay = max(0.0, (retry - self.clock()) / 1_000_000) + TIMER_SLACK_SECONDS
            asyncio.get_running_loop().call_later(delay, self.wake.set)
        for sent in run:
            attempt = sent.attempt
            log.info(
                "webhook delivery",
                action="webhook.delivered" if sent.delivered else "webhook.failed",
                webhook=attempt.webhook_id,
                message=attempt.message_id,
                items=attempt.items,
                status=attempt.status_code,
                error=attempt.error,
                lease_held=settled.held,
            )
        return settled.next

    async def _send(self, delivery: Delivery) -> Sent:
        """Send one batch (nothing when all its items were erased); the attempt to log, with
        its retry time when it failed (None: give up)."""
        webhook, payload = delivery.webhook, delivery.body
        if not delivery.items:  # every item erased since it was queued
            outcome = Outcome(True, None, "nothing left to send (erased)", 0.0)
        else:
            headers = signed_headers(webhook.secret, delivery.message_id, now(), payload)
            headers |= basic_header(webhook.spec.basic_username, webhook.spec.basic_password)
            outcome = await self.sender.post(webhook.spec.url, payload, headers)
        at = self.clock()
        retry = None
        if not outcome.delivered:
            failures = delivery.attempts + 1
            since = delivery.failing_since_us or at
            retry = next_retry_us(failures, since, at, self.policy.schedule, self.policy.max_age)
        attempt = Attempt(
            webhook.id,
            delivery.message_id,
            at,
            outcome.status_code,
            outcome.error,
            outcome.latency_ms,
            delivery.items,
            retry,
        )
        return Sent(delivery, attempt, outcome.delivered)

    async def start(self) -> None:
        await super().start()
        self._renewer = asyncio.get_running_loop().create_task(self._renew_leases())

    async def step(self) -> None:
        await self.claim()

    def idle_seconds(self) -> float:
        return POLL_SECONDS

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; let deliveries in flight finish within ``grace`` seconds, cancel the
        rest, and give back every lease still held so another worker takes them at once."""
        await self.halt()
        if self._flying:
            _, late = await asyncio.wait(set(self._flying), timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
            self._renewer = None
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.store.release, self.owner)
        await self.sender.close()
