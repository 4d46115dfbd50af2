"""The deposit scanner on the embedded regtest chain: credited once after N confirmations,
never before, and reorgs after a credit reported loudly."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
from sqlalchemy import text

from bitcache.chain.protocol import TxStatus
from bitcache.chain.regtest import RegtestChain
from bitcache.core.accounts import OPERATOR_EQUITY, WALLET
from bitcache.core.tip import Tip
from bitcache.core.utxo import OutPoint, Utxo
from bitcache.errors import (
    ChainProtocolError,
    ChainUnavailable,
    GapLimitExceeded,
    ReorgTooDeep,
    WalletMismatch,
)
from bitcache.network import Network
from bitcache.services.deposits import DepositService, ScanReport
from bitcache.store.deposits import DepositStatus
from bitcache.store.ledger import LedgerStore
from bitcache.wallet import HDWallet
from tests.deposits.conftest import COIN, Faucet, N, assert_books_ok, entry_count

ALICE = "liability:prepaid:alice"


def script_of(service: DepositService, downloader: str) -> bytes:
    address = service.deposit_address(downloader)
    return next(a.script_pubkey for a in service.addresses() if a.address == address)


def prepaid_msat(ledger: LedgerStore, account: str = ALICE) -> int:
    return -ledger.balance(account).posted


def test_deposit_is_credited_once_after_n_confirmations(
    service: DepositService, ledger: LedgerStore, chain: RegtestChain, faucet: Faucet
) -> None:
    txid, _ = faucet.pay(script_of(service, "alice"), COIN // 100)
    for confs in range(N):
        report = service.scan()
        assert report.credited == () and entry_count(ledger) == 0
        assert [(w.outpoint, w.confirmations) for w in report.waiting] == [
            (OutPoint(txid, 0), confs)
        ]
        chain.mine(1)
    report = service.scan()
    [deposit] = report.credited
    assert deposit.outpoint == OutPoint(txid, 0) and deposit.value_sat == COIN // 100
    assert deposit.block_hash == chain.tx_status(txid).block_hash
    assert prepaid_msat(ledger) == COIN // 100 * 1000
    assert ledger.balance(WALLET).posted == COIN // 100 * 1000
    entry = ledger.entry_by_key(f"deposit:{txid}:0")
    assert entry is not None and entry.id == deposit.entry_id
    assert {p.account: p.amount for p in entry.postings} == {
        WALLET: COIN * 10, ALICE: -COIN * 10,
    }
    assert service.scan_state() is not None and service.scan_state().tip == chain.tip()  # type: ignore[union-attr]
    assert_books_ok(ledger)


def test_rescans_are_idempotent(
    service: DepositService, make_service: Callable[..., DepositService],
    ledger: LedgerStore, chain: RegtestChain, faucet: Faucet,
) -> None:
    faucet.pay(script_of(service, "alice"), 5_000)
    chain.mine(N)
    assert len(service.scan().credited) == 1
    head = ledger.head()
    for scanner in (service, make_service(), make_service(confirmations=1)):
        report = scanner.scan()
        assert report.credited == () and report.seen_credited == 1
    chain.mine(5)
    assert service.scan().seen_credited == 1
    assert ledger.head() == head and prepaid_msat(ledger) == 5_000_000
    assert len(service.deposits()) == 1
    assert_books_ok(ledger)


def test_two_deposits_to_one_address_are_two_credits(
    service: DepositService, ledger: LedgerStore, chain: RegtestChain, faucet: Faucet
) -> None:
    script = script_of(service, "alice")
    first, _ = faucet.pay(script, 10_000)
    raw, _ = faucet.payment([(script, 20_000), (script, 30_000)])
    second = chain.broadcast(raw)
    chain.mine(N)
    report = service.scan()
    assert sorted((str(d.outpoint), d.value_sat) for d in report.credited) == sorted(
        [(f"{first}:0", 10_000), (f"{second}:0", 20_000), (f"{second}:1", 30_000)]
    )
    assert report.credited_sat == 60_000 and prepaid_msat(ledger) == 60_000_000
    assert_books_ok(ledger)


def test_deposits_credit_their_own_downloader(
    service: DepositService, ledger: LedgerStore, chain: RegtestChain, faucet: Faucet
) -> None:
    faucet.pay(script_of(service, "alice"), 7_000)
    faucet.pay(script_of(service, "bob"), 9_000)
    chain.mine(N)
    service.scan()
    assert prepaid_msat(ledger) == 7_000_000
    assert prepaid_msat(ledger, "liability:prepaid:bob") == 9_000_000
    assert_books_ok(ledger)


def test_reorg_before_n_confirmations_means_no_credit(
    service: DepositService, ledger: LedgerStore, chain: RegtestChain, faucet: Faucet
) -> None:
    txid, coin = faucet.pay(script_of(service, "alice"), 50_000)
    chain.mine(N - 1)
    assert [w.confirmations for w in service.scan().waiting] == [N - 1]
    chain.reorg(N - 1, new_blocks=N + 3, transactions=[faucet.conflict(coin)])
    assert chain.tx_status(txid).known is False
    report = service.scan()
    assert report.credited == () and report.waiting == ()
    chain.mine(N)
    assert service.scan().credited == ()
    assert entry_count(ledger) == 0 and service.deposits() == []


def test_reorg_after_credit_is_reported_and_kept_for_reconcile(
    service: DepositService, ledger: LedgerStore, chain: RegtestChain, faucet: Faucet
) -> None:
    txid, coin = faucet.pay(script_of(service, "alice"), 40_000)
    chain.mine(N)
    [credited] = service.scan().credited
    chain.reorg(N + 1, new_blocks=N + 3, transactions=[faucet.conflict(coin)])
    with pytest.raises(ReorgTooDeep, match=f"{txid}:0") as info:
        service.scan()
    assert info.value.outpoints == (f"{txid}:0",)
    [stranded] = service.reorged_deposits()
    assert stranded.deposit.outpoint == credited.outpoint and stranded.reversed_by is None
    assert stranded.deposit.status is DepositStatus.REORGED
    assert prepaid_msat(ledger) == 40_000_000  # never silently absorbed: the credit stands
    assert service.credited_deposits() == []
    assert service.scan().reorged == ()  # reported once; reconcile keeps it visible
    assert len(service.reorged_deposits()) == 1
    assert_books_ok(ledger)

    reversal = ledger.reverse(credited.entry_id, f"reverse-deposit:{txid}:0")  # operator
    assert service.reorged_deposits() == []
    [done] = service.reorged_deposits(include_reversed=True)
    assert done.reversed_by == reversal.id
    assert prepaid_msat(ledger) == 0
    assert_books_ok(ledger)


def test_credited_deposit_returning_to_the_mempool_is_reported_then_restored(
    service: DepositService, ledger: LedgerStore, chain: RegtestChain, faucet: Faucet
) -> None:
    txid, _ = faucet.pay(script_of(service, "alice"), 40_000)
    chain.mine(N)
    service.scan()
    chain.reorg(N, new_blocks=N + 1)  # the deposit goes back to the mempool, unconfirmed
    assert chain.tx_status(txid).confirmed is False
    with pytest.raises(ReorgTooDeep):
        service.scan()
    chain.mine(N - 1)
    report = service.scan()
    assert report.restored == () and report.waiting == ()  # N - 1 confirmations: still reorged
    chain.mine(1)
    [back] = service.scan().restored
    assert back.status is DepositStatus.CREDITED
    assert back.block_hash == chain.tx_status(txid).block_hash
    assert service.reorged_deposits() == [] and entry_count(ledger) == 1
    assert prepaid_msat(ledger) == 40_000_000
    assert_books_ok(ledger)


def test_credited_deposit_mined_again_in_the_new_branch_moves(
    service: DepositService, ledger: LedgerStore, chain: RegtestChain, faucet: Faucet
) -> None:
    txid, _ = faucet.pay(script_of(service, "alice"), 40_000)
    chain.mine(N)
    [before] = service.scan().credited
    chain.reorg(N, include_mempool=True)
    report = service.scan()
    [moved] = report.moved
    assert moved.block_hash == chain.tx_status(txid).block_hash != before.block_hash
    assert service.credited_deposits() == [moved] and service.reorged_deposits() == []
    assert entry_count(ledger) == 1
    assert service.scan().moved == ()  # the new block is on record


def test_operator_funding_is_booked_against_equity(
    service: DepositService, ledger: LedgerStore, chain: RegtestChain, faucet: Faucet,
    wallet: HDWallet,
) -> None:
    funding = service.funding_address()
    assert funding == wallet.receive_key(0).address
    script = next(a.script_pubkey for a in service.addresses() if a.address == funding)
    txid, _ = faucet.pay(script, 3 * COIN)
    chain.mine(N)
    [deposit] = service.scan().credited
    assert deposit.account == OPERATOR_EQUITY
    entry = ledger.entry_by_key(f"funding:{txid}:0")
    assert entry is not None
    assert {p.account: p.amount for p in entry.postings} == {
        WALLET: 3 * COIN * 1000, OPERATOR_EQUITY: -3 * COIN * 1000,
    }
    assert ledger.balance(OPERATOR_EQUITY).posted == -3 * COIN * 1000
    assert service.scan().credited == ()
    assert_books_ok(ledger)


def test_watch_only_wallet_credits_deposits(
    make_service: Callable[..., DepositService], ledger: LedgerStore, chain: RegtestChain,
    faucet: Faucet, wallet: HDWallet,
) -> None:
    watch = make_service(wallet=HDWallet.watch_only(wallet.account_xpub(), Network.REGTEST))
    faucet.pay(script_of(watch, "alice"), 12_345)
    chain.mine(N)
    assert watch.scan().credited_sat == 12_345
    assert prepaid_msat(ledger) == 12_345_000
    assert_books_ok(ledger)


def test_funded_addresses_open_the_gap_limit(
    make_service: Callable[..., DepositService], chain: RegtestChain, faucet: Faucet
) -> None:
    service = make_service(gap_limit=2)
    faucet.pay(script_of(service, "d1"), 1_000)  # index 1; index 0 is the operator's
    with pytest.raises(GapLimitExceeded):
        service.deposit_address("d2")
    chain.mine(N - 1)
    service.scan()  # seen, not credited: not funded yet
    with pytest.raises(GapLimitExceeded):
        service.deposit_address("d2")
    chain.mine(1)
    service.scan()
    assert service.deposit_address("d2") and service.deposit_address("d3")  # indices 2, 3
    with pytest.raises(GapLimitExceeded):
        service.deposit_address("d4")


def test_a_thousand_unpaid_addresses_never_stall_issuing_and_the_last_is_found(
    service: DepositService, ledger: LedgerStore, chain: RegtestChain, faucet: Faucet
) -> None:
    """Visitors who ask for an address and never pay do not block the next one: bitcache
    scans every address it issued, so it needs no wallet-recovery gap limit."""
    addresses = [service.deposit_address(f"visitor{i}") for i in range(1, 1001)]
    assert len(set(addresses)) == 1000
    assert [a.index for a in service.addresses()] == list(range(1001))  # 0: the operator
    assert service.scan().credited == ()
    faucet.pay(script_of(service, "visitor1000"), 54_321)
    chain.mine(N)
    [credit] = service.scan().credited
    assert (credit.index, credit.account) == (1000, "liability:prepaid:visitor1000")
    assert prepaid_msat(ledger, "liability:prepaid:visitor1000") == 54_321_000
    assert service.deposit_address("visitor1001")  # and issuing goes on
    assert_books_ok(ledger)


def test_an_address_the_wallet_does_not_derive_is_refused_before_its_deposit_is_credited(
    make_service: Callable[..., DepositService], ledger: LedgerStore, chain: RegtestChain,
    faucet: Faucet, other_wallet: HDWallet,
) -> None:
    """A scan does not re-derive every unpaid address, but it checks each address that
    received an output before crediting it."""
    service = make_service()
    for name in ("d1", "d2", "d3"):
        service.deposit_address(name)
    foreign = other_wallet.receive_key(2)
    with ledger.write() as conn:  # a row that is not this wallet's (another seed's address)
        conn.execute(
            text("UPDATE deposit_addresses SET script_pubkey = :s, address = :a "
                 "WHERE derivation_index = 2"),
            {"s": foreign.script_pubkey, "a": foreign.address},
        )
    fresh = make_service()  # a new process: nothing checked yet
    assert fresh.scan().credited == ()  # first and last addresses are this wallet's
    faucet.pay(foreign.script_pubkey, 5_000)
    chain.mine(N)
    with pytest.raises(WalletMismatch, match="external index 2"):
        fresh.scan()
    assert fresh.deposits() == [] and entry_count(ledger) == 0


# --- a chain backend that misbehaves ---------------------------------------------


class Garbled:
    """Delegates to a real chain, but answers ``utxos`` and ``tx_status`` as told."""

    def __init__(self, chain: RegtestChain) -> None:
        self.chain = chain
        self.utxo_answer: Callable[[list[Utxo]], object] = lambda found: found
        self.status_answer: Callable[[TxStatus], object] = lambda status: status
        self.tips: list[Tip] = []

    @property
    def network(self) -> Network:
        return self.chain.network

    def tip(self) -> Tip:
        return self.tips.pop(0) if self.tips else self.chain.tip()

    def block_hash(self, height: int) -> str:
        return self.chain.block_hash(height)

    def utxos(self, scripts: Sequence[bytes]) -> object:
        return self.utxo_answer(self.chain.utxos(scripts))

    def received(self, scripts: Sequence[bytes], since_height: int) -> object:
        return self.utxo_answer(self.chain.received(scripts, since_height))

    def tx_status(self, txid: str) -> object:
        return self.status_answer(self.chain.tx_status(txid))

    def raw_transaction(self, txid: str) -> bytes | None:
        return self.chain.raw_transaction(txid)

    def outspend(self, outpoint: OutPoint) -> object:
        return self.chain.outspend(outpoint)

    def fee_rate(self, target_blocks: int) -> int:
        return self.chain.fee_rate(target_blocks)

    def relay_floor(self) -> int:
        return self.chain.relay_floor()

    def broadcast(self, raw_tx: bytes) -> str:
        return self.chain.broadcast(raw_tx)


def _replace_first(found: list[Utxo], **changes: object) -> list[Utxo]:
    import dataclasses

    return [dataclasses.replace(found[0], **changes), *found[1:]]  # type: ignore[arg-type]


GARBAGE: dict[str, Callable[[list[Utxo]], object]] = {
    "not a list": lambda found: {"utxos": found},
    "not a Utxo": lambda found: [("txid", 0, 1000)],
    "negative value": lambda found: _replace_first(found, value_sat=-1),
    "float value": lambda found: _replace_first(found, value_sat=1000.0),
    "script not asked": lambda found: _replace_first(found, script_pubkey=b"\x00\x14" + bytes(20)),
    "bad txid": lambda found: _replace_first(found, outpoint=OutPoint("zz" * 32, 0)),
    "negative vout": lambda found: _replace_first(found, outpoint=OutPoint("ab" * 32, -1)),
    "bad block hash": lambda found: _replace_first(found, block_hash="nope"),
    "twice, differently": lambda found: [*found, _replace_first(found, value_sat=1)[0]],
}


@pytest.mark.parametrize("engine_name", ["sqlite"])  # about the chain, not the database
@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_garbage_from_the_backend_writes_nothing(
    make_service: Callable[..., DepositService], ledger: LedgerStore, chain: RegtestChain,
    faucet: Faucet, kind: str,
) -> None:
    garbled = Garbled(chain)
    service = make_service(chain=garbled)
    faucet.pay(script_of(service, "alice"), 10_000)
    chain.mine(N)
    before = service.scan_state()  # the tip when the first address was issued
    garbled.utxo_answer = GARBAGE[kind]
    with pytest.raises(ChainProtocolError):
        service.scan()
    assert entry_count(ledger) == 0 and service.deposits() == [] and service.scan_state() == before
    garbled.utxo_answer = lambda found: found
    assert service.scan().credited_sat == 10_000


def test_failing_backend_during_recheck_writes_nothing(
    make_service: Callable[..., DepositService], ledger: LedgerStore, chain: RegtestChain,
    faucet: Faucet,
) -> None:
    garbled = Garbled(chain)
    service = make_service(chain=garbled)
    faucet.pay(script_of(service, "alice"), 10_000)
    chain.mine(N)
    service.scan()
    state = service.scan_state()
    chain.reorg(N, include_mempool=True)  # the block on record is gone

    def down(status: TxStatus) -> object:
        raise ChainUnavailable("connection refused")

    faucet.pay(script_of(service, "bob"), 20_000)
    chain.mine(N)
    for answer in (down, lambda s: TxStatus("ab" * 32, True, True, 5, "cd" * 32, 1)):
        garbled.status_answer = answer
        with pytest.raises((ChainUnavailable, ChainProtocolError)):
            service.scan()
        assert entry_count(ledger) == 1 and service.scan_state() == state
    garbled.status_answer = lambda s: s
    report = service.scan()
    assert report.credited_sat == 20_000 and len(report.moved) == 1


def test_a_moving_tip_is_read_again(
    make_service: Callable[..., DepositService], ledger: LedgerStore, chain: RegtestChain,
    faucet: Faucet,
) -> None:
    garbled = Garbled(chain)
    service = make_service(chain=garbled)
    faucet.pay(script_of(service, "alice"), 10_000)
    chain.mine(N)
    stale = Tip(chain.tip().height - 1, chain.block_hash(chain.tip().height - 1))
    garbled.tips = [stale]  # the first reading sees the tip move under it
    report: ScanReport = service.scan()
    assert report.tip == chain.tip() and report.credited_sat == 10_000
    chain.mine(1)
    garbled.tips = [stale, chain.tip()] * 3  # it moves under every reading
    with pytest.raises(ChainUnavailable, match="kept moving"):
        service.scan()
    assert entry_count(ledger) == 1
