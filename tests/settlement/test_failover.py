"""The settlement job during a database failover, on both engines.

* It never broadcasts from a state it could not commit: a write that fails
  (rolled back, or lost after COMMIT with the outcome unknown) ends the cycle
  before any broadcast that would follow it, and later cycles pay every
  payee exactly once.
* Its lock lease: a job on another host cannot take the lock while the lease
  runs (its holder's pid means nothing there); once the lease ran out while
  the first job could not reach the database, the other job takes over, and
  the first one, back, can neither commit nor broadcast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Connection

from bitcache.chain.regtest import RegtestChain
from bitcache.core.tip import Tip
from bitcache.errors import ChainUnavailable, OutcomeUnknown, SettlementLocked, StoreUnavailable
from bitcache.services.settlement import SettlementService
from bitcache.settlement.states import SettlementState
from bitcache.store.ledger import LedgerStore
from tests.ledger.conftest import Clock
from tests.settlement.support import config, earn, fund_wallet, received, register, service

PAYEES = ("alice", "bob")


class FlakyLedger(LedgerStore):
    """A ledger whose write number ``fail_at`` fails: rolled back, or committed and then lost."""

    def __init__(self, store: LedgerStore, log: list[str]) -> None:
        super().__init__(store.engine, clock=store.clock)
        self.log = log
        self.writes = 0
        self.fail_at = 0
        self.committed = False

    @contextmanager
    def write(self) -> Iterator[Connection]:
        self.writes += 1
        if self.writes != self.fail_at:
            with super().write() as conn:
                yield conn
            self.log.append(f"commit {self.writes}")
            return
        self.log.append(f"failed {self.writes}")
        with super().write() as conn:
            yield conn
            if not self.committed:
                raise StoreUnavailable("the primary went away before COMMIT")
        raise OutcomeUnknown("the connection died after COMMIT was sent")


class WatchedChain:
    """The regtest chain, logging broadcasts; ``before_tip`` runs once at the next ``tip()``."""

    def __init__(self, chain: RegtestChain, log: list[str]) -> None:
        self._chain = chain
        self.log = log
        self.before_tip: Callable[[], None] | None = None
        self.refuse = False

    def __getattr__(self, name: str) -> object:
        return getattr(self._chain, name)

    def tip(self) -> Tip:
        if self.before_tip is not None:
            run, self.before_tip = self.before_tip, None
            run()
        return self._chain.tip()

    def broadcast(self, raw_tx: bytes) -> str:
        if self.refuse:
            raise ChainUnavailable("node down")
        self.log.append("broadcast")
        return self._chain.broadcast(raw_tx)


def shop(ledger: LedgerStore, chain: RegtestChain) -> dict[str, bytes]:
    fund_wallet(chain, ledger)
    scripts = register(service(ledger, chain), PAYEES)
    earn(ledger, {p: 5_000_000 for p in PAYEES})
    return scripts


def drain(svc: SettlementService, chain: RegtestChain, cycles: int = 12) -> None:
    for _ in range(cycles):
        svc.run_cycle()
        chain.mine(1)
        if not svc.settlements():
            return
    raise AssertionError(f"still in flight: {svc.settlements()}")


def count_writes(any_ledger: LedgerStore, chain: RegtestChain) -> int:
    """How many ledger writes the first cycle makes (on a scratch run of the same shop)."""
    log: list[str] = []
    flaky = FlakyLedger(any_ledger, log)
    SettlementService(flaky, WatchedChain(chain, log), service(any_ledger, chain).job.wallet,
                      config()).run_cycle()
    return flaky.writes


@pytest.mark.parametrize("committed", [False, True], ids=["rolled-back", "outcome-unknown"])
def test_no_broadcast_follows_a_failed_commit_and_each_payee_is_paid_once(
    any_ledger: LedgerStore, chain: RegtestChain, committed: bool
) -> None:
    scripts = shop(any_ledger, chain)
    failing_points = 0
    for fail_at in range(1, 8):
        log: list[str] = []
        flaky = FlakyLedger(any_ledger, log)
        flaky.fail_at, flaky.committed = fail_at, committed
        watched = WatchedChain(chain, log)
        svc = SettlementService(flaky, watched, service(any_ledger, chain).job.wallet, config())
        try:
            svc.run_cycle()
        except (StoreUnavailable, SettlementLocked):
            failing_points += 1
            after = log[log.index(f"failed {fail_at}") :]
            assert "broadcast" not in after, f"broadcast after a failed commit: {log}"
        else:
            break  # the cycle made fewer writes than fail_at: every point was tried
        chain.mine(1)
    # rolled back: plan, sign and the claim before the broadcast each fail in turn; committed:
    # each failure still moves the settlement on, so fewer points are left to fail
    assert failing_points >= (2 if committed else 3)
    drain(service(any_ledger, chain), chain)
    final = service(any_ledger, chain).settlements([SettlementState.FINAL])
    paid = [p for s in final for p in s.payouts]
    assert sorted(p.uploader for p in paid) == sorted(PAYEES)  # one final payout each
    for p in paid:
        assert received(chain, scripts[p.uploader]) == p.payout_sat  # and once on chain
    assert any_ledger.trial_balance() == 0 and any_ledger.verify().ok


def test_a_job_on_another_host_waits_for_the_lease_even_if_the_holder_pid_is_dead(
    any_ledger: LedgerStore, chain: RegtestChain
) -> None:
    clock = Clock()
    cfg = config(lock_lease_seconds=30)
    first, other = (service(any_ledger, chain, cfg, clock=clock) for _ in range(2))
    first.lock.pid = other.lock.pid = 2**22 + 12345  # no such process on this machine
    first.lock.acquire()
    other.lock.host = "another-host"
    clock.now += 29_000_000
    with pytest.raises(SettlementLocked, match="held by"):
        other.lock.acquire()  # the pid is dead *here*, but it was on another host
    clock.now += 2_000_000
    other.lock.acquire()  # the lease ran out
    first.lock.release()  # a no-op: it does not free the other job's lock
    with pytest.raises(SettlementLocked):
        first.lock.acquire()
    other.lock.release()


def test_a_job_that_lost_its_lease_during_an_outage_does_not_broadcast(
    any_ledger: LedgerStore, chain: RegtestChain
) -> None:
    """The first job loaded a signed settlement, then could not reach the database past its
    lease; a job on another host took over and abandoned the settlement. The first job,
    back, must not broadcast what it loaded."""
    shop(any_ledger, chain)
    clock = Clock()
    log: list[str] = []
    watched = WatchedChain(chain, log)
    cfg = config(lock_lease_seconds=30)
    first = SettlementService(any_ledger, watched, service(any_ledger, chain).job.wallet, cfg,
                              clock=clock)
    watched.refuse = True
    first.run_cycle()  # planned and signed; the broadcast failed: stays signed
    [signed] = first.settlements()
    assert signed.state is SettlementState.SIGNED
    watched.refuse = False
    other = service(any_ledger, chain, cfg, clock=clock)
    other.lock.host = "another-host"

    def outage_then_takeover() -> None:
        clock.now += 31_000_000  # the first job's lease ran out while it was cut off
        other.abandon(signed.id, "operator: pay these payees from the other host")

    first.lock.acquire()
    watched.before_tip = outage_then_takeover  # after the first job loaded the settlement
    with pytest.raises(SettlementLocked):
        first.job.advance(signed.id)
    assert log == []  # nothing was broadcast
    assert other.settlement(signed.id).state is SettlementState.VOID
    assert signed.versions[0].txid not in chain.mempool_txids()


def test_an_outage_at_the_commit_before_a_rebroadcast_sends_nothing(
    any_ledger: LedgerStore, chain: RegtestChain
) -> None:
    shop(any_ledger, chain)
    log: list[str] = []
    flaky = FlakyLedger(any_ledger, log)
    watched = WatchedChain(chain, log)
    svc = SettlementService(flaky, watched, service(any_ledger, chain).job.wallet, config())
    watched.refuse = True
    svc.run_cycle()  # signed, not sent
    watched.refuse = False
    flaky.fail_at = flaky.writes + 1  # the next write: the lease renewal before the rebroadcast
    with pytest.raises(StoreUnavailable):
        svc.run_cycle()
    assert "broadcast" not in log
    svc.run_cycle()  # the database is back: sent now
    assert log.count("broadcast") == 1
