"""Group commit: requests that arrive while a transaction is being made durable share the next one.

Each request waits for the commit that holds its events, so a 2xx is only sent for durable data,
while one fsync is paid for hundreds of events. One batch is in flight per process at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from footfall import logs
from footfall.exceptions import StorageUnavailable
from footfall.records import IdentityChanges, NewEvent, NewFailure, NewOrder

log = logs.get("footfall.commit")
Write = NewEvent | NewOrder | NewFailure


class BatchWriter(Protocol):
    """What group commit needs of the store (``Store.events``)."""

    write_on_loop: bool  # the Python side of a batch may run on the event loop thread

    def commit_batch(self, items: Sequence[Write]) -> IdentityChanges: ...
    def try_begin(self) -> bool: ...
    def begin(self) -> None: ...
    def write_batch(self, items: Sequence[Write]) -> IdentityChanges: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


@dataclass(slots=True)
class Submission:
    items: Sequence[Write]
    future: asyncio.Future[None]
    alone: bool  # a heavy part of a large request: committed on its own, never with others


class GroupCommitter:
    def __init__(self, store: BatchWriter, max_events: int = 2000) -> None:
        self._store = store
        self._max_events = max_events
        self._pending: list[Submission] = []
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="footfall-commit")
        self._task: asyncio.Task[None] | None = None
        self.on_commit: Callable[[IdentityChanges], None] = lambda changes: None
        self._committing = False

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Finish what was submitted, then stop."""
        while self._pending or self._committing:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
        self._executor.shutdown(wait=True)

    async def submit(self, items: Sequence[Write], alone: bool = False) -> None:
        """Return once ``items`` are durably committed; raise StorageUnavailable otherwise.

        ``alone`` items get a commit of their own, so that the requests waiting beside a large
        one never wait for its work as well as theirs."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(Submission(items, future, alone))
        self._wake.set()
        await future

    def _take(self) -> list[Submission]:
        """The oldest submissions, up to max_events in all (always at least one); one that must
        be alone is taken only by itself."""
        count = cut = 0
        while cut < len(self._pending):
            submission = self._pending[cut]
            if cut and (submission.alone or count + len(submission.items) > self._max_events):
                break
            count += len(submission.items)
            cut += 1
            if submission.alone:
                break
        taken = self._pending[:cut]
        del self._pending[:cut]
        return taken

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                self._committing = True
                batch = self._take()
                items = [item for submission in batch for item in submission.items]
                try:
                    changes = await self._commit(items)
                except StorageUnavailable as exc:
                    _settle(batch, exc)
                except Exception:
                    log.exception(
                        "batch failed; retrying its requests one by one", action="commit.split"
                    )
                    await self._one_by_one(batch)
                else:
                    self.on_commit(changes)
                    _settle(batch, None)
                finally:
                    self._committing = False

    async def _commit(self, items: Sequence[Write]) -> IdentityChanges:
        loop = asyncio.get_running_loop()
        store = self._store
        if not store.write_on_loop:
            return await loop.run_in_executor(self._executor, store.commit_batch, items)
        if not store.try_begin():
            await loop.run_in_executor(self._executor, store.begin)
        try:
            changes = store.write_batch(items)
        except BaseException:
            await loop.run_in_executor(self._executor, store.rollback)
            raise
        await loop.run_in_executor(self._executor, store.commit)
        return changes

    async def _one_by_one(self, batch: list[Submission]) -> None:
        """Isolate a request whose data the database refuses so it cannot fail its neighbours."""
        for submission in batch:
            try:
                changes = await self._commit(submission.items)
            except Exception as exc:
                _settle([submission], exc)
            else:
                self.on_commit(changes)
                _settle([submission], None)


def _settle(batch: list[Submission], error: BaseException | None) -> None:
    for submission in batch:
        future = submission.future
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
