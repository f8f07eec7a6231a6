"""``footfall worker``: a process that runs only the background runner, until SIGTERM or SIGINT.

Deployments that keep background work off the API processes run ``footfall serve --no-worker``
and one or more of these; leases keep each job to one run per period either way.
"""

from __future__ import annotations

import asyncio
import signal

from footfall import logs
from footfall.background.jobs import default_jobs
from footfall.background.runner import Runner
from footfall.config import Settings
from footfall.store import open_store
from footfall.store.leases import JobLeases

log = logs.get("footfall.background")


async def run_until_signalled(runner: Runner) -> None:
    """Run ``runner`` until SIGTERM or SIGINT, then let the job in progress finish."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await runner.start()
    try:
        await stop.wait()
    finally:
        await runner.stop()


def run_worker(settings: Settings, tick_seconds: float = 5.0) -> None:
    """The body of ``footfall worker`` (the database is migrated already)."""
    store = open_store(settings)
    try:
        runner = Runner(
            JobLeases(store), default_jobs(store.types, settings), tick_seconds=tick_seconds
        )
        asyncio.run(run_until_signalled(runner))
    finally:
        store.close()
