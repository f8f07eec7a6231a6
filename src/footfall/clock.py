"""The one wall clock: integer microseconds since the Unix epoch (UTC), as every table stores time."""

from __future__ import annotations

import time


def now_us() -> int:
    return time.time_ns() // 1000
