"""Prometheus metrics an operator watches; one registry per app so tests can read their own."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.accepted = Counter(
            "footfall_events_accepted",
            "Events durably stored",
            ["route"],
            registry=self.registry,
        )
        self.rejected = Counter(
            "footfall_events_rejected",
            "Requests or events refused, by reason",
            ["route", "reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "footfall_request_seconds",
            "Time to answer an ingestion request, durable commit included",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.batches = Counter(
            "footfall_commit_batches", "Group-commit transactions", registry=self.registry
        )
        self.identity_merges = Counter(
            "footfall_identity_merges",
            "Contacts merged into another because one event or call identified both",
            registry=self.registry,
        )
        self.identity_warnings = Counter(
            "footfall_identity_warnings",
            "Merges refused because both contacts have different externalCustomerIds",
            registry=self.registry,
        )

    def count_identity(self, merges: int, warnings: int) -> None:
        if merges:
            self.identity_merges.inc(merges)
        if warnings:
            self.identity_warnings.inc(warnings)


class RouteMetrics:
    """Pre-bound children for one route: label look-ups cost more than the increments."""

    def __init__(self, metrics: Metrics, route: str) -> None:
        self.accepted = metrics.accepted.labels(route)
        self.latency = metrics.latency.labels(route)
        self._rejected = metrics.rejected
        self._route = route

    def rejected(self, reason: str, count: int = 1) -> None:
        self._rejected.labels(self._route, reason).inc(count)
