"""The periodic jobs of a deployment. Pruning the failed-event log is the first; the worker
runtime of the next issue adds its own (webhook retries, workflow timers…) here."""

from __future__ import annotations

from typing import Protocol

from footfall import logs
from footfall.background.runner import Job
from footfall.clock import now_us
from footfall.config import Settings

log = logs.get("footfall.background")
PRUNE_EVERY_SECONDS = 3600.0
DAY_US = 86_400_000_000


class FailureLog(Protocol):
    """What pruning needs of the store (``Store.types``)."""

    def prune_failures(self, older_than_us: int) -> int: ...


def prune_failed_events(failures: FailureLog, retention_days: int) -> Job:
    """Drop failed events older than the retention (FOOTFALL_FAILED_EVENTS_RETENTION_DAYS)."""

    def run() -> int:
        removed = failures.prune_failures(now_us() - retention_days * DAY_US)
        if removed:
            log.info("failed events pruned", action="failures.pruned", count=removed)
        return removed

    return Job("prune-failed-events", PRUNE_EVERY_SECONDS, run)


def default_jobs(failures: FailureLog, settings: Settings) -> list[Job]:
    return [prune_failed_events(failures, settings.failed_events_retention_days)]
