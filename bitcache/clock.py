"""The wall clock, in the one unit bitcache stores: integer microseconds since the epoch.

The store and the services take a clock as an argument, so tests control
time; :func:`now_us` is the default they fall back on, in one place. The pure
layers never read it (an import-linter contract forbids it).
"""

from __future__ import annotations

import time


def now_us() -> int:
    """Microseconds since the Unix epoch, from the system clock."""
    return time.time_ns() // 1000
