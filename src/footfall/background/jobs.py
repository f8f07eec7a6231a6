"""The periodic jobs of a deployment: pruning the failed-event log and the webhook delivery log,
and the date scan of workflows started by a contact date."""

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


class AttemptLog(Protocol):
    """What pruning the webhook delivery log needs of the store (``Store.webhooks``)."""

    def prune_attempts(self, older_than_us: int) -> int: ...


def prune_webhook_attempts(attempts: AttemptLog, retention_days: int) -> Job:
    """Drop webhook delivery attempts older than the retention (FOOTFALL_WEBHOOK_LOG_RETENTION_DAYS)."""

    def run() -> int:
        removed = attempts.prune_attempts(now_us() - retention_days * DAY_US)
        if removed:
            log.info("webhook attempts pruned", action="webhook_attempts.pruned", count=removed)
        return removed

    return Job("prune-webhook-attempts", PRUNE_EVERY_SECONDS, run)


class RunHistory(Protocol):
    """What pruning ended workflow runs needs of the store (``Store.workflow_runs``)."""

    def prune(self, ended_before_us: int, batch: int = ...) -> int: ...


def prune_workflow_runs(runs: RunHistory, retention_days: int) -> Job:
    """Drop workflow runs that ended more than the retention ago, with their paths
    (FOOTFALL_WORKFLOW_RUN_RETENTION_DAYS)."""

    def run() -> int:
        removed = runs.prune(now_us() - retention_days * DAY_US)
        if removed:
            log.info("workflow runs pruned", action="workflow_runs.pruned", count=removed)
        return removed

    return Job("prune-workflow-runs", PRUNE_EVERY_SECONDS, run)


class DateScanner(Protocol):
    """What the date scan job runs (``workflows.date_scan.DateScan``)."""

    def run(self) -> int: ...


def scan_contact_dates(scan: DateScanner, every_seconds: float) -> Job:
    """Create the runs of workflows started by a contact date ahead of their moments."""

    def run() -> int:
        started = scan.run()
        if started:
            log.info(
                "runs started by contact dates", action="workflow.dates_started", count=started
            )
        return started

    return Job("workflow-dates", every_seconds, run, retry_seconds=every_seconds)


def default_jobs(
    failures: FailureLog, attempts: AttemptLog, settings: Settings, runs: RunHistory | None = None
) -> list[Job]:
    jobs = [
        prune_failed_events(failures, settings.failed_events_retention_days),
        prune_webhook_attempts(attempts, settings.webhook_log_retention_days),
    ]
    if runs is not None:
        jobs.append(prune_workflow_runs(runs, settings.workflow_run_retention_days))
    return jobs
