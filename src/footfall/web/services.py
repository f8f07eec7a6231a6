"""What the web layer uses of the composition root, typed: routes reach it through ``services``.

A protocol rather than ``bootstrap.Services`` itself, so the web layer never imports the root
that assembles it, and a test can hand it a fake.
"""

from __future__ import annotations

from typing import Protocol

import structlog
from starlette.requests import Request

from footfall.access import Authenticator, RateLimiter
from footfall.config import Settings
from footfall.eventtypes.registry import TypeRulesCache
from footfall.ingest.service import Ingestion
from footfall.messages.service import TemplateService
from footfall.metrics import Metrics
from footfall.store import Store
from footfall.webhooks.service import WebhookService
from footfall.workflows.service import WorkflowService

__all__ = ["Services", "services"]


class Services(Protocol):
    settings: Settings
    store: Store
    auth: Authenticator
    limiter: RateLimiter
    metrics: Metrics
    log: structlog.stdlib.BoundLogger
    type_rules: TypeRulesCache
    ingestion: Ingestion
    webhooks: WebhookService
    workflows: WorkflowService
    templates: TemplateService

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def services(request: Request) -> Services:
    """The services of the app serving ``request`` (set once, when the app is assembled)."""
    found: Services = request.app.state.services
    return found
