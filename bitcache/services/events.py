"""Reading the event outbox: the newest events and where each webhook endpoint stands.

Payout and deposit events are written by the store functions that make
their state changes (:func:`bitcache.store.settlement.announce`, the
deposit scan); ``reconcile.failed`` by :mod:`bitcache.reconciliation.alerts`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bitcache.store import outbox
from bitcache.store.ledger import LedgerStore
from bitcache.store.outbox import Endpoint, StoredEvent


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
