"""Feed consumers: each reads the feed from its saved position, acts, and saves the new position
in the same transaction (store/feed.py), under a lease that makes it the only owner.

A loop per consumer: take the lease (or wait for it: another process owns the consumer, and the
lease expires within seconds if that process died), then handle pages until the feed is drained,
then sleep until woken (a commit in this process) or the poll interval passes. Losing the lease
(a pause longer than its TTL) rolls the page back and the loop asks for the lease again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from footfall import logs
from footfall.loops import WakeLoop
from footfall.store.cursor import Cursor
from footfall.store.feed import FeedStore
from footfall.store.leases import LeaseLost

log = logs.get("footfall.background")
LEASE_SECONDS = 5.0
POLL_SECONDS = 0.5
# After a wake, how long commits are gathered before the feed is read: a page then covers
# several group commits, and the consumer's write transactions, which take turns with the
# API's on SQLite, stay few (at 1,000 events/s, without it, they delayed ingestion by ~5 ms).
GATHER_SECONDS = 0.025
# Once the feed brings 4,000 items a second or more (BUSY_ITEMS in the short gathering), it is
# busy: gather longer, for a quarter as many transactions (with the worker in the API's process,
# ingestion at full speed lost 15-21% with the short gathering, 10-14% with the long, in runs of
# bench/webhooks.py). The rate is judged by the time gathered, so a feed at 1,000 events a
# second, which brings 100 in the long gathering, goes back to the short one: its latency.
BUSY_ITEMS = 100
BUSY_GATHER_SECONDS = 0.1


def gather_seconds(last_drained: int, last_gathered: float = GATHER_SECONDS) -> float:
    """How long to gather commits after a wake, given how many items the last drain handled
    after gathering ``last_gathered`` seconds."""
    busy = last_drained * GATHER_SECONDS >= BUSY_ITEMS * last_gathered
    return BUSY_GATHER_SECONDS if busy else GATHER_SECONDS


@dataclass(frozen=True, slots=True)
class Consumer:
    """``handle`` runs in the transaction that advances ``name``'s position past the page."""

    name: str
    stream: str  # a feed of store.feed.SOURCES: "events", "event_span" or "identity"
    handle: Callable[[Cursor, list[Any]], object]
    page: int = 500
    after: Callable[[int], None] = lambda handled: None  # once a page is committed


class ConsumerLoop(WakeLoop):
    failed_action = "consumer.failed"

    def __init__(self, feed: FeedStore, consumer: Consumer, owner: str) -> None:
        super().__init__(consumer.name)
        self.feed = feed
        self.consumer = consumer
        self.owner = owner
        self.owned = False
        self._renewed = 0.0
        self._drained = 0  # items the last drain handled
        self._gathered = GATHER_SECONDS  # how long commits were gathered before it

    def drain(self) -> int:
        """Handle pages until the feed has no more; how many items (blocking: run in a thread).
        Raises LeaseLost when this process does not own the consumer."""
        c, total = self.consumer, 0
        while True:
            handled = self._consume_page()
            total += handled
            if handled:
                c.after(handled)
            if handled < c.page:
                return total

    def _consume_page(self) -> int:
        c = self.consumer
        return self.feed.consume_stream(
            c.stream, c.name, self.owner, c.handle, c.page, LEASE_SECONDS
        )

    def _waiting(self) -> bool:
        """True when the feed has something after the saved position: a read, so an idle
        consumer writes nothing (on PostgreSQL every write transaction, however short, holds
        back every feed of the cluster while it runs)."""
        return self.feed.waiting(self.consumer.name, self.consumer.stream)

    def _step(self) -> None:
        c = self.consumer
        if not self.owned:
            self.owned = self.feed.acquire(c.name, self.owner, LEASE_SECONDS)
            self._renewed = time.monotonic()
            if not self.owned:
                return
        try:
            waiting = self._waiting()
            self._drained = self.drain() if waiting else 0  # drain renews the lease each page
            if waiting:
                self._renewed = time.monotonic()
            elif time.monotonic() - self._renewed > LEASE_SECONDS / 3:
                self.owned = self.feed.renew(c.name, self.owner, LEASE_SECONDS)
                self._renewed = time.monotonic()
        except LeaseLost:
            self.owned = False
        if not self.owned:
            log.warning("consumer lease lost", action="consumer.lost", consumer=c.name)

    async def step(self) -> None:
        await asyncio.to_thread(self._step)

    def idle_seconds(self) -> float:
        return POLL_SECONDS if self.owned else LEASE_SECONDS / 2

    async def after_wake(self) -> None:
        self._gathered = self.gathering()
        await asyncio.sleep(self._gathered)

    def gathering(self) -> float:
        """How long the next wake gathers commits before the feed is read."""
        return gather_seconds(self._drained, self._gathered)

    async def stop(self) -> None:
        """Finish the page in hand, then give up the lease so another process takes over now."""
        await self.halt()
        if self.owned:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.feed.release, self.consumer.name, self.owner)
            self.owned = False
