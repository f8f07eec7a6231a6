"""Composition root: settings -> store -> services -> app."""

from __future__ import annotations

import gc
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import structlog

from footfall import logs
from footfall.access import Authenticator, RateLimiter
from footfall.background.runtime import Runtime
from footfall.background.status import StatusCollector
from footfall.config import Settings
from footfall.eventtypes.growth import Caps, Growth
from footfall.eventtypes.registry import TypeRulesCache
from footfall.ingest.committer import GroupCommitter
from footfall.ingest.service import Ingestion
from footfall.memory import limit_malloc_arenas
from footfall.messages.service import TemplateService
from footfall.metrics import Metrics
from footfall.records import IdentityChanges
from footfall.store import Store, open_store
from footfall.webhooks.service import WebhookService
from footfall.workflows.service import WorkflowService

if TYPE_CHECKING:
    from footfall.web.app import FootfallApp


@dataclass
class Services:
    settings: Settings
    store: Store
    auth: Authenticator
    limiter: RateLimiter
    metrics: Metrics = field(default_factory=Metrics)
    log: structlog.stdlib.BoundLogger = field(default_factory=lambda: logs.get("footfall"))
    committer: GroupCommitter = field(init=False)
    ingestion: Ingestion = field(init=False)  # needs the committer: made in start()
    type_rules: TypeRulesCache = field(init=False)
    background: bool = True  # run the periodic jobs (footfall.background) in this process

    def __post_init__(self) -> None:
        self.type_rules = TypeRulesCache(self.store.types, self.settings.type_rules_refresh_seconds)
        self.runtime: Runtime | None = None
        self.webhooks = WebhookService(self.store.webhooks, self.settings)
        self.workflows = WorkflowService(self.store.workflows, self.settings)
        self.templates = TemplateService(self.store.templates)
        self.metrics.registry.register(StatusCollector(self.store))

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
        caps = Caps(
            self.settings.max_new_event_types_per_day, self.settings.max_new_param_names_per_day
        )
        growth = Growth(self.store.types, caps)
        self.ingestion = Ingestion(
            self.settings, self.committer, self.type_rules.rules, self.log, growth
        )
        await self.committer.start()
        await self.type_rules.start()
        if self.background:
            # Each API process runs one; leases keep each job to one run per deployment, each
            # consumer to one owner, each delivery to one worker.
            self.runtime = Runtime(self.store, self.settings)
            await self.runtime.start()
        self.log.info("service started", action="service.started", dialect=self.store.dialect.name)

    def _committed(self, changes: IdentityChanges) -> None:
        self.metrics.batches.inc()
        self.metrics.count_identity(changes.merges, changes.warnings)
        if self.runtime is not None:
            self.runtime.wake()

    async def stop(self) -> None:
        if self.runtime is not None:
            await self.runtime.stop()
        await self.webhooks.close()
        await self.type_rules.stop()
        await self.committer.stop()
        self.store.close()


def build_services(settings: Settings, background: bool = True) -> Services:
    store = open_store(settings)
    return Services(
        background=background,
        settings=settings,
        store=store,
        auth=Authenticator(store.access, settings.key_cache_seconds, settings.token_ttl_seconds),
        limiter=RateLimiter(settings.rate_limit_per_second),
    )


def create_app(settings: Settings | None = None, background: bool = True) -> FootfallApp:
    from footfall.web.app import FootfallApp

    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    limit_malloc_arenas()  # before the worker threads that parse large bodies start
    return FootfallApp(build_services(settings, background))


def create_api_app() -> FootfallApp:
    """The app without background jobs (``footfall serve --no-worker``): ``footfall worker``
    processes run them instead."""
    return create_app(background=False)
