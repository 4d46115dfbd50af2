"""Prometheus metrics: the process's instruments, the ledger's gauges, the exposition.

Two kinds of figure:

* **Instruments** the code updates as it runs, in :data:`REGISTRY`:
  charges and refusals by reason, charge batch and group-commit flush
  latency, chain backend errors. The hot path adds once per batch or
  flush, never per download (a refusal reason's child is looked up once per
  batch that has one).
* **Figures** the last deposit scan or reconcile of this process saw
  (:data:`FIGURES`): deposits waiting, the hot wallet's books against the
  chain, the reconcile verdict. A figure not observed is not exported.
* **Ledger gauges** read from the database when the metrics are asked for
  (:class:`bitcache.services.gauges.LedgerCollector`, passed in): settlements
  by state, the age of the oldest settlement not yet confirmed, events not
  yet accepted by each webhook endpoint.

:func:`exposition` renders both; :func:`write_textfile` writes them for
node_exporter's textfile collector, atomically (a temporary file, then a
rename), so the collector never reads half a file.
"""

from __future__ import annotations

import os
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bitcache.errors import InvalidInput

REGISTRY = CollectorRegistry(auto_describe=True)
_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

CHARGES = Counter(
    "bitcache_charges", "Downloads charged (replays of a recorded charge included).",
    registry=REGISTRY,
)
REFUSALS = Counter(
    "bitcache_refusals", "Downloads refused, by reason (the error's class).", ["reason"],
    registry=REGISTRY,
)
BATCH_SECONDS = Histogram(
    "bitcache_charge_batch_seconds", "Time to charge one batch of downloads (one transaction).",
    buckets=_LATENCY, registry=REGISTRY,
)
FLUSH_SECONDS = Histogram(
    "bitcache_flush_seconds", "Time of one group-commit flush, from taking the lock to commit.",
    buckets=_LATENCY, registry=REGISTRY,
)
CHAIN_ERRORS = Counter(
    "bitcache_chain_errors", "Chain backend errors, by backend and error class.",
    ["backend", "error"], registry=REGISTRY,
)


class Figures(Collector):
    """Gauges of what the last scan or reconcile of this process saw; a figure never set is
    not exported at all (a 0 would read as "nothing waiting" or "the wallet agrees")."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[str, float]] = {}

    def set(self, name: str, description: str, value: float) -> None:
        self._values[name] = (description, value)

    def collect(self) -> Iterator[Metric]:
        for name, (description, value) in sorted(self._values.items()):
            yield GaugeMetricFamily(name, description, value=value)


FIGURES = Figures()
FIGURE_REGISTRY = CollectorRegistry(auto_describe=False)
FIGURE_REGISTRY.register(FIGURES)


def observe_deposits_waiting(count: int, value_sat: int) -> None:
    """What the last deposit scan saw below N confirmations."""
    FIGURES.set("bitcache_deposits_waiting",
                "Deposits seen by the last scan, below N confirmations.", count)
    FIGURES.set("bitcache_deposits_waiting_sat",
                "Value of the deposits waiting for confirmations (sat).", value_sat)


def observe_wallet(expected_sat: int, chain_sat: int) -> None:
    """The hot wallet as the books expect it on chain, and as the chain has it."""
    FIGURES.set("bitcache_wallet_books_sat",
                "The hot wallet as the books expect it on chain (asset:wallet plus "
                "adjustments for settlements in flight and deposits awaiting credit), at the "
                "last reconcile (sat).", expected_sat)
    FIGURES.set("bitcache_wallet_chain_sat",
                "The hot wallet's coins on chain at the last reconcile (sat).", chain_sat)
    FIGURES.set("bitcache_wallet_difference_sat",
                "Chain minus books for the hot wallet at the last reconcile (sat; 0 when "
                "they agree).", chain_sat - expected_sat)


def observe_reconcile(ok: bool, discrepancies: int) -> None:
    """The verdict of the last reconcile."""
    FIGURES.set("bitcache_reconcile_ok", "1 when the last reconcile found nothing wrong.",
                1 if ok else 0)
    FIGURES.set("bitcache_reconcile_discrepancies",
                "Discrepancies the last reconcile found.", discrepancies)


def count_answers(answers: Iterable[object]) -> None:
    """Count a batch's answers: receipts as charges, errors as refusals by their class."""
    refused: Tally[str] = Tally()
    charged = 0
    for answer in answers:
        if isinstance(answer, Exception):
            refused[type(answer).__name__] += 1
        else:
            charged += 1
    if charged:
        CHARGES.inc(charged)
    for reason, n in refused.items():
        REFUSALS.labels(reason).inc(n)


def exposition(*collectors: Collector, instruments: bool = True) -> bytes:
    """The metrics in Prometheus' text format: this process's instruments (unless
    ``instruments`` is False: a short command's counters mean nothing), the figures it
    observed, and ``collectors`` (the ledger's gauges, :mod:`bitcache.services.gauges`)."""
    text = generate_latest(REGISTRY) if instruments else b""
    text += generate_latest(FIGURE_REGISTRY)
    if collectors:
        extra = CollectorRegistry(auto_describe=False)
        for collector in collectors:
            extra.register(collector)
        text += generate_latest(extra)
    return text


def write_textfile(path: Path, *collectors: Collector) -> None:
    """Write the figures and ``collectors`` (not the instruments) to ``path``, whole or not
    at all (a temporary file beside it, then a rename)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    text = exposition(*collectors, instruments=False)
    try:
        temporary.write_bytes(text)
        os.replace(temporary, path)
    except OSError as exc:
        raise InvalidInput(f"cannot write the metrics to {path}: {exc.strerror or exc}") from exc
    finally:
        temporary.unlink(missing_ok=True)
