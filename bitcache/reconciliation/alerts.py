"""The ``reconcile.failed`` event: written, in its own transaction, when a reconcile fails.

Reconcile itself only reads; the command that runs it (``bitcache
reconcile``) records the failure so webhook receivers hear of it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bitcache.events.kinds import EventKind, reconcile_data
from bitcache.reconciliation.report import ReconcileReport
from bitcache.store import outbox
from bitcache.store.ledger import LedgerStore

log = logging.getLogger(__name__)


def _now_us() -> int:
    return time.time_ns() // 1000


def record_failure(
    ledger: LedgerStore, report: ReconcileReport, clock: Callable[[], int] = _now_us
) -> int | None:
    """Write ``reconcile.failed`` when ``report`` is not ok; its event id (None if ok)."""
    if report.ok:
        return None
    failed = [c.value for c in report.failed()]
    found = [(d.check.value, d.subject, d.detail) for d in report.discrepancies]
    data = reconcile_data(report.entries, failed, found)
    with ledger.write() as conn:
        event_id = outbox.append(conn, EventKind.RECONCILE_FAILED.value, "reconcile", data,
                                 clock())
    log.warning("reconcile failed: %s (event %d)", ", ".join(failed), event_id)
    return event_id
