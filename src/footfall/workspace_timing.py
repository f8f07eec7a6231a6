"""The checks of a workspace's settings for workflows, before the store keeps them: a time zone
the engine can load, and a window of allowed hours as workflow blocks write theirs.

Pure functions, shared by the API and the command line: each refusal is an InvalidQuery naming
the field (``timeZone``, ``allowedHours.from``… or the command's option).
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import available_timezones

from footfall.exceptions import InvalidQuery, InvalidWorkflow
from footfall.workflows.durations import parse_time_of_day
from footfall.zones import MAX_ZONE_NAME, zone_for

__all__ = ["check_allowed_hours", "check_time_zone", "parse_hours_range"]

_EXAMPLES = '"Europe/Kyiv", "America/New_York" or "UTC"'
_LOCAL = frozenset({"local", "localtime"})
_NOT_ZONES = frozenset({"localtime", "posixrules"})  # files beside the zones, not zones


def check_time_zone(name: str, field: str = "timeZone") -> str:
    """``name`` when it is an IANA time zone the engine loads as itself, else InvalidQuery."""
    if not name.strip():
        raise InvalidQuery(f"{field} must be an IANA time zone such as {_EXAMPLES}", field=field)
    if len(name) > MAX_ZONE_NAME:
        raise InvalidQuery(
            f"{field} must be at most {MAX_ZONE_NAME} characters, got {len(name)}", field=field
        )
    if name.lower() in _LOCAL:
        raise InvalidQuery(
            f"{field} must name a zone such as {_EXAMPLES}, not the server's local time",
            field=field,
        )
    if name.startswith("/") or "\\" in name or "." in name:
        raise InvalidQuery(
            f"{field} must be an IANA time zone name such as {_EXAMPLES}, not a path", field=field
        )
    if name not in _known_zones() or zone_for(name, "UTC").key != name:
        raise InvalidQuery(
            f"{field}: {name!r} is not an IANA time zone (such as {_EXAMPLES})", field=field
        )
    return name


def check_allowed_hours(start: str, end: str, field: str = "allowedHours") -> tuple[str, str]:
    """The window from ``start`` to ``end`` ("HH:MM" each; ``end`` before ``start`` spans
    midnight), else InvalidQuery naming ``field.from`` or ``field.to``."""
    for value, part in ((start, "from"), (end, "to")):
        try:
            parse_time_of_day(value, part)
        except InvalidWorkflow:
            raise InvalidQuery(
                f'{field}.{part} must be a time of day "HH:MM" (00:00 to 23:59), got {value!r:.40}',
                field=f"{field}.{part}",
            ) from None
    if start == end:
        raise InvalidQuery(
            f"{field}: from and to must differ (to allow any time, clear the window)", field=field
        )
    return start, end


def parse_hours_range(text: str, field: str = "--allowed-hours") -> tuple[str, str]:
    """A window written "HH:MM-HH:MM" (``09:00-21:00``), checked."""
    start, dash, end = text.partition("-")
    if not dash:
        raise InvalidQuery(f'{field} must be "HH:MM-HH:MM", e.g. "09:00-21:00"', field=field)
    return check_allowed_hours(start.strip(), end.strip(), field)


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    """The zones of the system's and the ``tzdata`` package's databases (read once)."""
    return frozenset(available_timezones()) - _NOT_ZONES
