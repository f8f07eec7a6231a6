"""Composition root: settings -> store -> services -> app."""

from __future__ import annotations

import asyncio
import gc
import sys
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from footfall import logs
from footfall.access import Authenticator, RateLimiter, now_us
from footfall.config import Settings
from footfall.eventtypes.registry import TypeRulesCache
from footfall.exceptions import FootfallError
from footfall.ingest.committer import GroupCommitter
from footfall.metrics import Metrics, RouteMetrics
from footfall.records import IdentityChanges
from footfall.store import Store, open_store


@dataclass
class Services:
    settings: Settings
    store: Store
    auth: Authenticator
    limiter: RateLimiter
    metrics: Metrics = field(default_factory=Metrics)
    log: Any = None
    committer: GroupCommitter = field(init=False)

    def __post_init__(self) -> None:
        from footfall.web.ingest import ROUTES

        self.log = logs.get("footfall")
        self.route_metrics = {r.name: RouteMetrics(self.metrics, r.name) for r in ROUTES.values()}
        self.type_rules = TypeRulesCache(self.store.types, self.settings.type_rules_refresh_seconds)
        self._pruner: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # The commit thread waits on the disk or the network, and each time it must win the GIL
        # back from the busy event loop: the default 5 ms hand-over would dominate a batch.
        sys.setswitchinterval(0.0001)
        # Start-up objects never die: keep the collector off them, and run it less often, as
        # each request allocates a few dozen short-lived objects.
        gc.freeze()
        gc.set_threshold(20_000, 20, 20)
        self.committer = GroupCommitter(self.store.events, self.settings.group_commit_max_events)
        self.committer.on_commit = self._committed
        await self.committer.start()
        await self.type_rules.start()
        self._pruner = asyncio.get_running_loop().create_task(self._prune_failures())
        self.log.info("service started", action="service.started", dialect=self.store.dialect.name)

    async def _prune_failures(self) -> None:
        """Drop failed events older than the retention, at start and then hourly."""
        while True:
            days = self.settings.failed_events_retention_days
            try:
                removed = await run_in_threadpool(
                    self.store.types.prune_failures, now_us() - days * 86_400_000_000
                )
            except FootfallError as exc:
                self.log.warning(
                    "failed events not pruned", action="failures.prune", error=str(exc)
                )
            else:
                if removed:
                    self.log.info("failed events pruned", action="failures.pruned", count=removed)
            await asyncio.sleep(3600)

    def _committed(self, changes: IdentityChanges) -> None:
        self.metrics.batches.inc()
        self.metrics.count_identity(changes.merges, changes.warnings)

    async def stop(self) -> None:
        if self._pruner is not None:
            self._pruner.cancel()
        await self.type_rules.stop()
        await self.committer.stop()
        self.store.close()


def build_services(settings: Settings) -> Services:
    store = open_store(settings)
    return Services(
        settings=settings,
        store=store,
        auth=Authenticator(store.access, settings.key_cache_seconds, settings.token_ttl_seconds),
        limiter=RateLimiter(settings.rate_limit_per_second),
    )


def create_app(settings: Settings | None = None) -> Any:
    from footfall.web.app import FootfallApp

    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    return FootfallApp(build_services(settings))
