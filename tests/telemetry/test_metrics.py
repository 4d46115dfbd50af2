"""Metrics: the hot path's counters, the ledger's gauges, the textfile, GET /metrics."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bitcache.chain.regtest import RegtestChain
from bitcache.core.accounts import default_spec, prepaid
from bitcache.core.entries import EntryRequest, Posting
from bitcache.core.pricing import PriceRule
from bitcache.errors import InsufficientFunds, UnknownFile
from bitcache.hooks import DownloadRequest, Hooks
from bitcache.services.gauges import node_metrics, write_node_textfile
from bitcache.store.ledger import LedgerStore
from bitcache.telemetry import metrics
from bitcache.telemetry.logs import LogFormat, LogSettings, configure_logging
from bitcache.telemetry.metrics import REGISTRY, observe_wallet
from tests.serve.conftest import make_world
from tests.settlement.support import config, earn, fund_wallet, register, service

FILE = hashlib.sha256(b"metrics file").hexdigest()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }


@pytest.fixture
def hooks(db_url: str) -> Iterator[Hooks]:
    h = Hooks.open(db_url)
    h.register_file(FILE, "carol", PriceRule.fixed(1_000))
    h.ledger.record_many(
        [EntryRequest("fund:d1", (Posting("asset:wallet", 2_500), Posting(prepaid("d1"), -2_500)))],
        atomic=True, open_accounts=[default_spec("asset:wallet"), default_spec(prepaid("d1"))],
    )
    yield h
    h.close()


def test_charges_refusals_and_latencies_are_counted_on_both_paths(
    hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    charged, funds = sample("bitcache_charges_total"), sample(
        "bitcache_refusals_total", reason="InsufficientFunds")
    unknown = sample("bitcache_refusals_total", reason="UnknownFile")
    batches, flushes = sample("bitcache_charge_batch_seconds_count"), sample(
        "bitcache_flush_seconds_count")
    other = hashlib.sha256(b"unregistered").hexdigest()
    with caplog.at_level(logging.DEBUG, logger="bitcache"):
        answers = hooks.download_batch([DownloadRequest(FILE, "d1", f"k{i}") for i in range(3)]
                                       + [DownloadRequest(other, "d1", "k-x")])
    assert [type(a).__name__ for a in answers[2:]] == ["InsufficientFunds", "UnknownFile"]
    assert sample("bitcache_charges_total") == charged + 2
    assert sample("bitcache_refusals_total", reason="InsufficientFunds") == funds + 1
    assert sample("bitcache_refusals_total", reason="UnknownFile") == unknown + 1
    assert sample("bitcache_charge_batch_seconds_count") == batches + 1
    refused = [r for r in caplog.records if getattr(r, "reason", None)]
    assert [r.reason for r in refused] == ["InsufficientFunds", "UnknownFile"]  # type: ignore[attr-defined]
    assert all(r.levelno == logging.DEBUG for r in refused)
    with pytest.raises(InsufficientFunds):
        hooks.download(FILE, "d1", "k-single")  # through the group commit
    with pytest.raises(UnknownFile):
        hooks.download(other, "d1", "k-single-2")
    assert sample("bitcache_refusals_total", reason="InsufficientFunds") == funds + 2
    assert sample("bitcache_refusals_total", reason="UnknownFile") == unknown + 2
    assert sample("bitcache_flush_seconds_count") == flushes + 2


def test_ledger_gauges_show_settlements_by_state_and_the_oldest_unconfirmed_age(
    tmp_path: Path, make_sqlite_url: object
) -> None:
    ledger = LedgerStore.open(make_sqlite_url())  # type: ignore[operator]
    chain = RegtestChain.open(tmp_path / "regtest")
    try:
        before = samples(node_metrics(ledger))
        assert before[("bitcache_settlements", (("state", "broadcast"),))] == 0
        assert before[("bitcache_oldest_unconfirmed_settlement_seconds", ())] == 0
        fund_wallet(chain, ledger)
        svc = service(ledger, chain, config())
        register(svc, ["alice"])
        earn(ledger, {"alice": 5_000_000})
        planned_at = time.time()
        assert len(svc.run_cycle().created) == 1
        time.sleep(0.2)
        after = samples(node_metrics(ledger))
        assert after[("bitcache_settlements", (("state", "broadcast"),))] == 1
        age = after[("bitcache_oldest_unconfirmed_settlement_seconds", ())]
        assert 0.2 <= age <= time.time() - planned_at + 0.5
        assert after[("bitcache_events", ())] >= 3  # two deposits, planned, broadcast
    finally:
        chain.close()
        ledger.close()


def test_the_textfile_is_written_atomically_without_the_instruments(
    tmp_path: Path, make_sqlite_url: object
) -> None:
    ledger = LedgerStore.open(make_sqlite_url())  # type: ignore[operator]
    try:
        target = tmp_path / "bitcache.prom"
        target.write_text("old content\n")
        metrics.FIGURES._values.clear()
        write_node_textfile(target, ledger)
        first = samples(target.read_bytes())
        assert ("bitcache_wallet_difference_sat", ()) not in first  # not observed: absent
        assert ("bitcache_charges_total", ()) not in first
        observe_wallet(expected_sat=1_000, chain_sat=990)
        write_node_textfile(target, ledger)
        second = samples(target.read_bytes())
        assert second[("bitcache_wallet_difference_sat", ())] == -10
        assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    finally:
        metrics.FIGURES._values.clear()
        ledger.close()


def test_get_metrics_needs_an_operator_key_unless_public(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "public").mkdir()
    world = make_world(db_url, tmp_path)
    public = make_world(db_url, tmp_path / "public", public_metrics=True)
    try:
        async def scrape(client):  # type: ignore[no-untyped-def]
            anonymous = await client.get("/metrics")
            storage = await client.get("/metrics", headers=world.key("storage"))
            operator = await client.get("/metrics", headers=world.key("operator"))
            return anonymous, storage, operator

        anonymous, storage, operator = world.run(scrape)
        assert (anonymous.status_code, storage.status_code, operator.status_code) == (
            401, 403, 200)
        assert operator.headers["content-type"].startswith("text/plain")
        found = samples(operator.content)
        assert ("bitcache_settlements", (("state", "final"),)) in found
        assert ("bitcache_charges_total", ()) in found
        assert public.run(lambda c: c.get("/metrics")).status_code == 200
    finally:
        for w in (world, public):
            asyncio.run(w.service.close())
            w.hooks.close()


def test_json_logs_are_one_object_per_line_with_the_extra_fields() -> None:
    stream = io.StringIO()
    configure_logging(LogSettings(LogFormat.JSON, "info"), stream)
    logging.getLogger("bitcache.services.settlementjob").info(
        "settlement %d: %s", 7, "final", extra={"settlement": 7, "txid": "ab" * 32})
    logging.getLogger("bitcache.services.settlementjob").debug("not at info level")
    (line,) = stream.getvalue().splitlines()
    data = json.loads(line)
    assert data["message"] == "settlement 7: final" and data["settlement"] == 7
    assert data["level"] == "info" and data["logger"] == "bitcache.services.settlementjob"
    assert data["time"].endswith("Z") and data["txid"] == "ab" * 32


def test_a_child_process_learns_how_this_one_logs(tmp_path: Path) -> None:
    """``configured()`` is what the charging process is started with: the settings of the
    last configuration to stderr or a file, never a stream only this process holds."""
    from bitcache.telemetry import logs

    previous = logs.configured()
    try:
        to_file = LogSettings(LogFormat.JSON, "info", tmp_path / "bitcache.log")
        configure_logging(to_file)
        assert logs.configured() == to_file
        configure_logging(LogSettings(LogFormat.TEXT, "debug"), io.StringIO())
        assert logs.configured() is None
    finally:
        logs._configured[0] = previous
