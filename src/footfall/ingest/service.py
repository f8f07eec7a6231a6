"""Ingestion as a service: events, past events and orders parsed and stored through the group
commit, and every refusal kept in the failed-event log.

No HTTP here, so that every way in (the eSputnik routes, the Segment API, the browser tracker,
replay) parses the same way and logs refusals the same way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
import structlog

from footfall.clock import now_us
from footfall.config import Settings
from footfall.eventtypes.growth import Growth
from footfall.exceptions import BodyTooLarge, InvalidEvent, StorageUnavailable, TooManyNewTypes
from footfall.ingest.events import decode, parse_event, storable
from footfall.ingest.orders import parse_orders
from footfall.ingest.past import (
    ACCEPTED,
    INVALID,
    NOT_STORED,
    Outcome,
    PastBatch,
    parse_past_events,
)
from footfall.records import NewEvent, NewFailure, NewOrder
from footfall.store.rows import ApiKey

if TYPE_CHECKING:
    from footfall.eventtypes.rules import RuleLookup

__all__ = [
    "CommitLimits",
    "Committer",
    "Ingestion",
    "OrdersResult",
    "PastResult",
    "failure",
    "parts",
    "reparse",
]
# Bodies larger than this are parsed on a worker thread, so the event loop goes on serving.
PARSE_OFF_LOOP_BYTES = 64 * 1024


class Committer(Protocol):
    """What ingestion needs of the group committer: durable storage of a list of records."""

    async def submit(
        self, items: Sequence[NewEvent | NewOrder | NewFailure], alone: bool = False
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class CommitLimits:
    """The most work one request may put into one commit; a larger request is split."""

    events: int = 500
    names: int = 5_000  # parameter names (each one is a row of the type registry to upsert)
    bytes: int = 2 * 1024 * 1024  # raw JSON


Stored = NewEvent | NewOrder | NewFailure


def _cost(item: Stored) -> tuple[int, int]:
    if isinstance(item, NewFailure):
        return 0, len(item.raw)
    event = item.event if isinstance(item, NewOrder) else item
    return len(event.shape), len(event.raw)


def parts(items: Sequence[Stored], limits: CommitLimits) -> Iterator[list[int]]:
    """Indexes of ``items`` in consecutive parts within ``limits`` (an item alone may exceed
    them: it is never split)."""
    part: list[int] = []
    names = size = 0
    for index, item in enumerate(items):
        more_names, more_bytes = _cost(item)
        over = (
            len(part) >= limits.events
            or names + more_names > limits.names
            or size + more_bytes > limits.bytes
        )
        if part and over:
            yield part
            part, names, size = [], 0, 0
        part.append(index)
        names += more_names
        size += more_bytes
    if part:
        yield part


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
        typed_stats=reason != TooManyNewTypes.reason,
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
    log); a live event occurs when it was first sent, and is stored with the source "replay":
    it happened a while ago, so it starts no workflow run."""
    version = 1 if route.startswith("v1/") else 2
    if not route.endswith("past_events"):
        event = parse_event(
            raw,
            version=version,
            workspace_id=workspace_id,
            received_us=now_us,
            occurred_us=sent_us,
            rules=rules,
        )
        return dataclasses.replace(event, source="replay")
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


def _not_stored(outcomes: list[Outcome], stored: int) -> list[Outcome]:
    """The outcomes with every accepted event after the first ``stored`` marked not stored."""
    marked: list[Outcome] = []
    for outcome in outcomes:
        if outcome.status == ACCEPTED:
            if stored == 0:
                outcome = Outcome(NOT_STORED, "storage unavailable: send this event again")
            else:
                stored -= 1
        marked.append(outcome)
    return marked


def _refusals_not_logged(outcomes: list[Outcome]) -> list[Outcome]:
    """The outcomes with every refusal the failed-event log could not keep marked not stored,
    so that the client sends it again (and its refusal is logged then)."""
    retry = "storage unavailable: the refusal could not be logged; send this event again"
    return [
        o if o.status in (ACCEPTED, NOT_STORED) else Outcome(NOT_STORED, retry) for o in outcomes
    ]


def _capped(batch: PastBatch, refusals: list[InvalidEvent | None]) -> PastBatch:
    """The batch with the accepted events the growth cap refused turned into refusals."""
    pairs = list(zip(batch.accepted, refusals, strict=True))
    refused = iter(pairs)
    outcomes = []
    for outcome in batch.outcomes:
        if outcome.status == ACCEPTED:
            event, exc = next(refused)
            if exc is not None:
                outcome = Outcome(INVALID, str(exc), event.raw.encode(), exc.reason, exc.field)
        outcomes.append(outcome)
    return PastBatch(outcomes, [event for event, exc in pairs if exc is None])


class Ingestion:
    """Parses what a client sent under the type rules in force, holds the registry's growth to
    its caps, and waits for the durable commit."""

    def __init__(
        self,
        settings: Settings,
        committer: Committer,
        rules: RuleLookup,
        log: structlog.stdlib.BoundLogger,
        growth: Growth,
    ) -> None:
        self._committer = committer
        self._rules = rules
        self._growth = growth
        self._log = log
        self._max_age_days = settings.past_events_max_age_days
        self._kept_bytes = settings.failed_event_max_bytes
        self._max_event_bytes = settings.max_body_bytes
        self.limits = CommitLimits()

    async def _store(self, items: Sequence[Stored]) -> int:
        """Commit ``items`` in parts within the limits; how many were committed before the
        storage failed (StorageUnavailable when nothing was)."""
        split = list(parts(items, self.limits))
        if len(split) == 1:
            await self._committer.submit(items)
            return len(items)
        stored = 0
        for part in split:
            try:
                await self._committer.submit([items[i] for i in part], alone=True)
            except StorageUnavailable:
                if stored == 0:
                    raise
                self._log.warning("request stored in part", action="ingest.partial", stored=stored)
                return stored
            stored += len(part)
        return stored

    async def _admit(self, key: ApiKey, events: list[NewEvent]) -> list[InvalidEvent | None]:
        """Each event's refusal by the growth cap (None: admitted). Known types and names are
        checked in memory; anything else is counted in the database, off the event loop."""
        if self._growth.all_known(events):
            return [None] * len(events)
        claim = functools.partial(self._growth.claim, key.workspace_id, events, now_us())
        refusals = await asyncio.to_thread(claim)
        if capped := sum(1 for r in refusals if r is not None):
            self._log.warning(
                "registry growth capped",
                action="types.capped",
                workspace=key.workspace,
                refused=capped,
            )
        return refusals

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
        events = [event]
        if not self._growth.all_known(events):  # in memory; else counted, off the event loop
            [refusal] = await self._admit(key, events)
            if refusal is not None:
                raise refusal
        await self._committer.submit(events)

    async def past_events(self, key: ApiKey, version: int, body: bytes) -> PastResult:
        """Store the acceptable events of a batch; the refused ones go to the failed-event log."""
        received = now_us()
        parse = functools.partial(
            parse_past_events,
            body,
            version=version,
            workspace_id=key.workspace_id,
            now_us=received,
            max_age_days=self._max_age_days,
            rules=self._rules,
            max_event_bytes=self._max_event_bytes,
        )
        batch = await asyncio.to_thread(parse) if len(body) > PARSE_OFF_LOOP_BYTES else parse()
        for event in batch.accepted:
            event.key_id = key.key_id
        refusals = await self._admit(key, batch.accepted)
        if any(refusal is not None for refusal in refusals):
            batch = _capped(batch, refusals)
        refused = self._refused(key, f"v{version}/past_events", batch.outcomes, received)
        outcomes = batch.outcomes
        stored = await self._store(batch.accepted) if batch.accepted else 0
        if stored < len(batch.accepted):
            outcomes = _not_stored(outcomes, stored)
        if refused:
            try:
                await self._keep(refused)
            except StorageUnavailable:
                if stored == 0:
                    raise  # nothing of the request was kept: 503, the client sends it again
                outcomes = _refusals_not_logged(outcomes)
        return PastResult(outcomes, stored)

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
        parse = functools.partial(
            parse_orders, body, workspace_id=key.workspace_id, now_us=now_us()
        )
        batch = await asyncio.to_thread(parse) if len(body) > PARSE_OFF_LOOP_BYTES else parse()
        for order in batch.accepted:
            order.event.key_id = key.key_id
        stored = await self._store(batch.accepted) if batch.accepted else 0
        failed = batch.failed + [
            {
                "order": msgspec.json.decode(order.data_json),
                "error": "storage unavailable: send this order again",
            }
            for order in batch.accepted[stored:]
        ]
        return OrdersResult(stored, failed)

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
        """Write refusals to the failed-event log; StorageUnavailable when it cannot be written,
        so that the client is asked to retry instead of losing what it sent. Many large
        refusals are written in parts, each alone in its commit, like accepted events."""
        try:
            split = list(parts(entries, self.limits))
            for part in split:
                await self._committer.submit([entries[i] for i in part], alone=len(split) > 1)
        except StorageUnavailable as error:
            self._log.warning(
                "failed event not logged", action="failure.unlogged", error=str(error)
            )
            raise
