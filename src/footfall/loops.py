"""A background loop: a task that takes a step, then sleeps until it is woken or its idle time
passes, until it is stopped. Feed consumers and deliveries are such loops."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod

from footfall import logs

log = logs.get("footfall.background")


class WakeLoop(ABC):
    """Subclasses say what a ``step`` is and how long to sleep after one (``idle_seconds``);
    ``after_wake`` runs when a wake, not the idle time, ended the sleep."""

    failed_action = "loop.failed"  # the log's action when a step raises (storage down...)

    def __init__(self, name: str) -> None:
        self.name = name
        self.wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop_of: asyncio.AbstractEventLoop | None = None

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @abstractmethod
    async def step(self) -> None: ...

    @abstractmethod
    def idle_seconds(self) -> float: ...

    async def after_wake(self) -> None:  # noqa: B027 (a hook, empty here)
        """Nothing by default."""

    def nudge(self) -> None:
        """Take the next step now; callable from any thread."""
        if self._loop_of is not None:
            self._loop_of.call_soon_threadsafe(self.wake.set)

    async def start(self) -> None:
        self._stopping.clear()
        self._loop_of = asyncio.get_running_loop()
        self._task = self._loop_of.create_task(self._run())

    async def _run(self) -> None:
        while not self._stopping.is_set():
            self.wake.clear()
            try:
                await self.step()
            except Exception as exc:  # try again after the idle time
                log.warning(
                    "background step failed",
                    action=self.failed_action,
                    loop=self.name,
                    error=str(exc),
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.idle_seconds())
                await self.after_wake()

    async def halt(self) -> None:
        """Let the step in hand finish, then end the loop."""
        self._stopping.set()
        self.wake.set()
        if self._task is not None:
            await self._task
            self._task = None
