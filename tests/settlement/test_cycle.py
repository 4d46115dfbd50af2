"""Settlement cycles on the embedded regtest chain (Bitcoin Core's consensus engine)."""

from __future__ import annotations

from typing import Any

import pytest

from bitcache.bitcoin.transaction import parse_transaction
from bitcache.chain.regtest import RegtestChain
from bitcache.core.accounts import NETWORK_FEES, SETTLING, payable
from bitcache.errors import BroadcastRejected, ChainUnavailable, InvalidAddress, InvalidTransition
from bitcache.settlement.payouts import FeePayer, PayoutPolicy
from bitcache.settlement.states import SettlementState
from bitcache.store.ledger import LedgerStore
from tests.settlement.support import (
    check_books,
    config,
    earn,
    fund_wallet,
    payee_address,
    payout_entries,
    received,
    register,
    service,
)

EARNINGS = {"alice": 50_000_123, "bob": 20_000_999, "carol": 7_000_500}


def run_to_final(svc: Any, chain: RegtestChain, sid: int, blocks: int = 6) -> None:
    for _ in range(blocks):
        svc.run_cycle()
        if svc.settlement(sid).state is SettlementState.FINAL:
            return
        chain.mine(1)
    raise AssertionError(f"settlement {sid} is {svc.settlement(sid).state} after {blocks} blocks")


def expected_payout(balance_msat: int, vbytes: int = 31, rate: int = 1_000) -> int:
    return (balance_msat - vbytes * rate) // 1000


def test_a_cycle_pays_every_uploader_once_and_books_match_the_wallet(
    any_ledger: LedgerStore, chain: RegtestChain
) -> None:
    fund_wallet(chain, any_ledger)
    svc = service(any_ledger, chain)
    scripts = register(svc, [*EARNINGS, "dave"])
    earn(any_ledger, {**EARNINGS, "dave": 900_000})  # dave: under the 1,000-sat minimum
    report = svc.run_cycle()
    (sid,) = report.created
    s = svc.settlement(sid)
    assert s.state is SettlementState.BROADCAST
    assert [(x.uploader, x.reason.value) for x in report.skipped] == [("dave", "below_minimum")]
    assert any_ledger.balance(SETTLING).pending_credits == sum(p.reserved_msat for p in s.payouts)
    run_to_final(svc, chain, sid)
    s = svc.settlement(sid)
    assert s.confirmations == 3 and s.confirmed_txid == s.versions[0].txid
    for name, balance in EARNINGS.items():
        assert received(chain, scripts[name]) == expected_payout(balance)
        assert payout_entries(any_ledger, name) == [
            (f"payout {s.confirmed_txid} sent {expected_payout(balance)} sat, fee share 31000 msat",
             expected_payout(balance) * 1000 + 31_000)
        ]
        assert -any_ledger.balance(payable(name)).posted == balance % 1000  # sub-sat remainder
    assert received(chain, scripts["dave"]) == 0
    fee = s.versions[0].fee_sat
    assert any_ledger.balance(NETWORK_FEES).posted == fee * 1000 - 3 * 31_000
    check_books(any_ledger, chain)
    later = svc.run_cycle()
    assert later.created == () and later.advanced == ()


def test_platform_pays_the_fee_policy(ledger: LedgerStore, chain: RegtestChain) -> None:
    fund_wallet(chain, ledger)
    cfg = config(payout=PayoutPolicy(min_payout_sat=1_000, fee_payer=FeePayer.PLATFORM))
    svc = service(ledger, chain, cfg)
    scripts = register(svc, ["alice"])
    earn(ledger, {"alice": 50_000_123})
    (sid,) = svc.run_cycle().created
    run_to_final(svc, chain, sid)
    assert received(chain, scripts["alice"]) == 50_000
    fee = svc.settlement(sid).versions[0].fee_sat
    assert ledger.balance(NETWORK_FEES).posted == fee * 1000
    check_books(ledger, chain)


@pytest.mark.parametrize("kind", ["p2pkh", "p2sh", "p2wsh", "p2tr"])
def test_every_standard_output_type_is_paid(
    ledger: LedgerStore, chain: RegtestChain, kind: str
) -> None:
    fund_wallet(chain, ledger, coins=1)
    svc = service(ledger, chain)
    scripts = register(svc, ["alice"], kind)
    earn(ledger, {"alice": 10_000_000})
    (sid,) = svc.run_cycle().created
    run_to_final(svc, chain, sid)
    vbytes = {"p2pkh": 34, "p2sh": 32, "p2wsh": 43, "p2tr": 43}[kind]
    assert received(chain, scripts["alice"]) == expected_payout(10_000_000, vbytes)
    check_books(ledger, chain)


def test_an_address_change_applies_to_future_payouts_only(
    ledger: LedgerStore, chain: RegtestChain
) -> None:
    fund_wallet(chain, ledger)
    svc = service(ledger, chain)
    old = register(svc, ["alice"])["alice"]
    earn(ledger, {"alice": 10_000_000})
    (first,) = svc.run_cycle().created
    new_address, new = payee_address("alice-new")
    svc.register_payout_address("alice", new_address)
    run_to_final(svc, chain, first)
    assert received(chain, old) == expected_payout(10_000_000) and received(chain, new) == 0
    earn(ledger, {"alice": 5_000_000}, tag="2")
    (second,) = svc.run_cycle().created
    run_to_final(svc, chain, second)
    assert received(chain, new) == expected_payout(5_000_000 + 10_000_000 % 1000)
    assert [a.address for a in svc.payout_address_history("alice")][-1] == new_address
    with pytest.raises(InvalidAddress):
        svc.register_payout_address("bob", payee_address("bob")[0].replace("bcrt", "tb"))
    check_books(ledger, chain)


def test_an_anchor_rides_as_an_op_return_output(ledger: LedgerStore, chain: RegtestChain) -> None:
    fund_wallet(chain, ledger, coins=1)
    svc = service(ledger, chain)
    register(svc, ["alice"])
    earn(ledger, {"alice": 10_000_000})
    anchor = bytes(range(32))
    (sid,) = svc.run_cycle(anchor=anchor).created
    run_to_final(svc, chain, sid)
    raw = chain.raw_transaction(svc.settlement(sid).confirmed_txid or "")
    assert raw is not None
    outputs = parse_transaction(raw).outputs
    assert [(o.value_sat, o.script_pubkey) for o in outputs if o.value_sat == 0] == [
        (0, b"\x6a\x20" + anchor)
    ]
    check_books(ledger, chain)


def test_batches_split_into_several_transactions(ledger: LedgerStore, chain: RegtestChain) -> None:
    fund_wallet(chain, ledger, coins=3)
    payout = PayoutPolicy(min_payout_sat=1_000, max_outputs_per_tx=2)
    svc = service(ledger, chain, config(payout=payout, max_in_flight=3))
    names = [f"u{i}" for i in range(5)]
    scripts = register(svc, names)
    earn(ledger, dict.fromkeys(names, 3_000_000))
    created = svc.run_cycle().created
    assert len(created) == 3
    txids = {svc.settlement(sid).versions[0].txid for sid in created}
    assert len(txids) == 3
    for _ in range(4):
        chain.mine(1)
        svc.run_cycle()
    assert all(svc.settlement(sid).state is SettlementState.FINAL for sid in created)
    for name in names:
        assert received(chain, scripts[name]) == expected_payout(3_000_000)
        assert len(payout_entries(ledger, name)) == 1
    check_books(ledger, chain)


class FlakyChain:
    """A regtest chain whose broadcast fails the first ``failures`` times."""

    def __init__(self, chain: RegtestChain, failures: list[Exception]) -> None:
        self._chain = chain
        self.failures = failures
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chain, name)

    @property
    def network(self) -> Any:
        return self._chain.network

    def broadcast(self, raw: bytes) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return self._chain.broadcast(raw)


def test_broadcast_errors_are_retried_never_replanned(
    ledger: LedgerStore, chain: RegtestChain
) -> None:
    fund_wallet(chain, ledger)
    flaky = FlakyChain(
        chain, [ChainUnavailable("timeout"), BroadcastRejected("mempool full", reason="full")]
    )
    svc = service(ledger, flaky, config(max_in_flight=3))  # type: ignore[arg-type]
    scripts = register(svc, ["alice", "bob"])
    earn(ledger, {"alice": 10_000_000, "bob": 10_000_000})
    (sid,) = svc.run_cycle().created
    s = svc.settlement(sid)
    assert s.state is SettlementState.SIGNED and s.attempts == 1 and "timeout" in s.last_error
    assert svc.run_cycle().created == ()  # the payees are reserved: never planned again
    s = svc.settlement(sid)
    assert s.state is SettlementState.SIGNED and s.attempts == 2 and "mempool full" in s.last_error
    chain.mine(1)  # blocks go by without the transaction: still no re-plan
    assert svc.run_cycle().created == ()
    s = svc.settlement(sid)
    assert s.state is SettlementState.BROADCAST and len(s.versions) == 1
    run_to_final(svc, chain, sid)
    for name in ("alice", "bob"):
        assert received(chain, scripts[name]) == expected_payout(10_000_000)
    assert len(svc.settlements([SettlementState.FINAL, SettlementState.VOID])) == 1
    check_books(ledger, chain)


def test_a_transaction_dropped_from_the_mempool_is_rebroadcast(
    ledger: LedgerStore, chain: RegtestChain
) -> None:
    fund_wallet(chain, ledger)
    svc = service(ledger, chain, config(max_in_flight=3))
    scripts = register(svc, ["alice"])
    earn(ledger, {"alice": 10_000_000})
    (sid,) = svc.run_cycle().created
    txid = svc.settlement(sid).versions[0].txid
    assert chain.drop_from_mempool(txid) == [txid]
    chain.mine(1)
    report = svc.run_cycle()
    assert report.created == () and txid in chain.mempool_txids()
    run_to_final(svc, chain, sid)
    assert received(chain, scripts["alice"]) == expected_payout(10_000_000)
    check_books(ledger, chain)


def test_abandon_is_refused_while_a_version_can_confirm(
    ledger: LedgerStore, chain: RegtestChain
) -> None:
    fund_wallet(chain, ledger)
    svc = service(ledger, chain)
    register(svc, ["alice"])
    earn(ledger, {"alice": 10_000_000})
    (sid,) = svc.run_cycle().created
    with pytest.raises(InvalidTransition, match="cannot be abandoned"):
        svc.abandon(sid, "stuck")
    chain.drop_from_mempool(svc.settlement(sid).versions[0].txid)
    s = svc.abandon(sid, "operator: never confirmed")
    assert s.state is SettlementState.VOID and s.reason == "abandoned: operator: never confirmed"
    assert -ledger.balance(payable("alice")).posted == 10_000_000
    assert ledger.balance(payable("alice")).pending_debits == 0
    with pytest.raises(InvalidTransition, match="already void"):
        svc.abandon(sid, "again")
