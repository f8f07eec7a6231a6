"""Past events: up to 500 historical events per request, each answered with its own status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from footfall.exceptions import InvalidEvent
from footfall.ingest.dates import parse_iso, to_us
from footfall.ingest.events import build_event, decode, storable
from footfall.ingest.models import PastEventBody, PastEventsBody
from footfall.records import NewEvent

if TYPE_CHECKING:
    from footfall.eventtypes.rules import RuleLookup

MAX_PAST_EVENTS = 500
ACCEPTED = "ACCEPTED"
DATE_REQUIRED = "OCCURRED_DATE_IS_REQUIRED"
DATE_FORMAT = "INCORRECT_OCCURRED_DATE_FORMAT"
TOO_OLD = "OCCURRED_TIME_TOO_DEPTH"
IN_FUTURE = "OCCURRED_TIME_IN_FUTURE"
INVALID = "INVALID_EVENT"  # Footfall's own: the event breaks a rule; ``error`` says which
# Footfall's own: the event is valid but was not stored (the database became unavailable after
# earlier parts of the same request were committed); send it again.
NOT_STORED = "STORAGE_UNAVAILABLE"

_batch_decoder = msgspec.json.Decoder(PastEventsBody)
_item_decoder = msgspec.json.Decoder(PastEventBody)


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    error: str | None = None
    # For a refused event: its raw JSON, the failure log's reason and the offending field.
    raw: bytes = b""
    reason: str = ""
    field: str | None = None


_ACCEPTED = Outcome(ACCEPTED)


@dataclass(slots=True)
class PastBatch:
    outcomes: list[Outcome]
    accepted: list[NewEvent]


def _occurred(text: str | None, now_us: int, max_age_days: int) -> tuple[str, int]:
    if text is None or not text.strip():
        return DATE_REQUIRED, 0
    moment = parse_iso(text.strip())
    if moment is None:
        return DATE_FORMAT, 0
    occurred = to_us(moment)
    if occurred > now_us:
        return IN_FUTURE, occurred
    if occurred < 0 or (max_age_days and occurred < now_us - max_age_days * 86_400_000_000):
        return TOO_OLD, occurred
    return ACCEPTED, occurred


def _one(
    raw: bytes,
    version: int,
    workspace_id: int,
    now_us: int,
    max_age: int,
    rules: RuleLookup | None,
) -> NewEvent:
    body: PastEventBody = decode(raw, _item_decoder, "event")
    status, occurred = _occurred(body.occurred, now_us, max_age)
    if status != ACCEPTED:
        raise _Refused(status)
    return build_event(
        body,
        raw.decode(),
        version=version,
        workspace_id=workspace_id,
        occurred_us=occurred,
        received_us=now_us,
        source="past",
        rules=rules,
    )


class _Refused(Exception):
    def __init__(self, status: str) -> None:
        self.status = status


def parse_past_events(
    body: bytes,
    *,
    version: int,
    workspace_id: int,
    now_us: int,
    max_age_days: int = 0,
    rules: RuleLookup | None = None,
    max_event_bytes: int = 0,
) -> PastBatch:
    """Per-event outcomes in request order, and the events to store; an event larger than
    ``max_event_bytes`` (when set) is refused, as a live event of that size would be."""
    batch: PastEventsBody = decode(body, _batch_decoder)
    if len(batch.events) > MAX_PAST_EVENTS:
        raise InvalidEvent(
            f"too many events: {len(batch.events)}; at most {MAX_PAST_EVENTS} per request",
            field="events",
        )
    outcomes: list[Outcome] = []
    accepted: list[NewEvent] = []
    for item in batch.events:
        raw = bytes(item)
        if max_event_bytes and len(raw) > max_event_bytes:
            error = f"the event is {len(raw)} bytes; at most {max_event_bytes} per event"
            outcomes.append(Outcome(INVALID, error, raw, "too_large", None))
            continue
        try:
            accepted.append(_one(raw, version, workspace_id, now_us, max_age_days, rules))
        except _Refused as refused:
            outcomes.append(Outcome(refused.status, None, raw, refused.status.lower()))
        except InvalidEvent as exc:
            outcomes.append(Outcome(INVALID, storable(str(exc)), raw, exc.reason, exc.field))
        else:
            outcomes.append(_ACCEPTED)
    return PastBatch(outcomes, accepted)
