"""The garbage collector's settings for the long-running processes of ``bitcache serve``.

Both the HTTP process and the charging process call :func:`settle_collector`
once started: what they built to start lives as long as they do, and the
objects of the requests in flight are freed by reference counts.
"""

from __future__ import annotations

import gc

#: Allocations (less frees) between young-generation collections in the server. The
#: default, 700, is passed by the objects of the requests in flight alone (64 charges
#: waiting on one flush hold thousands), so the collector ran every few requests, for
#: about 6 % of a download's CPU, and found nothing: they are freed by reference counts.
#: Cycles still get collected, every 20,000 net allocations (a few MB at most).
GC_YOUNG_THRESHOLD = 20_000


def settle_collector() -> None:
    """Freeze what start-up made out of the collector, and collect the young generation
    every :data:`GC_YOUNG_THRESHOLD` net allocations."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
