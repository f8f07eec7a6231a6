"""When things are due in a workflow run: timers, allowed hours and contact-date starts.

Pure functions: the caller passes the moments (``reached``, ``after``) and the zone; nothing reads
a clock. Every datetime taken must be timezone-aware (ValueError otherwise); every one returned is
in UTC. Local time is ``zoneinfo``'s, never computed by hand.

The rules:

- Zones: the contact's IANA zone when the timer says ``contact`` and the name is valid, else the
  workspace's, else UTC. Names come from clients, so a bad one falls back and never raises.
- Delays: ``s``, ``m`` and ``h`` are exact elapsed time (``24h`` is always 86,400 seconds);
  ``d``, ``w`` and ``mo`` move the local calendar and keep the wall-clock time, so ``1d`` after
  09:00 is 09:00 the next day across a DST change (23 or 25 hours). A month after 31 January is
  the last day of February.
- Local times: one in a spring-forward gap moves forward to the instant the gap ends (02:30 on a
  day New York skips from 02:00 to 03:00 is 03:00 EDT); an ambiguous one (a fall-back overlap) is
  its first occurrence. ``until`` and allowed hours want the first moment *at or after* a point at
  which the clock shows a time, so when the first occurrence is already past, the second counts.
- ``until``: the first moment at or after the end of the delay whose local time is ``time``, on
  one of ``weekdays`` (every day when absent).
- ``untilParam`` (a path into the starting event's params) and ``untilContact`` (a contact
  field: the exact key when the contact has it, else read as a path such as ``dates.renewal``)
  read the first value reached, less ``offset`` (``d``, ``w``, ``mo`` in local calendar time, like
  delays). The value is an ISO 8601 string (``parse_iso``'s forms): a date alone is 00:00 local,
  a date and time without an offset is local, one with an offset (or ``Z``) is that instant; a
  date with an offset but no time is refused as ambiguous. A JSON number is seconds since the
  Unix epoch (1970 to 9999; milliseconds fall outside and are refused); a numeric string is not a
  date. A missing, null or unreadable value, or a date already past when the delay ends, makes
  the timer fire when the delay ends (at once without one), with a ``note`` saying why.
- Allowed hours: ``[from, to)`` in local time; ``to`` before ``from`` spans midnight.
- Contact dates (birthdays): ``YYYY-MM-DD``, ``MM-DD``, ``--MM-DD`` or a full ISO 8601 datetime,
  whose calendar date is taken as written (its time and offset are ignored: a birthday stored as
  midnight UTC stays on its day everywhere). Only month and day count; 29 February falls on 28
  February in other years.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from footfall.exceptions import InvalidWorkflow
from footfall.ingest.dates import EARLIEST, LATEST, parse_iso
from footfall.workflows.definitions import WEEKDAYS
from footfall.workflows.document import ContactDate, Hours, Timer, Until
from footfall.workflows.durations import Duration, parse_duration, parse_time_of_day
from footfall.workflows.paths import parse_path

__all__ = [
    "Due",
    "contact_date_due",
    "next_allowed",
    "timer_due",
    "weekday_index",
]

EXACT_UNITS = frozenset({"s", "m", "h"})  # elapsed time; the others move the local calendar
MAX_DATE_TEXT = 64  # longer strings are not dates (and stay out of parse_iso's cache)
_MONTH_DAY = re.compile(r"(?:--)?(\d{2})-(\d{2})")


@dataclass(frozen=True, slots=True)
class Due:
    """When a timer fires; ``note`` says why it fires at once or otherwise than planned."""

    at: datetime
    note: str | None = None


def weekday_index(name: str) -> int:
    """0 for "mon" … 6 for "sun"."""
    try:
        return WEEKDAYS.index(name)
    except ValueError:
        raise ValueError(f"{name!r} is not one of {', '.join(WEEKDAYS)}") from None


def timer_due(
    timer: Timer, reached: datetime, *, params: Any, contact: Mapping[str, Any], zone: ZoneInfo
) -> Due:
    """When a run that reached ``timer`` at ``reached`` goes on. The timer comes from a checked
    document (a malformed field raises InvalidWorkflow); the data it reads may be anything."""
    point = _aware(reached, "reached").astimezone(UTC)
    if timer.delay is not None:
        point = _shift(point, parse_duration(timer.delay, "delay"), zone)
    if timer.until is not None:
        return Due(_next_time_of_day(point, timer.until, zone))
    if timer.until_param is not None:
        values = parse_path(timer.until_param, "untilParam").values(params)
        return _due_on_date(timer, point, f"untilParam {timer.until_param}", values, zone)
    if timer.until_contact is not None:
        values = _contact_values(contact, timer.until_contact)
        return _due_on_date(timer, point, f"untilContact {timer.until_contact}", values, zone)
    return Due(point)


def next_allowed(moment: datetime, window: Hours | None, zone: ZoneInfo) -> datetime:
    """``moment`` when it falls in the daily ``window`` (or there is none), else the start of
    the next window."""
    moment = _aware(moment, "moment").astimezone(UTC)
    if window is None:
        return moment
    start = parse_time_of_day(window.from_, "from")
    end = parse_time_of_day(window.to, "to")
    clock = _wall(moment, zone).time()
    inside = start <= clock < end if start < end else clock >= start or clock < end
    if inside:
        return moment
    today = _wall(moment, zone).date()
    return _first_at_or_after(moment, _days_from(today, 3), start, zone)


def contact_date_due(
    start: ContactDate, value: Any, zone: ZoneInfo, after: datetime
) -> datetime | None:
    """The first moment strictly after ``after`` that is ``daysBefore`` days before an
    anniversary of the date ``value`` holds, at ``at`` local time; None when it holds no date."""
    month_day = _month_day(value)
    if month_day is None:
        return None
    after = _aware(after, "after").astimezone(UTC)
    at = parse_time_of_day(start.at, "at")
    first_year = max(_wall(after, zone).year - 1, MINYEAR + 2)  # daysBefore may go a year back
    for year in range(first_year, min(first_year + 5, MAXYEAR)):
        day = _anniversary(year, *month_day) - timedelta(days=start.days_before)
        for instant in _instants(day, at, zone):
            if instant > after:
                return instant
    return None  # only at the ends of the calendar


def _aware(moment: datetime, name: str) -> datetime:
    if moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {moment!r}")
    return moment


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    """What a clock in ``zone`` shows at ``moment`` (naive)."""
    return moment.astimezone(zone).replace(tzinfo=None)


def _shift(moment: datetime, duration: Duration, zone: ZoneInfo) -> datetime:
    """``moment`` plus ``duration`` (a negative amount goes back): exact for s/m/h, on the local
    calendar for d/w/mo."""
    if duration.unit in EXACT_UNITS:
        return duration.after(moment.astimezone(UTC))  # in UTC: aware arithmetic is wall-clock
    return _local_instant(duration.after(_wall(moment, zone)), zone)


def _local_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The instant a naive local time means: its first occurrence, or the end of its gap."""
    return _instants(wall.date(), wall.time(), zone)[0]


def _instants(day: date, clock: time, zone: ZoneInfo) -> tuple[datetime, ...]:
    """The UTC instants at which ``zone``'s clock shows ``clock`` on ``day``: one; two in a
    fall-back overlap (earlier first); in a spring-forward gap, the instant the gap ends."""
    wall = datetime.combine(day, clock)
    first = wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the offset before a change
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if _wall(first, zone) != wall:
        return (_gap_end(second, first, zone),)
    return (first,) if first == second else (first, second)


def _gap_end(before: datetime, after: datetime, zone: ZoneInfo) -> datetime:
    """The first second with ``after``'s offset, ``before`` having the previous one (a bisection:
    zoneinfo does not list its transitions)."""
    offset = after.astimezone(zone).utcoffset()
    low, high = int(before.timestamp()), int(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _days_from(first: date, count: int) -> Iterator[date]:
    return (first + timedelta(days=offset) for offset in range(count))


def _first_at_or_after(
    point: datetime, days: Iterable[date], clock: time, zone: ZoneInfo
) -> datetime:
    for day in days:
        for instant in _instants(day, clock, zone):
            if instant >= point:
                return instant
    raise AssertionError("no day given has the time after the point")  # callers give enough


def _next_time_of_day(point: datetime, until: Until, zone: ZoneInfo) -> datetime:
    allowed = {weekday_index(name) for name in until.weekdays or WEEKDAYS}
    days = _days_from(_wall(point, zone).date(), 8)  # today, and a week on for today's weekday
    chosen = (day for day in days if day.weekday() in allowed)
    return _first_at_or_after(point, chosen, parse_time_of_day(until.time, "time"), zone)


def _contact_values(contact: Mapping[str, Any], name: str) -> list[Any]:
    if name in contact:
        return [contact[name]]
    try:
        return parse_path(name, "untilContact").values(contact)
    except InvalidWorkflow:  # a field name that is no path: the contact lacks it
        return []


def _due_on_date(
    timer: Timer, point: datetime, source: str, values: list[Any], zone: ZoneInfo
) -> Due:
    fired = "the timer fired at once" if timer.delay is None else "the timer fired after its delay"
    if not values or values[0] is None:
        return Due(point, f"{source} is missing: {fired}")
    target = _date_value(values[0], zone)
    if target is None:
        return Due(point, f"{source} is not a date ({_shown(values[0])}): {fired}")
    if timer.offset is not None:
        target = _before(target, parse_duration(timer.offset, "offset"), zone)
    if target is None or target < point:
        less = f" less {timer.offset}" if timer.offset else ""
        return Due(point, f"{source} ({_shown(values[0])}){less} was already past: {fired}")
    return Due(target)


def _before(moment: datetime, offset: Duration, zone: ZoneInfo) -> datetime | None:
    """``offset`` before ``moment``; None before year 1."""
    try:
        return _shift(moment, Duration(-offset.amount, offset.unit), zone)
    except (ValueError, OverflowError):
        return None


def _date_value(value: Any, zone: ZoneInfo) -> datetime | None:
    """The instant a parameter or field value names, or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if not EARLIEST.timestamp() <= value <= LATEST.timestamp():  # NaN fails too
            return None
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str) or len(value) > MAX_DATE_TEXT:
        return None
    return _iso_value(value.strip(), zone)


def _iso_value(text: str, zone: ZoneInfo) -> datetime | None:
    moment = parse_iso(text)
    if moment is None:
        return None
    rest = text[10:]  # parse_iso's forms start with YYYY-MM-DD
    has_offset = any(sign in rest for sign in "Z+-")
    if has_offset and rest[:1] not in ("T", " "):
        return None  # a date with an offset and no time
    if has_offset:
        return moment.astimezone(UTC)
    try:
        return _local_instant(moment.replace(tzinfo=None), zone)
    except OverflowError:  # the last hours of year 9999 in a zone west of UTC
        return None


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return repr(value[:40] + ("…" if len(value) > 40 else ""))
    if isinstance(value, int | float):
        return repr(value)
    return f"a {type(value).__name__}"


def _month_day(value: Any) -> tuple[int, int] | None:
    if isinstance(value, date):  # a datetime too
        return value.month, value.day
    if not isinstance(value, str) or len(value) > MAX_DATE_TEXT:
        return None
    text = value.strip()
    match = _MONTH_DAY.fullmatch(text)
    if match is not None:
        month, day = int(match.group(1)), int(match.group(2))
        valid = 1 <= month <= 12 and 1 <= day <= calendar.monthrange(2000, month)[1]
        return (month, day) if valid else None
    moment = parse_iso(text)
    return None if moment is None else (moment.month, moment.day)


def _anniversary(year: int, month: int, day: int) -> date:
    """``month``-``day`` in ``year``; 29 February is 28 February in other years."""
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))
