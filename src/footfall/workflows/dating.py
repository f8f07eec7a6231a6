"""Workflows started by a contact date (a birthday): the rules of the date scan, pure.

The scan keeps, per workflow, a window of moments it has started runs for: every moment up to
``until`` has its run, created ahead of time and due at the moment. A pass over the workspace's
contacts moves ``until`` on to ``lookahead`` ahead of now, once the covered window ends less
than ``lookahead - refresh`` ahead; between passes, contacts changed since the last look are
read again (a new date inside the window starts at once, a date moved away stops the run
waiting for the old one). So a workspace's contacts are read once per ``refresh``, not every
minute.

A contact starts at most once per *occasion*: the anniversary a moment is for, in the contact's
calendar (``daysBefore`` days after the moment's local day), whichever version, time zone or
scan found it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from footfall.ingest.dates import moment_of, to_us
from footfall.workflows.document import ContactDate
from footfall.workflows.timing import contact_date_due

__all__ = ["DatePolicy", "Occasion", "covered_until", "next_occasion", "pass_due", "spec_of"]


@dataclass(frozen=True, slots=True)
class DatePolicy:
    """How the date scan runs (seconds); tests and benchmarks pass their own."""

    every: float = 60.0  # the scan runs once a minute in the deployment
    lookahead: float = 86_400.0  # runs are created up to a day ahead of their moment
    refresh: float = 6 * 3600.0  # a pass over every contact at most every 6 hours
    page: int = 1000  # contacts read per transaction
    budget: float = 20.0  # the longest a scan goes on (it goes on at the next one)
    settle: float = 30.0  # a contact change is read once this old (commits lag the clock)
    late: float = 3600.0  # moments missed by up to this much (the scan was down) start late

    def us(self, seconds: float) -> int:
        return int(seconds * 1_000_000)


@dataclass(frozen=True, slots=True)
class Occasion:
    """A contact's next start: when (µs) and for which anniversary (YYYY-MM-DD)."""

    due_us: int
    day: str


def spec_of(start: ContactDate) -> str:
    """What a window is computed for: another field, daysBefore or time starts it again."""
    return msgspec.json.encode(start).decode()


def next_occasion(start: ContactDate, value: Any, zone: ZoneInfo, after_us: int) -> Occasion | None:
    """The first start strictly after ``after_us`` for a contact whose field holds ``value``
    (None when it holds no date)."""
    after = moment_of(after_us)
    due = contact_date_due(start, value, zone, after)
    if due is None:
        return None
    day = due.astimezone(zone).date() + timedelta(days=start.days_before)
    return Occasion(to_us(due), day.isoformat())


def pass_due(until_us: int, now: int, policy: DatePolicy) -> bool:
    """Whether a new pass over the contacts begins: the window ends less than
    ``lookahead - refresh`` ahead of now."""
    return now + policy.us(policy.lookahead) - until_us >= policy.us(policy.refresh)


def covered_until(contact_id: int, until_us: int, pass_until: int | None, pass_after: int) -> int:
    """Up to when a contact's moments have their runs: a pass in progress has taken the
    contacts up to ``pass_after`` on to ``pass_until``."""
    if pass_until is not None and contact_id <= pass_after:
        return pass_until
    return until_us
