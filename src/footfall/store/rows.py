"""Plain rows the store hands back (keys, stored events, feed positions); no I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: int
    workspace_id: int
    workspace: str
    scope: str
    expires_us: int | None = None  # when it stops working: a token's expiry, a key's revocation
    last_used_us: int | None = None


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """An API key as its workspace's operators see it: never its secret or hash."""

    key_id: int
    workspace_id: int
    workspace: str
    scope: str
    prefix: str
    created_us: int
    last_used_us: int | None
    revoked_us: int | None  # in the future during a rotation's grace period


@dataclass(frozen=True, slots=True)
class WorkspaceSummary:
    name: str
    created_us: int
    active_keys: int  # not revoked


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    event_type_key: str
    key_value: str
    contact_id: int | None
    params_json: str  # as stored
    source: str
    occurred_us: int
    received_us: int


@dataclass(frozen=True, slots=True)
class EventTypeStats:
    key: str
    count: int
    first_seen_us: int
    last_seen_us: int
    settings: Any = None  # the operator's rules as stored (decoded JSON), None when never set


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Filters of the event history; ``before`` is the (occurred_us, id) cursor of the last page."""

    event_type_key: str | None = None
    key_value: str | None = None
    contact_id: int | None = None
    occurred_from_us: int | None = None
    occurred_to_us: int | None = None
    before: tuple[int, int] | None = None
    limit: int = 100
    contact_ids: tuple[int, ...] | None = None  # any of these contacts (a merged family)


@dataclass(frozen=True, slots=True)
class FeedPosition:
    """Where a feed consumer has got to: (txid, id) of the last event it processed."""

    txid: int = 0
    id: int = 0


@dataclass(frozen=True, slots=True)
class FeedEvent:
    position: FeedPosition
    workspace_id: int
    event: StoredEvent


@dataclass(frozen=True, slots=True)
class EventSpan:
    """A page of the event feed named by its bounds, without reading its rows into Python: the
    events after ``after`` up to ``position`` (inclusive), ``count`` of them. For a consumer
    whose work is one statement over the page (the webhooks' fan-out)."""

    after: FeedPosition
    position: FeedPosition
    count: int
