"""Ingestion as a service: events, past events and orders parsed and stored through the group
commit, and every refusal kept in the failed-event log.

No HTTP here, so that every way in (the eSputnik routes, the Segment API, the browser tracker,
replay) parses the same way and logs refusals the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
import structlog

from footfall.clock import now_us
from footfall.config import Settings
from footfall.exceptions import BodyTooLarge, InvalidEvent, StorageUnavailable
from footfall.ingest.events import decode, parse_event, storable
from footfall.ingest.orders import parse_orders
from footfall.ingest.past import ACCEPTED, Outcome, parse_past_events
from footfall.records import NewEvent, NewFailure, NewOrder
from footfall.store.rows import ApiKey

if TYPE_CHECKING:
    from footfall.eventtypes.rules import RuleLookup

__all__ = ["Committer", "Ingestion", "OrdersResult", "PastResult", "failure", "reparse"]


class Committer(Protocol):
    """What ingestion needs of the group committer: durable storage of a list of records."""

    async def submit(self, items: Sequence[NewEvent | NewOrder | NewFailure]) -> None: ...


@dataclass(frozen=True, slots=True)
class PastResult:
    """Each past event's outcome, in request order."""

    outcomes: list[Outcome]
    accepted: int

    @property
    def errors(self) -> int:
        return len(self.outcomes) - self.accepted


@dataclass(frozen=True, slots=True)
class OrdersResult:
    accepted: int
    failed: list[dict[str, Any]]  # {order, error}, as eSputnik answers them


class _Peek(msgspec.Struct):
    eventTypeKey: Any = None  # noqa: N815 - wire name
    keyValue: Any = None  # noqa: N815


_peek_decoder = msgspec.json.Decoder(_Peek)


def _peek(raw: bytes) -> tuple[str, str | None]:
    """The type and key of a refused body, where it still has them."""
    try:
        peeked = decode(raw, _peek_decoder)
    except InvalidEvent:
        return "", None
    type_key = peeked.eventTypeKey
    key_value = peeked.keyValue
    if isinstance(key_value, int) and not isinstance(key_value, bool):
        key_value = str(key_value)
    return (
        type_key if isinstance(type_key, str) and 0 < len(type_key) <= 100 else "",
        key_value if isinstance(key_value, str) and len(key_value) <= 300 else None,
    )


def failure(
    key: ApiKey,
    route: str,
    raw: bytes,
    reason: str,
    field: str | None,
    error: str,
    received_us: int,
    limit: int,
    size: int | None = None,
) -> NewFailure:
    """A failed-event log entry; the raw body is kept up to ``limit`` bytes."""
    type_key, key_value = _peek(raw)
    clean_key = storable(type_key)
    return NewFailure(
        workspace_id=key.workspace_id,
        event_type_key=clean_key if clean_key == type_key else "",
        key_value=None if key_value is None else storable(key_value),
        route=route,
        reason=reason,
        field=None if field is None else storable(field)[:1000],
        error=storable(error)[:2000],
        raw=storable(raw[:limit].decode("utf-8", errors="ignore")),
        raw_bytes=min(len(raw) if size is None else size, 2**62),
        received_us=received_us,
    )


def reparse(
    route: str,
    raw: bytes,
    *,
    workspace_id: int,
    now_us: int,
    sent_us: int,
    max_age_days: int,
    rules: RuleLookup,
) -> NewEvent:
    """One event parsed again as the route it was sent to parses it (replay of the failed-event
    log); a live event occurs when it was first sent."""
    version = 1 if route.startswith("v1/") else 2
    if not route.endswith("past_events"):
        return parse_event(
            raw,
            version=version,
            workspace_id=workspace_id,
            received_us=now_us,
            occurred_us=sent_us,
            rules=rules,
        )
    batch = parse_past_events(
        b'{"events":[' + raw + b"]}",
        version=version,
        workspace_id=workspace_id,
        now_us=now_us,
        max_age_days=max_age_days,
        rules=rules,
    )
    if len(batch.outcomes) != 1:
        raise InvalidEvent("the kept body is not one event: it cannot be replayed")
    [outcome] = batch.outcomes
    if outcome.status != ACCEPTED:
        raise InvalidEvent(outcome.error or outcome.status)
    return batch.accepted[0]


class Ingestion:
    """Parses what a client sent under the type rules in force and waits for the durable commit."""

    def __init__(
        self,
        settings: Settings,
        committer: Committer,
        rules: RuleLookup,
        log: structlog.stdlib.BoundLogger,
    ) -> None:
        self._committer = committer
        self._rules = rules
        self._log = log
        self._max_age_days = settings.past_events_max_age_days
        self._kept_bytes = settings.failed_event_max_bytes

    async def event(self, key: ApiKey, version: int, body: bytes) -> None:
        """Store one live event; raises InvalidEvent (and subclasses) when it breaks a rule."""
        event = parse_event(
            body,
            version=version,
            workspace_id=key.workspace_id,
            received_us=now_us(),
            rules=self._rules,
        )
        event.key_id = key.key_id
        await self._committer.submit([event])

    async def past_events(self, key: ApiKey, version: int, body: bytes) -> PastResult:
        """Store the acceptable events of a batch; the refused ones go to the failed-event log."""
        received = now_us()
        batch = parse_past_events(
            body,
            version=version,
            workspace_id=key.workspace_id,
            now_us=received,
            max_age_days=self._max_age_days,
            rules=self._rules,
        )
        for event in batch.accepted:
            event.key_id = key.key_id
        refused = self._refused(key, f"v{version}/past_events", batch.outcomes, received)
        if batch.accepted:
            await self._committer.submit(batch.accepted)
        if refused:
            await self._keep(refused)
        return PastResult(batch.outcomes, len(batch.accepted))

    def _refused(
        self, key: ApiKey, route: str, outcomes: list[Outcome], received_us: int
    ) -> list[NewFailure]:
        limit = self._kept_bytes
        return [
            failure(key, route, o.raw, o.reason, o.field, o.error or o.status, received_us, limit)
            for o in outcomes
            if o.status != ACCEPTED
        ]

    async def orders(self, key: ApiKey, body: bytes) -> OrdersResult:
        """Upsert the valid orders (each with its ``order<STATUS>`` event); list the others."""
        batch = parse_orders(body, workspace_id=key.workspace_id, now_us=now_us())
        for order in batch.accepted:
            order.event.key_id = key.key_id
        if batch.accepted:
            await self._committer.submit(batch.accepted)
        return OrdersResult(len(batch.accepted), batch.failed)

    async def log_refusal(
        self, key: ApiKey, route: str, body: bytes, exc: InvalidEvent | BodyTooLarge
    ) -> None:
        """Keep a refused request in the failed-event log; the caller answers the client anyway."""
        size = None
        if isinstance(exc, BodyTooLarge):
            body, size = exc.prefix, exc.size or None
        field = exc.field if isinstance(exc, InvalidEvent) else None
        entry = failure(
            key, route, body, exc.reason, field, str(exc), now_us(), self._kept_bytes, size
        )
        await self._keep([entry])

    async def _keep(self, entries: list[NewFailure]) -> None:
        try:
            await self._committer.submit(entries)
        except StorageUnavailable as error:
            self._log.warning(
                "failed event not logged", action="failure.unlogged", error=str(error)
            )
        except Exception:  # the client's answer is its 4xx whatever happens here
            self._log.exception("failed event not logged", action="failure.unlogged")
