"""When a failing delivery is tried again, and when it is given up."""

from __future__ import annotations

from collections.abc import Sequence


def retry_delay(failures: int, schedule: Sequence[float]) -> float:
    """Seconds to wait after the ``failures``-th failure in a row (1-based): the schedule's
    entry, its last one repeating (1, 2, 4, 8 minutes, then hourly by default)."""
    return schedule[min(failures, len(schedule)) - 1]


def next_retry_us(
    failures: int, failing_since_us: int, now_us: int, schedule: Sequence[float], max_age: float
) -> int | None:
    """When to try again after ``failures`` failures in a row, the first at ``failing_since_us``;
    None once the next try would come later than ``max_age`` seconds after the first failure."""
    at = now_us + int(retry_delay(failures, schedule) * 1_000_000)
    if at - failing_since_us > int(max_age * 1_000_000):
        return None
    return at
