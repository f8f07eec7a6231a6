"""Durations and times of day as workflow documents write them: ``"30m"``, ``"3h"``, ``"1mo"``,
``"09:30"``. Months are calendar months (a month after 31 January is the last day of February);
every other unit is a fixed number of seconds.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from footfall.exceptions import InvalidWorkflow

__all__ = ["Duration", "parse_duration", "parse_time_of_day"]

SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
UNITS = "s (seconds), m (minutes), h (hours), d (days), w (weeks), mo (months)"
MAX_MONTHS = 120  # ten years: the longest wait or repeat period a document may set
_DURATION = re.compile(r"(\d{1,6})(mo|s|m|h|d|w)")
_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True, slots=True)
class Duration:
    """``amount`` of ``unit`` (one of SECONDS' keys, or "mo")."""

    amount: int
    unit: str

    def after(self, moment: datetime) -> datetime:
        """The moment this long after ``moment`` (calendar months for "mo")."""
        if self.unit != "mo":
            return moment + timedelta(seconds=self.amount * SECONDS[self.unit])
        months = moment.month - 1 + self.amount
        year, month = moment.year + months // 12, months % 12 + 1
        day = min(moment.day, calendar.monthrange(year, month)[1])
        return moment.replace(year=year, month=month, day=day)

    def before(self, moment: datetime) -> datetime:
        """The moment this long before ``moment`` (calendar months for "mo")."""
        return Duration(-self.amount, self.unit).after(moment)

    @property
    def approximate_seconds(self) -> int:
        """For bounds and ordering only: a month counted as 31 days."""
        return self.amount * (31 * 86_400 if self.unit == "mo" else SECONDS[self.unit])

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


def parse_duration(
    value: object, field: str, *, least_seconds: int = 1, most_seconds: int | None = None
) -> Duration:
    """A duration such as "90s", "30m", "3h", "7d", "2w", "1mo"; InvalidWorkflow at ``field``."""
    match = _DURATION.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidWorkflow(
            f'{field} must be a duration: a whole number and a unit, e.g. "30m" or "7d"; '
            f"units: {UNITS}",
            field=field,
        )
    duration = Duration(int(match.group(1)), match.group(2))
    longest = most_seconds if most_seconds is not None else MAX_MONTHS * 31 * 86_400
    if not least_seconds <= duration.approximate_seconds <= longest:
        raise InvalidWorkflow(
            f"{field} must be from {_spoken(least_seconds)} to {_spoken(longest)}; "
            f"{value!r} is not",
            field=field,
        )
    return duration


def parse_time_of_day(value: object, field: str) -> time:
    """A time of day "HH:MM" (24-hour clock)."""
    match = _TIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise InvalidWorkflow(f'{field} must be a time of day "HH:MM", e.g. "09:30"', field=field)
    return time(int(match.group(1)), int(match.group(2)))


def _spoken(seconds: int) -> str:
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"
