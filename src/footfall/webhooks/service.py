"""Webhook subscriptions as the API and the CLI manage them: checked, then stored."""

from __future__ import annotations

import asyncio
from typing import Any

from footfall.config import Settings
from footfall.exceptions import InvalidWebhook
from footfall.outbound.guard import AllowList, resolve
from footfall.outbound.sender import Sender, basic_header
from footfall.store.webhooks import ACTIVE, DISABLED, Attempt, Pending, Webhook, WebhookStore
from footfall.webhooks.specs import parse_spec


class WebhookService:
    def __init__(self, store: WebhookStore, settings: Settings) -> None:
        self.store = store
        self.allow = AllowList.parse(settings.webhook_allow_hosts)
        self._timeout = settings.webhook_timeout_seconds
        self._sender: Sender | None = None

    @property
    def sender(self) -> Sender:
        if self._sender is None:  # made on first use, on the running loop
            self._sender = Sender(self.allow, self._timeout, connections=4)
        return self._sender

    async def close(self) -> None:
        if self._sender is not None:
            await self._sender.close()

    async def _checked(self, document: Any, verify: bool) -> Any:
        """The spec in ``document``, its URL allowed by the guard and (with ``verify``)
        answering a GET with a 2xx, as eSputnik checks a webhook's URL."""
        spec = parse_spec(document)
        try:
            async with asyncio.timeout(self._timeout):
                await resolve(spec.url, self.allow)
        except TimeoutError:
            raise InvalidWebhook("resolving the URL's host timed out", field="url") from None
        if verify:
            auth = basic_header(spec.basic_username, spec.basic_password)
            await self.sender.check(spec.url, auth)
        return spec

    async def create(self, ws: int, document: Any, verify: bool = True) -> Webhook:
        spec = await self._checked(document, verify)
        return await asyncio.to_thread(self.store.create, ws, spec)

    async def update(self, ws: int, webhook_id: int, document: Any, verify: bool = True) -> Webhook:
        await asyncio.to_thread(self.store.get, ws, webhook_id)  # 404 before any network
        spec = await self._checked(document, verify)
        return await asyncio.to_thread(self.store.update, ws, webhook_id, spec)

    async def all(self, ws: int) -> list[Webhook]:
        return await asyncio.to_thread(self.store.all, ws)

    async def listed(self, ws: int) -> list[tuple[Webhook, Pending]]:
        return await asyncio.to_thread(self.store.listed, ws)

    async def get(self, ws: int, webhook_id: int) -> Webhook:
        return await asyncio.to_thread(self.store.get, ws, webhook_id)

    async def pending(self, ws: int, webhook_id: int) -> Pending:
        return await asyncio.to_thread(self.store.pending, ws, webhook_id)

    async def delete(self, ws: int, webhook_id: int) -> None:
        await asyncio.to_thread(self.store.delete, ws, webhook_id)

    async def enable(self, ws: int, webhook_id: int) -> Webhook:
        return await asyncio.to_thread(self.store.set_status, ws, webhook_id, ACTIVE)

    async def disable(self, ws: int, webhook_id: int) -> Webhook:
        return await asyncio.to_thread(self.store.set_status, ws, webhook_id, DISABLED, "disabled")

    async def replay(self, ws: int, webhook_id: int) -> int:
        return await asyncio.to_thread(self.store.replay, ws, webhook_id)

    async def attempts(self, ws: int, webhook_id: int, limit: int) -> list[Attempt]:
        return await asyncio.to_thread(self.store.attempts, ws, webhook_id, limit)
