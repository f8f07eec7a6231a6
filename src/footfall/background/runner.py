"""Periodic jobs that run once per deployment, whichever processes run a ``Runner``.

Every runner ticks; at each tick it asks, for each job, for the job's lease for one period
(``job:<name>``, store/leases.py). The first process to ask once a period is over gets it and
runs the job; the others find the lease taken and skip. So ten API processes and two workers
prune the failed-event log once an hour, not twelve times. A failed run is tried again after
``retry_seconds``; a process that dies mid-run leaves the lease to expire, so the job runs again
in the next period.

Jobs are plain blocking callables run in a thread, one at a time, so a slow job never holds up
the event loop of an API process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from footfall import logs

log = logs.get("footfall.background")


@dataclass(frozen=True, slots=True)
class Job:
    """``run`` at most once every ``every_seconds`` in the whole deployment."""

    name: str
    every_seconds: float
    run: Callable[[], object]
    retry_seconds: float = 60.0


class JobLeases(Protocol):
    """What a runner needs of the store (store.leases.JobLeases)."""

    def claim_due(self, job: str, owner: str, period_seconds: float) -> bool: ...

    def retry_in(self, job: str, owner: str, seconds: float) -> None: ...


def process_owner() -> str:
    """A name for this runner that no other process, here or on another host, will use."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Runner:
    def __init__(
        self,
        leases: JobLeases,
        jobs: Sequence[Job],
        *,
        tick_seconds: float = 5.0,
        owner: str | None = None,
    ) -> None:
        self.leases = leases
        self.jobs = list(jobs)
        self.tick_seconds = tick_seconds
        self.owner = owner or process_owner()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def tick(self) -> list[str]:
        """Run every job that is due and that no other process took first; their names."""
        ran = []
        for job in self.jobs:
            if self.leases.claim_due(job.name, self.owner, job.every_seconds):
                self._run(job)
                ran.append(job.name)
        return ran

    def _run(self, job: Job) -> None:
        try:
            job.run()
        except Exception:  # a broken job must not stop the others, nor the process
            log.exception("background job failed", action="job.failed", job=job.name)
            self.leases.retry_in(job.name, self.owner, min(job.retry_seconds, job.every_seconds))
        else:
            log.debug("background job ran", action="job.ran", job=job.name)

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.get_running_loop().create_task(self._loop())
        log.info("background runner started", action="runner.started", owner=self.owner)

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await asyncio.to_thread(self.tick)
            except Exception as exc:  # storage down: try again at the next tick
                log.warning("background tick failed", action="runner.tick_failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.tick_seconds)

    async def stop(self) -> None:
        """Let a job that is running finish, then stop ticking."""
        self._stopping.set()
        if self._task is not None:
            await self._task
            self._task = None
        log.info("background runner stopped", action="runner.stopped", owner=self.owner)
