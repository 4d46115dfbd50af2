"""Chain faults through the settlement job, each with its expected outcome.

The backend is the embedded regtest chain; an armed call goes instead to the
fake bitcoind (``tests/chain/fakes``) through the real RPC adapter, so the job
sees the typed error a misbehaving server produces. Already covered in
``tests/settlement``: RBF bumps, a reorg swapping original and replacement,
a 1-block reorg with the mempool kept or dropped, and an input double-spent
by an outside transaction (voided, then paid once in a later cycle).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.server import Fault

from bitcache.chain.regtest import RegtestChain
from bitcache.errors import ChainUnavailable, RateLimited
from bitcache.services.settlement import SettlementService
from bitcache.settlement.model import BroadcastFailure, Settlement
from bitcache.settlement.stalls import StallKind
from bitcache.settlement.states import SettlementState
from bitcache.store.ledger import LedgerStore
from tests.reliability.checks import (
    check_books,
    check_paid_once,
    check_reservations,
    check_wallet,
)
from tests.reliability.faulty import FaultyChain
from tests.settlement import support

BALANCE = 10_000_000
PAYOUT_SAT = (BALANCE - 31 * 1_000) // 1_000


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[FaultyChain]:
    chain = RegtestChain.open(tmp_path / "regtest")
    f = FaultyChain(chain)
    try:
        yield f
    finally:
        f.close()
        chain.close()


def _shop(ledger: LedgerStore, faulty: FaultyChain, **cfg: object) -> tuple[SettlementService,
                                                                          dict[str, bytes]]:
    support.fund_wallet(faulty.chain, ledger)
    svc = SettlementService(ledger, faulty, support.wallet(), support.config(**cfg))
    scripts = support.register(svc, ["alice"])
    support.earn(ledger, {"alice": BALANCE})
    return svc, scripts


def _only(svc: SettlementService) -> Settlement:
    found = svc.settlements(list(SettlementState))
    assert len(found) == 1, f"{len(found)} settlements: the payee was planned again"
    return found[0]


def _final(svc: SettlementService, faulty: FaultyChain, scripts: dict[str, bytes],
           ledger: LedgerStore) -> Settlement:
    """Run to final without faults; alice paid once, the books check out."""
    for _ in range(8):
        svc.run_cycle()
        if _only(svc).state is SettlementState.FINAL:
            break
        faulty.chain.mine(1)
    s = _only(svc)
    assert s.state is SettlementState.FINAL
    assert check_paid_once(ledger, faulty.chain, scripts) == {"alice": PAYOUT_SAT}
    check_books(ledger)
    check_reservations(ledger)
    check_wallet(ledger, faulty.chain)
    return s


@pytest.mark.parametrize(
    ("method", "fault", "error"),
    [
        ("tip", Fault.TIMEOUT, ChainUnavailable),
        ("fee_rate", Fault.RATE_LIMIT, RateLimited),
        ("utxos", Fault.SERVER_ERROR, ChainUnavailable),
    ],
)
def test_a_failing_backend_before_planning_reserves_nothing(
    ledger: LedgerStore, faulty: FaultyChain, method: str, fault: Fault,
    error: type[Exception],
) -> None:
    svc, scripts = _shop(ledger, faulty)
    faulty.fail(method, fault)
    with pytest.raises(error):
        svc.run_cycle()
    assert faulty.failed == [method]
    assert svc.settlements(list(SettlementState)) == [] and ledger.open_pending() == []
    _final(svc, faulty, scripts, ledger)


@pytest.mark.parametrize(
    ("fault", "refusal", "reason"),
    [
        (Fault.SERVER_ERROR, None, "HTTP 500"),
        (Fault.TIMEOUT, None, "timed out"),
        (None, (-26, "min relay fee not met, 100 < 141"), "min relay fee not met"),
        (None, (-26, "txn-mempool-conflict"), "txn-mempool-conflict"),
    ],
)
def test_a_failed_broadcast_is_retried_with_the_same_transaction(
    ledger: LedgerStore, faulty: FaultyChain, fault: Fault | None,
    refusal: tuple[int, str] | None, reason: str,
) -> None:
    svc, scripts = _shop(ledger, faulty)
    faulty.fail("broadcast", fault, refusal=refusal)
    report = svc.run_cycle()
    s = _only(svc)
    assert s.state is SettlementState.SIGNED and s.attempts == 1
    assert reason.lower() in s.last_error.lower(), s.last_error
    assert faulty.chain.mempool_txids() == []
    # said as it is: refused with the node's reason, or the backend not reached
    assert report.created_states == ((s.id, SettlementState.SIGNED),)
    [stall] = report.stalled
    problem = s.broadcast_problem
    assert problem is not None and problem.since_height == faulty.chain.tip().height
    assert reason.lower() in stall.detail.lower() and reason.lower() in problem.reason.lower()
    if refusal is not None:
        assert stall.kind is StallKind.BROADCAST_REFUSED and problem.reason == refusal[1]
        assert problem.failure is BroadcastFailure.REFUSED
    else:
        assert stall.kind is StallKind.BROADCAST_FAILED
        assert problem.failure is BroadcastFailure.UNREACHABLE
    check_reservations(ledger)
    done = _final(svc, faulty, scripts, ledger)
    assert done.id == s.id and done.versions == s.versions  # rebroadcast, never re-planned
    assert done.broadcast_problem is None and svc.stalled() == ()


def test_a_broadcast_whose_answer_was_lost_is_found_in_the_mempool(
    ledger: LedgerStore, faulty: FaultyChain
) -> None:
    svc, scripts = _shop(ledger, faulty)
    faulty.fail("broadcast", Fault.TIMEOUT, deliver=True)
    svc.run_cycle()
    s = _only(svc)
    assert s.state is SettlementState.SIGNED
    assert faulty.chain.mempool_txids() == [s.versions[0].txid]
    svc.run_cycle()
    assert _only(svc).state is SettlementState.BROADCAST  # seen in the mempool: marked, not resent
    assert _final(svc, faulty, scripts, ledger).versions == s.versions


def test_a_dropped_transaction_is_rebroadcast_through_backend_errors(
    ledger: LedgerStore, faulty: FaultyChain
) -> None:
    svc, scripts = _shop(ledger, faulty, bump_after_blocks=10)
    svc.run_cycle()
    s = _only(svc)
    txid = s.versions[0].txid
    assert s.state is SettlementState.BROADCAST
    assert faulty.chain.drop_from_mempool(txid) == [txid]
    faulty.fail("broadcast", Fault.SERVER_ERROR, times=2)
    svc.run_cycle()
    svc.run_cycle()
    s = _only(svc)
    assert s.state is SettlementState.BROADCAST and s.attempts == 2  # never voided or re-planned
    assert faulty.chain.mempool_txids() == []
    faulty.fail("outspend", Fault.SERVER_ERROR)
    with pytest.raises(ChainUnavailable):
        svc.run_cycle()
    assert _only(svc) == s
    svc.run_cycle()
    assert faulty.chain.mempool_txids() == [txid]  # the stored raw transaction, sent again
    assert _final(svc, faulty, scripts, ledger).confirmed_txid == txid


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5, 6])
def test_a_reorg_of_1_to_6_blocks_pays_once(
    ledger: LedgerStore, faulty: FaultyChain, depth: int
) -> None:
    """Confirmed ``depth`` deep (N = 7), then a longer branch without it: back to broadcast,
    and paid once. The orphaned payout stays in the mempool, is dropped, or is confirmed
    again by the new branch, in turn."""
    svc, scripts = _shop(ledger, faulty, confirmations=7, bump_after_blocks=20)
    svc.run_cycle()
    txid = _only(svc).versions[0].txid
    for _ in range(depth):
        faulty.chain.mine(1)
        svc.run_cycle()
    s = _only(svc)
    assert (s.state, s.confirmations, s.confirmed_txid) == (SettlementState.CONFIRMED, depth, txid)
    variant = ("kept", "dropped", "reconfirmed")[depth % 3]
    faulty.chain.reorg(depth, include_mempool=variant == "reconfirmed")
    if variant == "dropped":
        faulty.chain.drop_from_mempool(txid)
    svc.run_cycle()
    s = _only(svc)
    if variant == "reconfirmed":
        assert (s.state, s.confirmed_txid, s.confirmations) == (
            SettlementState.CONFIRMED, txid, depth + 1)
    else:
        assert (s.state, s.confirmations) == (SettlementState.BROADCAST, 0)
        assert faulty.chain.mempool_txids() == [txid]
    check_reservations(ledger)
    assert _final(svc, faulty, scripts, ledger).confirmed_txid == txid


def test_rpc_500_without_a_json_body_is_retried_then_unavailable(faulty: FaultyChain) -> None:
    """Regression: a proxy's HTTP 500 page was a ChainProtocolError, never retried."""
    rpc, server = faulty.rpc, faulty.server
    server.inject(Fault.SERVER_ERROR, times=1)
    assert rpc.tip().height == 0  # one 500, then the answer
    server.inject(Fault.SERVER_ERROR, times=3)
    with pytest.raises(ChainUnavailable, match="500"):
        rpc.tip()
    before = len(server.requests)
    assert rpc.raw_transaction("ab" * 32) is None  # Core's own 500 (JSON-RPC -5): not retried
    assert len(server.requests) == before + 1
