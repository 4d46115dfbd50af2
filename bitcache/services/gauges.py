"""The ledger's gauges for Prometheus, read from the database at each collection.

Settlements by state, the age of the oldest settlement not yet confirmed
(planned, signed or broadcast), the last event id, and how many events each
webhook endpoint has not accepted yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bitcache.settlement.states import SettlementState
from bitcache.store import outbox
from bitcache.store import settlement as settlement_rows
from bitcache.store.ledger import LedgerStore
from bitcache.telemetry.metrics import exposition, write_textfile


class LedgerCollector(Collector):
    """Gauges read from the ledger's database at each collection."""

    def __init__(self, ledger: LedgerStore, clock: Callable[[], float] = time.time) -> None:
        self.ledger = ledger
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        with self.ledger.read() as conn:
            counts = settlement_rows.state_counts(conn)
            oldest = settlement_rows.oldest_unconfirmed(conn)
            last = outbox.last_event_id(conn)
            endpoints = outbox.endpoints(conn)
        states = GaugeMetricFamily("bitcache_settlements", "Settlements by state.",
                                   labels=["state"])
        for state in SettlementState:
            states.add_metric([state.value], counts.get(state, 0))
        yield states
        age = 0.0 if oldest is None else max(0.0, self._clock() - oldest / 1e6)
        yield GaugeMetricFamily(
            "bitcache_oldest_unconfirmed_settlement_seconds",
            "Age of the oldest settlement planned, signed or broadcast (0 when none).",
            value=age,
        )
        yield GaugeMetricFamily("bitcache_events", "Events written (the last event id).", last)
        behind = GaugeMetricFamily(
            "bitcache_events_undelivered", "Events a webhook endpoint has not accepted yet.",
            labels=["endpoint"],
        )
        for e in endpoints:
            behind.add_metric([e.url], last - e.delivered_id)
        yield behind


def node_metrics(ledger: LedgerStore, *, instruments: bool = True) -> bytes:
    """Every metric of this process and the ledger, in Prometheus' text format."""
    return exposition(LedgerCollector(ledger), instruments=instruments)


def write_node_textfile(path: Path, ledger: LedgerStore) -> None:
    """The figures and the ledger's gauges, written to ``path`` atomically."""
    write_textfile(path, LedgerCollector(ledger))
