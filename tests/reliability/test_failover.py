"""PostgreSQL failover on real components: Patroni, etcd and two PostgreSQL 15 members.

One trial in CI (a node loss, then a frozen leader, under load), ten with
``BITCACHE_RELIABILITY=long``, plus the same harness on asynchronous
replication, which shows the loss synchronous replication prevents. See
:mod:`tests.reliability.failover` for what a trial does and checks, and
docs/operations.md for the setup it stands for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bitcache.errors import OutcomeUnknown, StoreUnavailable
from bitcache.store.ledger import LedgerStore
from tests.reliability.conftest import LONG, scale
from tests.reliability.failover import RESUME_TARGET_S, TrialResult, run_trial
from tests.reliability.patroni import HACluster, missing_tools

MISSING = missing_tools()
# In CI the trial shares two cores with the rest of the suite: a bound that still catches
# a member that never rejoins, while the 15 s target is the long run's (docs/operations.md).
# On a slow shared machine (2026-12-02, Python three times slower than usual) charging
# came back 75.9 s after a freeze in 2 of 8 runs (10–16 s in the others), with nothing
# lost, duplicated or hung; why was not found (the cluster had a new leader within the
# trial's 60 s wait). The bound still fails a trial whose charging never comes back.
CI_RESUME_BOUND_S = 120.0
pytestmark = pytest.mark.skipif(
    MISSING is not None, reason=f"the failover test needs Patroni and etcd: {MISSING}"
)


def trial(folder: Path, faults: tuple[str, ...], *, sync: bool) -> TrialResult:
    cluster = HACluster(2, sync=sync)
    try:
        cluster.start()
        return run_trial(cluster, folder, faults)
    finally:
        cluster.stop()


@pytest.mark.parametrize("n", range(scale(1, 10)))
def test_a_failover_loses_and_duplicates_no_acknowledged_charge(tmp_path: Path, n: int) -> None:
    result = trial(tmp_path, ("kill", "freeze"), sync=True)
    print(result.summary())
    assert result.acked > 0 and result.lost_acked == 0, result.summary()
    assert result.duplicated == 0, result.summary()
    assert result.journal_ok and result.trial_balance == 0, result.summary()
    assert result.hung_calls == 0, result.summary()
    for fault in result.faults:  # charging came back
        assert fault.resume_s is not None and fault.resume_s <= CI_RESUME_BOUND_S, (
            result.summary())
    if LONG:  # the 15 s target is asserted on a quiet machine (the long run); in CI the
        # trial shares two cores with the rest of the suite, which slows the rejoin
        for fault in result.faults:
            assert fault.resume_s is not None and fault.resume_s <= RESUME_TARGET_S, (
                result.summary())


@pytest.mark.skipif(not LONG, reason="the asynchronous demonstration runs in the long run")
def test_asynchronous_replication_loses_acknowledged_charges(tmp_path: Path) -> None:
    """Why synchronous replication is required: the same trial on an asynchronous standby
    whose WAL receiver lags 1.5 s when the leader is lost. The books still balance."""
    result = trial(tmp_path, ("lag-kill",), sync=False)
    print(result.summary())
    assert result.lost_acked > 0, result.summary()
    assert result.journal_ok and result.trial_balance == 0, result.summary()


@contextmanager
def ledger_on(cluster: HACluster, deadline_s: float | None = None) -> Iterator[LedgerStore]:
    """A ledger on ``cluster``, started for the block; both stopped afterwards."""
    try:
        cluster.start()
        ledger = LedgerStore.open(cluster.url(), deadline_s=deadline_s)
        try:
            yield ledger
        finally:
            ledger.close()
    finally:
        cluster.stop()


def deferred_commit(ledger: LedgerStore) -> None:
    """A write transaction committed without waiting for the log (as a group flush is)."""
    with ledger.write(defer_sync=True):
        pass


def test_a_sync_answered_by_another_server_does_not_vouch_for_earlier_commits() -> None:
    """A deferred commit waits for no log flush; the group commit then syncs on a pooled
    connection. After a restart (or a failover, where the multi-host URL finds the new
    primary) that connection reaches another server incarnation, whose flush proves
    nothing about the commit: the sync must answer OutcomeUnknown, not vouch for it.
    (Found by the failover trial: two acknowledged charges lost on a synchronous pair.)"""
    cluster = HACluster(1, sync=False)
    with ledger_on(cluster) as ledger:
        deferred_commit(ledger)
        ledger.sync()  # the server that committed flushes its log: durable
        deferred_commit(ledger)
        # a crash: the commit may be gone with it, and the server that answers next is
        # another incarnation (as a promoted standby would be)
        cluster.crash_postgres(cluster.members[0])
        cluster.wait_for_leader(120)
        with pytest.raises(OutcomeUnknown, match="retry with the same key"):
            ledger.sync()
        ledger.sync()  # reported once: later commits are vouched for as usual
        deferred_commit(ledger)
        ledger.sync()


def test_a_sync_waits_for_the_synchronous_standby() -> None:
    """The sync after deferred commits must wait for the log flush and for the synchronous
    standby. A commit that only took a transaction id wrote no log and waited for neither:
    the failover trial lost acknowledged charges that way. With the standby's WAL receiver
    stopped, the sync must not return within its deadline; once it runs again, it does."""
    cluster = HACluster(2, sync=True)
    with ledger_on(cluster, deadline_s=3) as ledger:
        deferred_commit(ledger)
        leader = cluster.leader()
        standby = next(m for m in cluster.members if m is not leader)
        receiver = cluster.walreceiver(standby)
        assert receiver is not None
        cluster.stop_pids([receiver])
        try:
            with pytest.raises(StoreUnavailable):
                ledger.sync()
        finally:
            cluster.thaw([receiver])
        deferred_commit(ledger)
        ledger.sync()
