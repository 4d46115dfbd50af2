"""Two settlement jobs never both act: the job lock, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from bitcache.chain.regtest import RegtestChain
from bitcache.errors import SettlementLocked
from bitcache.store.ledger import LedgerStore
from tests.ledger.conftest import Clock
from tests.settlement.support import config, earn, fund_wallet, register, service


def test_a_second_job_gets_settlement_locked(any_ledger: LedgerStore, chain: RegtestChain) -> None:
    first, second = service(any_ledger, chain), service(any_ledger, chain)
    with first.locked():
        with pytest.raises(SettlementLocked, match="held by"):
            second.run_cycle()
        with pytest.raises(SettlementLocked):
            second.abandon(1, "no")
    second.run_cycle()  # released: the other job may act now


def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_commit(
    any_ledger: LedgerStore, chain: RegtestChain
) -> None:
    fund_wallet(chain, any_ledger)
    clock = Clock()
    cfg = config(lock_lease_seconds=60)
    old, new = (service(any_ledger, chain, cfg, clock=clock) for _ in range(2))
    register(old, ["alice"])
    earn(any_ledger, {"alice": 10_000_000})
    old.lock.acquire()
    clock.now += 59_000_000
    with pytest.raises(SettlementLocked):
        new.lock.acquire()
    clock.now += 2_000_000
    new.lock.acquire()  # the lease ran out: taken over
    with pytest.raises(SettlementLocked, match="no longer holds"):
        old.job.plan_and_send()
    assert old.settlements() == []
    new.lock.release()


def test_concurrent_cycles_one_acts_the_other_is_locked(
    ledger: LedgerStore, chain: RegtestChain
) -> None:
    fund_wallet(chain, ledger)
    inside, resume = threading.Event(), threading.Event()

    def hold(point: str) -> None:
        if point == "planned":
            inside.set()
            resume.wait(10)

    first = service(ledger, chain, hook=hold)
    register(first, ["alice"])
    earn(ledger, {"alice": 10_000_000})
    results: list[object] = []
    worker = threading.Thread(target=lambda: results.append(first.run_cycle()))
    worker.start()
    assert inside.wait(10)
    try:
        with pytest.raises(SettlementLocked):
            service(ledger, chain).run_cycle()
    finally:
        resume.set()
        worker.join(10)
    assert len(results) == 1 and len(first.settlements()) == 1
