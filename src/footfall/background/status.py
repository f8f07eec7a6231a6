"""What the background work has yet to do: each feed consumer's lag and the due-work backlog.

Read by ``/metrics`` (at most once a second, however often it is scraped) and ``footfall status``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from footfall.store import Store
from footfall.store.feed import Lag

# (consumer, stream) of every feed consumer the runtime runs.
CONSUMERS = (
    ("webhooks:events", "events"),
    ("webhooks:identity", "identity"),
    ("workflows:events", "events"),
    ("workflows:identity", "identity"),
)
CACHE_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Status:
    consumers: dict[str, Lag]
    deliveries_due: int  # webhook deliveries due now, not yet taken by a worker
    items_waiting: int  # webhook items waiting to be delivered (dead letters not counted)


def read_status(store: Store) -> Status:
    """The backlog first: a page a consumer commits between the two reads then shows as lag
    (still to do), never as items waiting while the consumer looks behind."""
    due, waiting = store.webhooks.backlog()
    lags = {name: store.feed.lag(name, stream) for name, stream in CONSUMERS}
    return Status(lags, due, waiting)


class StatusCollector(Collector):
    """Prometheus gauges of ``read_status``; a database that cannot answer yields none."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cached: tuple[float, Status] | None = None

    def _status(self) -> Status | None:
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > CACHE_SECONDS:
            try:
                self._cached = (now, read_status(self.store))
            except Exception:  # storage down: /metrics still answers, without these
                return None
        return self._cached[1]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        status = self._status()
        if status is None:
            return
        behind = GaugeMetricFamily(
            "footfall_consumer_lag_events",
            "Feed items a background consumer has yet to handle",
            labels=["consumer"],
        )
        oldest = GaugeMetricFamily(
            "footfall_consumer_oldest_seconds",
            "Age of the oldest feed item a background consumer has yet to handle (0: caught up)",
            labels=["consumer"],
        )
        for name, lag in status.consumers.items():
            behind.add_metric([name], lag.behind)
            oldest.add_metric([name], lag.oldest_seconds or 0.0)
        yield behind
        yield oldest
        yield GaugeMetricFamily(
            "footfall_webhook_deliveries_due",
            "Webhook deliveries due now that no worker has taken yet",
            value=status.deliveries_due,
        )
        yield GaugeMetricFamily(
            "footfall_webhook_items_waiting",
            "Webhook items waiting to be delivered",
            value=status.items_waiting,
        )
