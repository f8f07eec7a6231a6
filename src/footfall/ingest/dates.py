"""The date forms the eSputnik API accepts."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

ISO_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?"
)


@lru_cache(maxsize=8192)  # imports repeat the same minutes many times
def parse_iso(text: str) -> datetime | None:
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:mm`` (seconds, fraction and offset allowed); UTC when naive."""
    if not ISO_DATE.fullmatch(text):
        return None
    head, sep, fraction = text.partition(".")
    if sep:  # Python wants at most 6 fractional digits; keep the offset after them
        digits = re.match(r"\d+", fraction)
        assert digits is not None
        text = f"{head}.{digits.group()[:6].ljust(6, '0')}{fraction[digits.end() :]}"
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        moment.astimezone(UTC)  # years 1 and 9999 with an offset fall outside what UTC can hold
    except (ValueError, OverflowError):
        return None
    return moment


def to_us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def moment_of(us: int) -> datetime:
    """The inverse of ``to_us``: microseconds since the epoch as an aware datetime in UTC."""
    return datetime.fromtimestamp(us / 1_000_000, UTC)


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def from_us(us: int) -> str:
    """ISO 8601 in UTC with millisecond precision (truncated), e.g. ``2024-01-02T03:04:05.678Z``."""
    seconds, micros = divmod(us, 1_000_000)
    return f"{_whole_second(seconds)}.{micros // 1000:03d}Z"


@lru_cache(maxsize=4096)  # a page of events or a delivery's items share their seconds
def _whole_second(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
