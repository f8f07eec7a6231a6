"""What a delivery carries: the JSON array of items its receiver gets, one per event or change."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from footfall.ingest.dates import from_us
from footfall.store.identity_feed import ERASED, MERGED, IdentityChange
from footfall.store.rows import StoredEvent


class EventItem(msgspec.Struct, rename="camel"):
    """An accepted event, as the history API shows it."""

    id: int
    event_type_key: str
    key_value: str
    contact_id: int | None
    params: msgspec.Raw
    occurred: str
    received: str


class MergedItem(msgspec.Struct, tag_field="type", tag=MERGED):
    id: int
    survivor: int
    merged: int
    at: str


class ErasedItem(msgspec.Struct, tag_field="type", tag=ERASED, rename="camel"):
    id: int
    contact_id: int
    at: str


Item = EventItem | MergedItem | ErasedItem


def item(source: StoredEvent | IdentityChange) -> Item:
    if isinstance(source, StoredEvent):
        return EventItem(
            source.id,
            source.event_type_key,
            source.key_value,
            source.contact_id,
            msgspec.Raw(source.params_json.encode()),
            from_us(source.occurred_us),
            from_us(source.received_us),
        )
    at = from_us(source.created_us)
    if source.kind == MERGED:
        return MergedItem(source.position.id, source.contact_id, source.merged_id or 0, at)
    return ErasedItem(source.position.id, source.contact_id, at)


def body(sources: Sequence[StoredEvent | IdentityChange | None]) -> bytes:
    """The delivery's body: a JSON array of its items (erased ones left out)."""
    return msgspec.json.encode([item(s) for s in sources if s is not None])
