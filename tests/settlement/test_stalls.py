"""Settlements that are not moving are said to be: a refused broadcast keeps the node's
reason (report, settlement row, reconcile), and so does a settlement unconfirmed too long.

The refusing node is the embedded chain itself, with a relay floor (5 sat/vB) above the
job's fee rate (1 sat/vB): Bitcoin Core answers ``min relay fee not met`` the same way
when its mempool minimum rises.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bitcache.chain.mempool import RelayPolicy
from bitcache.chain.regtest import RegtestChain
from bitcache.errors import InvalidPolicy
from bitcache.reconciliation.checks import reconcile
from bitcache.reconciliation.report import Check, ReconcileReport
from bitcache.settlement.model import BroadcastFailure
from bitcache.settlement.stalls import StallKind
from bitcache.settlement.states import SettlementState
from bitcache.store.ledger import LedgerStore
from tests.settlement.support import (
    RECEIVE_SCAN,
    config,
    earn,
    fund_wallet,
    register,
    service,
    wallet,
)

STRICT = RelayPolicy(min_relay_sat_kvb=5_000)


@pytest.fixture
def floor_rose_unreported(monkeypatch: pytest.MonkeyPatch) -> None:
    """The node enforces a floor above the one it reported (its mempool filled up after the
    planner asked), so the settlement is planned below what the node now accepts."""
    monkeypatch.setattr(RegtestChain, "relay_floor", lambda self: RelayPolicy().min_relay_sat_kvb)


def _stalled_in(report: ReconcileReport) -> list[str]:
    """The settlements check's findings, as 'subject: detail'."""
    [result] = [c for c in report.checks if c.check is Check.SETTLEMENTS]
    found = [f"{d.subject}: {d.detail}" for d in report.discrepancies
             if d.check is Check.SETTLEMENTS]
    assert result.ok is (not found) and result.found == len(found)
    return found


def _chain_reconcile(ledger: LedgerStore, chain: RegtestChain, **kw: object) -> ReconcileReport:
    return reconcile(ledger, chain=chain, wallet=wallet(), confirmations=3,
                     receive_indices=range(RECEIVE_SCAN), **kw)  # type: ignore[arg-type]


def test_a_refused_broadcast_is_reported_with_the_nodes_reason_until_one_goes_through(
    any_ledger: LedgerStore, tmp_path: Path, floor_rose_unreported: None
) -> None:
    folder = tmp_path / "regtest"
    with RegtestChain.open(folder, policy=STRICT) as chain:
        fund_wallet(chain, any_ledger)
        svc = service(any_ledger, chain)
        register(svc, ["alice"])
        earn(any_ledger, {"alice": 10_000_000})
        first = chain.tip().height
        report = svc.run_cycle()
        (sid,) = report.created
        assert report.created_states == ((sid, SettlementState.SIGNED),)  # not "sent"
        [stall] = report.stalled
        assert stall.settlement_id == sid and stall.kind is StallKind.BROADCAST_REFUSED
        assert "min relay fee not met" in stall.detail and str(first) in stall.detail
        problem = svc.settlement(sid).broadcast_problem
        assert problem is not None and problem.failure is BroadcastFailure.REFUSED
        assert problem.reason.startswith("min relay fee not met") and problem.since_height == first
        chain.mine(2)
        again = svc.run_cycle()
        assert again.created == () and again.advanced == ((sid, SettlementState.SIGNED),)
        s = svc.settlement(sid)
        assert s.attempts == 2 and s.broadcast_problem is not None
        assert s.broadcast_problem.since_height == first  # the first refusal in a row
        [finding] = _stalled_in(reconcile(any_ledger))  # the books alone show it
        assert finding.startswith(f"settlement {sid}: signed: broadcast refused")
        assert "min relay fee not met" in finding
        assert not reconcile(any_ledger).ok
    with RegtestChain.open(folder) as chain:  # a node with the usual floor takes it
        svc = service(any_ledger, chain)
        report = svc.run_cycle()
        assert report.advanced == ((sid, SettlementState.BROADCAST),) and report.stalled == ()
        assert svc.settlement(sid).broadcast_problem is None
        assert _stalled_in(_chain_reconcile(any_ledger, chain)) == []


def test_a_settlement_unconfirmed_for_too_long_is_reported(
    ledger: LedgerStore, chain: RegtestChain
) -> None:
    fund_wallet(chain, ledger)
    svc = service(ledger, chain, config(stall_after_blocks=4, bump_after_blocks=100))
    register(svc, ["alice"])
    earn(ledger, {"alice": 10_000_000})
    (sid,) = svc.run_cycle().created
    planned = svc.settlement(sid).created_height
    for _ in range(3):  # blocks without it: the mempool still holds it
        chain.mine_transaction_directly()
        assert svc.run_cycle().stalled == ()
    assert _stalled_in(_chain_reconcile(ledger, chain, stall_after_blocks=4)) == []
    chain.mine_transaction_directly()
    [stall] = svc.run_cycle().stalled
    assert stall.kind is StallKind.UNCONFIRMED and stall.state is SettlementState.BROADCAST
    assert stall.since_height == planned and "4 blocks" in stall.detail
    [finding] = _stalled_in(_chain_reconcile(ledger, chain, stall_after_blocks=4))
    assert finding.startswith(f"settlement {sid}: broadcast: not confirmed 4 blocks")
    assert _stalled_in(_chain_reconcile(ledger, chain, stall_after_blocks=5)) == []
    assert _stalled_in(reconcile(ledger)) == []  # without a chain only refusals are seen
    chain.mine(1)
    report = svc.run_cycle()
    assert report.advanced == ((sid, SettlementState.CONFIRMED),) and report.stalled == ()


@pytest.mark.parametrize("bad", [0, -1, True, "144"])
def test_a_nonsensical_stall_limit_is_refused(ledger: LedgerStore, bad: object) -> None:
    with pytest.raises(InvalidPolicy):
        config(stall_after_blocks=bad)
    with pytest.raises(InvalidPolicy):
        reconcile(ledger, stall_after_blocks=bad)  # type: ignore[arg-type]
