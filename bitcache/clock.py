"""The wall clock, in the one unit bitcache stores: integer microseconds since the epoch.

The store and the services take a clock as an argument, so tests control
time; :func:`now_us` is the default they fall back on, in one place. The pure
layers never read it (an import-linter contract forbids it).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_us() -> int:
    """Microseconds since the Unix epoch, from the system clock."""
    return time.time_ns() // 1000


def iso_utc(us: int) -> str:
    """Microseconds since the epoch as ISO 8601 in UTC (``…Z``), exactly (integer arithmetic:
    no float rounding of the microseconds)."""
    moment = datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)
    return moment.isoformat().replace("+00:00", "Z")
