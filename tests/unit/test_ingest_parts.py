"""A large request is stored in parts within the commit limits, and its answer says, event by
event, what was stored (with a fake committer; the real one is in the integration tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence

import msgspec
import pytest

from footfall import logs
from footfall.config import Settings
from footfall.eventtypes.growth import Caps, Growth, Take
from footfall.exceptions import StorageUnavailable
from footfall.identity.locators import Locators
from footfall.ingest.past import ACCEPTED, INVALID, NOT_STORED
from footfall.ingest.service import CommitLimits, Ingestion, parts
from footfall.records import NewEvent, NewFailure, NewOrder
from footfall.store.rows import ApiKey

KEY = ApiKey(1, 1, "shop", "events")


def event(names: int = 1, size: int = 10) -> NewEvent:
    shape = tuple((f"p{n}", "string") for n in range(names))
    return NewEvent(1, "t", "k", "[]", "x" * size, "past", 0, 0, Locators(), shape=shape)


class FakeCommitter:
    def __init__(self, fail_from: int | None = None, log_fails: bool = False) -> None:
        self.fail_from = fail_from
        self.log_fails = log_fails
        self.parts: list[tuple[int, bool]] = []
        self.logged: list[tuple[int, bool]] = []

    async def submit(
        self, items: Sequence[NewEvent | NewOrder | NewFailure], alone: bool = False
    ) -> None:
        if isinstance(items[0], NewFailure):
            if self.log_fails:
                raise StorageUnavailable("storage unavailable: test")
            self.logged.append((len(items), alone))
            return
        if self.fail_from is not None and len(self.parts) >= self.fail_from:
            raise StorageUnavailable("storage unavailable: test")
        self.parts.append((len(items), alone))


def test_parts_respect_every_limit_and_never_split_an_item() -> None:
    limits = CommitLimits(events=3, names=10, bytes=100)
    assert list(parts([event() for _ in range(7)], limits)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(parts([event(names=4) for _ in range(5)], limits)) == [[0, 1], [2, 3], [4]]
    assert list(parts([event(size=60) for _ in range(3)], limits)) == [[0], [1], [2]]
    assert list(parts([event(names=50), event()], limits)) == [[0], [1]]  # too big, yet whole
    assert list(parts([], limits)) == []


def past_body(count: int, names: int) -> bytes:
    events = [
        {
            "eventTypeKey": "imported",
            "keyValue": f"k{n}",
            "occurred": "2024-01-01T00:00:00Z",
            "params": [{"name": f"n{n}_{m}", "value": "v"} for m in range(names)],
        }
        for n in range(count)
    ]
    return msgspec.json.encode({"events": events})


class KnownRegistry:
    """A registry that has every type and name already: the growth cap never counts."""

    def existing(
        self, workspace_id: int, types: Collection[str], names: Mapping[str, Collection[str]]
    ) -> tuple[set[str], dict[str, set[str]]]:
        return set(types), {key: set(wanted) for key, wanted in names.items()}

    def claim_growth(self, workspace_id: int, day: int, take: Take) -> None:
        raise AssertionError("nothing is new")


def growth() -> Growth:
    return Growth(KnownRegistry(), Caps(1, 1))


def ingest(committer: FakeCommitter, limits: CommitLimits) -> Ingestion:
    ingestion = Ingestion(Settings(), committer, lambda ws, key: None, logs.get("test"), growth())
    ingestion.limits = limits
    return ingestion


def test_a_large_request_is_committed_in_parts_each_alone() -> None:
    committer = FakeCommitter()
    ingestion = ingest(committer, CommitLimits(names=20))
    result = asyncio.run(ingestion.past_events(KEY, 2, past_body(10, 5)))
    assert [o.status for o in result.outcomes] == [ACCEPTED] * 10
    assert committer.parts == [(4, True), (4, True), (2, True)]
    small = FakeCommitter()
    asyncio.run(ingest(small, CommitLimits()).past_events(KEY, 2, past_body(10, 5)))
    assert small.parts == [(10, False)]  # within the limits: shares a commit as before


def test_storage_lost_midway_marks_exactly_the_events_not_stored() -> None:
    committer = FakeCommitter(fail_from=1)
    ingestion = ingest(committer, CommitLimits(events=3))
    result = asyncio.run(ingestion.past_events(KEY, 2, past_body(7, 1)))
    assert [o.status for o in result.outcomes] == [ACCEPTED] * 3 + [NOT_STORED] * 4
    assert result.accepted == 3 and result.errors == 4
    assert "send this event again" in (result.outcomes[3].error or "")


def test_storage_lost_before_any_part_is_a_storage_error() -> None:
    ingestion = ingest(FakeCommitter(fail_from=0), CommitLimits(events=3))
    with pytest.raises(StorageUnavailable):
        asyncio.run(ingestion.past_events(KEY, 2, past_body(7, 1)))


def test_refusals_the_log_cannot_keep_are_to_be_sent_again() -> None:
    """The valid events were stored, the log then failed: the refused ones are marked not
    stored (never INVALID_EVENT without a log entry, which no client would send again)."""
    body = msgspec.json.decode(past_body(3, 1))
    body["events"][1]["occurred"] = "not a date"
    ingestion = ingest(FakeCommitter(log_fails=True), CommitLimits())
    result = asyncio.run(ingestion.past_events(KEY, 2, msgspec.json.encode(body)))
    assert [o.status for o in result.outcomes] == [ACCEPTED, NOT_STORED, ACCEPTED]
    assert "could not be logged" in (result.outcomes[1].error or "")
    only_refused = {"events": [body["events"][1]]}
    with pytest.raises(StorageUnavailable):
        asyncio.run(ingestion.past_events(KEY, 2, msgspec.json.encode(only_refused)))


def test_many_large_refusals_are_logged_in_parts_each_alone() -> None:
    """A batch of oversized events must not become one huge commit of the failed-event log,
    which other workspaces' live events would wait for."""
    committer = FakeCommitter()
    ingestion = Ingestion(
        Settings(max_body_bytes=2000), committer, lambda ws, key: None, logs.get("test"), growth()
    )
    ingestion.limits = CommitLimits(bytes=10_000)
    result = asyncio.run(ingestion.past_events(KEY, 2, past_body(12, 200)))
    assert [o.status for o in result.outcomes] == [INVALID] * 12
    assert sum(n for n, _ in committer.logged) == 12
    assert len(committer.logged) > 1 and all(alone for _, alone in committer.logged)


def test_a_past_event_larger_than_a_live_one_is_refused_alone() -> None:
    committer = FakeCommitter()
    ingestion = Ingestion(
        Settings(max_body_bytes=2000), committer, lambda ws, key: None, logs.get("test"), growth()
    )
    result = asyncio.run(ingestion.past_events(KEY, 2, past_body(1, 200) + b""))
    assert [o.status for o in result.outcomes] == [INVALID]
    assert "at most 2000 per event" in (result.outcomes[0].error or "")


def test_orders_not_stored_are_listed_as_failed_with_their_document() -> None:
    orders = [
        {
            "externalOrderId": f"o-{n}",
            "totalCost": 10,
            "status": "DELIVERED",
            "date": "2024-01-01T00:00:00Z",
            "currency": "USD",
            "email": f"buyer{n}@example.com",
        }
        for n in range(4)
    ]
    ingestion = ingest(FakeCommitter(fail_from=1), CommitLimits(events=2))
    result = asyncio.run(ingestion.orders(KEY, msgspec.json.encode({"orders": orders})))
    assert result.accepted == 2
    assert [f["order"]["externalOrderId"] for f in result.failed] == ["o-2", "o-3"]
    assert all("send this order again" in f["error"] for f in result.failed)
