"""``footfall worker``: a process that runs only the worker runtime, until SIGTERM or SIGINT.

Deployments that keep background work off the API processes run ``footfall serve --no-worker``
and one or more of these; leases keep each job to one run per period, each feed consumer to one
owner and each delivery to one worker, however many run.
"""

from __future__ import annotations

import asyncio
import signal

from footfall import logs
from footfall.background.runtime import Runtime
from footfall.config import Settings
from footfall.store import Store, open_store

log = logs.get("footfall.background")


async def run_until_signalled(runtime: Runtime) -> None:
    """Run ``runtime`` until SIGTERM or SIGINT, then finish or give back the work in flight."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await runtime.start()
    log.info("worker started", action="worker.started", owner=runtime.owner)
    try:
        await stop.wait()
    finally:
        await runtime.stop()
        log.info("worker stopped", action="worker.stopped", owner=runtime.owner)


def run_worker(settings: Settings, tick_seconds: float = 5.0) -> None:
    """The body of ``footfall worker`` (the database is migrated already)."""
    store: Store = open_store(settings)
    try:
        runtime = Runtime(store, settings)
        runtime.runner.tick_seconds = tick_seconds
        asyncio.run(run_until_signalled(runtime))
    finally:
        store.close()
