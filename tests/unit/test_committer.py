"""Group commit with an in-memory fake store (the real stores are covered by integration tests)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from footfall.exceptions import StorageUnavailable
from footfall.ingest.committer import GroupCommitter, Write
from footfall.records import IdentityChanges, NewFailure


def item(label: object) -> NewFailure:
    """A record to commit, named by its error text."""
    return NewFailure(1, "t", None, "r", "x", None, str(label), "", 0, 0)


class FakeStore:
    """Group commit off the event loop: only ``commit_batch`` is called."""

    write_on_loop = False

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.batches: list[list[str]] = []
        self.down = False
        self.lock = threading.Lock()

    def commit_batch(self, items: Sequence[Write]) -> IdentityChanges:
        time.sleep(self.delay)
        if self.down:
            raise StorageUnavailable("storage unavailable: test")
        labels = [i.error for i in items if isinstance(i, NewFailure)]
        if "poison" in labels:
            raise ValueError("the database refuses this row")
        with self.lock:
            self.batches.append(labels)
        return IdentityChanges()

    def try_begin(self) -> bool:
        raise AssertionError("not used off the loop")

    def begin(self) -> None:
        raise AssertionError("not used off the loop")

    def write_batch(self, items: Sequence[Write]) -> IdentityChanges:
        raise AssertionError("not used off the loop")

    def commit(self) -> None:
        raise AssertionError("not used off the loop")

    def rollback(self) -> None:
        raise AssertionError("not used off the loop")


async def _run(store: FakeStore, submissions: list[list[Write]]) -> list[BaseException | None]:
    committer = GroupCommitter(store, max_events=3)
    await committer.start()
    try:
        results = await asyncio.gather(
            *(committer.submit(items) for items in submissions), return_exceptions=True
        )
    finally:
        await committer.stop()
    return [r if isinstance(r, BaseException) else None for r in results]


def test_waiting_requests_share_a_commit_up_to_the_batch_limit() -> None:
    store = FakeStore(delay=0.02)
    results = asyncio.run(_run(store, [[item(i)] for i in range(7)]))
    assert results == [None] * 7
    assert sorted(x for batch in store.batches for x in batch) == [str(i) for i in range(7)]
    assert all(len(batch) <= 3 for batch in store.batches)
    assert len(store.batches) < 7  # requests shared commits


def test_a_refused_request_does_not_fail_its_neighbours() -> None:
    store = FakeStore(delay=0.01)
    results = asyncio.run(_run(store, [[item("a")], [item("poison")], [item("b")]]))
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], ValueError)
    assert sorted(x for batch in store.batches for x in batch) == ["a", "b"]


def test_storage_down_fails_every_waiting_request_with_storage_unavailable() -> None:
    store = FakeStore()
    store.down = True
    results = asyncio.run(_run(store, [[item("a")], [item("b")]]))
    assert all(isinstance(r, StorageUnavailable) for r in results)
    assert store.batches == []


def test_stop_waits_for_the_batch_in_flight() -> None:
    store = FakeStore(delay=0.05)

    async def scenario() -> None:
        committer = GroupCommitter(store, max_events=10)
        await committer.start()
        pending = asyncio.ensure_future(committer.submit([item("x")]))
        await asyncio.sleep(0.01)  # the batch is now being committed
        await committer.stop()
        assert store.batches == [["x"]]  # committed before stop returned
        await asyncio.wait_for(pending, 1)  # its submitter resumes at the loop's next turn

    asyncio.run(scenario())
    assert store.batches == [["x"]]


@pytest.mark.parametrize("count", [1, 5])
def test_every_submission_is_settled(count: int) -> None:
    store = FakeStore()
    assert asyncio.run(_run(store, [[item("e")]] * count)) == [None] * count


def test_a_part_of_a_large_request_is_committed_alone() -> None:
    store = FakeStore(delay=0.02)

    async def scenario() -> None:
        committer = GroupCommitter(store, max_events=100)
        await committer.start()
        try:
            first = asyncio.ensure_future(committer.submit([item("warm-up")]))
            await asyncio.sleep(0.005)  # in flight: the rest queue up behind it
            await asyncio.gather(
                first,
                committer.submit([item("a")]),
                committer.submit([item("big-1"), item("big-2")], alone=True),
                committer.submit([item("b")]),
                committer.submit([item("c")]),
                committer.submit([item("big-3")], alone=True),
            )
        finally:
            await committer.stop()

    asyncio.run(scenario())
    assert store.batches == [
        ["warm-up"],
        ["a"],
        ["big-1", "big-2"],
        ["b", "c"],
        ["big-3"],
    ]
