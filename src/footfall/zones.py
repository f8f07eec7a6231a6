"""Time zones by name, as contacts and workspaces give them: loaded safely (no path, no
directory, a bounded cache), falling back from the contact's to the workspace's to UTC. Pure."""

from __future__ import annotations

import re
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["MAX_ZONE_NAME", "load_zone", "zone_for"]

MAX_ZONE_NAME = 64
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+)*")  # no dots, so no "../"
_UTC_ZONE = ZoneInfo("UTC")


def zone_for(contact_zone: str | None, workspace_zone: str, use: str = "contact") -> ZoneInfo:
    """The contact's zone when ``use`` is "contact" and it is valid, else the workspace's, else
    UTC."""
    if use == "contact":
        zone = load_zone(contact_zone)
        if zone is not None:
            return zone
    return load_zone(workspace_zone) or _UTC_ZONE


def load_zone(name: object) -> ZoneInfo | None:
    """The zone named ``name``; None when it is no zone's name."""
    if not isinstance(name, str) or len(name) > MAX_ZONE_NAME or not _ZONE_NAME.fullmatch(name):
        return None
    return _cached_zone(name)


@lru_cache(maxsize=512)
def _cached_zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory such as "America"
        return None
