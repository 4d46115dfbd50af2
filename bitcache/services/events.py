"""Reading the event outbox, and the event reconcile raises when it fails.

Payout and deposit events are written by the store functions that make
their state changes (:func:`bitcache.store.settlement.announce`, the
deposit scan); ``reconcile.failed`` is written here, in its own
transaction, because reconcile itself only reads.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bitcache.events.kinds import EventKind, reconcile_data
from bitcache.reconciliation.report import ReconcileReport
from bitcache.store import outbox
from bitcache.store.ledger import LedgerStore
from bitcache.store.outbox import Endpoint, StoredEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EventListing:
    """Events (oldest first) and every endpoint's cursor."""

    events: tuple[StoredEvent, ...]
    endpoints: tuple[Endpoint, ...]
    last_id: int


def list_events(ledger: LedgerStore, *, limit: int = 50, kind: str | None = None) -> EventListing:
    """The newest ``limit`` events (of ``kind``), and where each endpoint stands."""
    with ledger.read() as conn:
        found = outbox.newest_events(conn, limit, kind)
        return EventListing(tuple(found), tuple(outbox.endpoints(conn)), outbox.last_event_id(conn))


def record_reconcile_failure(
    ledger: LedgerStore, report: ReconcileReport, clock: Callable[[], int] | None = None
) -> int | None:
    """Write ``reconcile.failed`` when ``report`` is not ok; its event id (None if ok)."""
    if report.ok:
        return None
    failed = [c.value for c in report.failed()]
    found = [(d.check.value, d.subject, d.detail) for d in report.discrepancies]
    data = reconcile_data(report.entries, failed, found)
    now = (clock or (lambda: time.time_ns() // 1000))()
    with ledger.write() as conn:
        event_id = outbox.append(conn, EventKind.RECONCILE_FAILED.value, "reconcile", data, now)
    log.warning("reconcile failed: %s (event %d)", ", ".join(failed), event_id)
    return event_id
