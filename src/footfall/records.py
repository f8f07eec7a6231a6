"""Domain records: what ingestion produces and the store writes. Plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from footfall.identity.locators import Locators

HOUR_US = 3_600_000_000  # the hourly statistics count per hour of receipt
ACCEPTED = "accepted"  # the hourly outcome of a stored event (refused ones: their reason)


@dataclass(slots=True)
class NewEvent:
    """A validated event, ready to be tied to a contact and stored."""

    workspace_id: int
    event_type_key: str
    key_value: str
    params_json: str
    raw: str
    source: str  # "live", "past", "order" or "replay" (a live event replayed from the failed log)
    occurred_us: int
    received_us: int
    locators: Locators
    key_id: int = 0  # the API key that sent it: the "who" of any merge it causes
    shape: tuple[tuple[str, str], ...] = ()  # (param name, JSON type): the type's structure


@dataclass(slots=True)
class NewOrder:
    """A validated order to upsert by external id; its event is stored in the same transaction."""

    workspace_id: int
    external_order_id: str
    status: str
    total_cost: float
    currency: str
    order_date: str
    data_json: str
    event: NewEvent


@dataclass(slots=True)
class NewFailure:
    """A refused event for the failed-event log, committed with the next batch of events."""

    workspace_id: int
    event_type_key: str  # "" when the body named no type
    key_value: str | None
    route: str
    reason: str
    field: str | None
    error: str
    raw: str  # at most the configured number of bytes
    raw_bytes: int  # the size of the whole body
    received_us: int
    # False for an event refused because its type may not be created (the growth cap): the
    # hourly statistics count it under "", so random type names leave no row per name there.
    typed_stats: bool = True


@dataclass(frozen=True, slots=True)
class IdentityChanges:
    """What a batch changed in identity, for the metrics."""

    merges: int = 0
    warnings: int = 0


EVENTS, IDENTITY = "events", "identity"  # the streams a webhook may follow


@dataclass(frozen=True, slots=True)
class WebhookSpec:
    """What a subscription's owner chooses (validated by footfall.webhooks)."""

    url: str
    event_types: tuple[str, ...] = ()  # empty: every accepted event
    streams: tuple[str, ...] = (EVENTS,)
    batch_size: int = 100
    basic_username: str | None = None
    basic_password: str | None = None
