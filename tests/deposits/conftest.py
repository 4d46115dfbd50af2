"""Deposit fixtures: a ledger on each engine, a regtest chain with a faucet, a wallet.

The faucet spends the chain's anyone-can-spend coinbase outputs (the default
coinbase destination of the embedded chain), so tests need no signing keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from bitcoin.core import (
    CMutableTransaction,
    COutPoint,
    CScript,
    CTxIn,
    CTxInWitness,
    CTxOut,
    CTxWitness,
    lx,
)
from bitcoin.core.script import CScriptWitness

from bitcache.chain.regtest import (
    ANYONE_CAN_SPEND_SCRIPT,
    ANYONE_CAN_SPEND_WITNESS_SCRIPT,
    RegtestChain,
)
from bitcache.core.utxo import OutPoint
from bitcache.network import Network
from bitcache.services.deposits import DepositService
from bitcache.store.ledger import LedgerStore
from bitcache.wallet import HDWallet

ABANDON = (
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
)
OTHER = "legal winner thank year wave sausage worth useful legal winner thank yellow"
COIN = 100_000_000
FEE = 2_000
N = 3  # confirmations the tests ask for


def anyone_spend(coin: OutPoint, outputs: Sequence[tuple[bytes, int]]) -> bytes:
    """A transaction spending one anyone-can-spend coinbase output to ``outputs``."""
    vin = [CTxIn(COutPoint(lx(coin.txid), coin.vout), nSequence=0xFFFFFFFD)]
    vout = [CTxOut(value, CScript(script)) for script, value in outputs]
    tx = CMutableTransaction(vin, vout, nLockTime=0, nVersion=2)
    tx.wit = CTxWitness([CTxInWitness(CScriptWitness([ANYONE_CAN_SPEND_WITNESS_SCRIPT]))])
    return bytes(tx.serialize())


class Faucet:
    """Pays scripts from mature anyone-can-spend coinbase outputs, one coin per payment."""

    def __init__(self, chain: RegtestChain) -> None:
        self.chain = chain
        self._used: set[OutPoint] = set()

    def coin(self) -> tuple[OutPoint, int]:
        """A mature coinbase coin not used by this faucet yet."""
        tip = self.chain.tip().height
        for u in self.chain.utxos([ANYONE_CAN_SPEND_SCRIPT]):
            if u.height is not None and tip - u.height >= 100 and u.outpoint not in self._used:
                self._used.add(u.outpoint)
                return u.outpoint, u.value_sat
        raise AssertionError("the faucet ran dry: mine more blocks")

    def payment(
        self, outputs: Sequence[tuple[bytes, int]], coin: tuple[OutPoint, int] | None = None
    ) -> tuple[bytes, tuple[OutPoint, int]]:
        """A raw transaction paying ``outputs`` (change back to the faucet), and its coin."""
        coin = coin or self.coin()
        change = coin[1] - sum(v for _, v in outputs) - FEE
        return anyone_spend(coin[0], [*outputs, (ANYONE_CAN_SPEND_SCRIPT, change)]), coin

    def pay(self, script: bytes, amount: int) -> tuple[str, tuple[OutPoint, int]]:
        """Broadcast a payment of ``amount`` sats to ``script``; its txid and the coin spent."""
        raw, coin = self.payment([(script, amount)])
        return self.chain.broadcast(raw), coin

    def conflict(self, coin: tuple[OutPoint, int]) -> bytes:
        """A transaction spending ``coin`` back to the faucet: it double-spends a payment."""
        return anyone_spend(coin[0], [(ANYONE_CAN_SPEND_SCRIPT, coin[1] - 2 * FEE)])


@pytest.fixture(scope="session")
def wallet() -> HDWallet:
    return HDWallet.from_mnemonic(ABANDON, Network.REGTEST)


@pytest.fixture(scope="session")
def other_wallet() -> HDWallet:
    return HDWallet.from_mnemonic(OTHER, Network.REGTEST)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[RegtestChain]:
    """A regtest chain at height 110: ten mature anyone-can-spend coinbase coins."""
    opened = RegtestChain.open(tmp_path / "chain")
    opened.mine(110)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def faucet(chain: RegtestChain) -> Faucet:
    return Faucet(chain)


@pytest.fixture
def ledger(db_url: str) -> Iterator[LedgerStore]:
    store = LedgerStore.open(db_url)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def make_service(
    ledger: LedgerStore, wallet: HDWallet, chain: RegtestChain
) -> Callable[..., DepositService]:
    """DepositService factory; defaults: this ledger, wallet and chain, N = 3."""

    def make(**kw: object) -> DepositService:
        args: dict[str, object] = {"ledger": ledger, "wallet": wallet, "chain": chain}
        args.update(kw)
        options = {k: args.pop(k) for k in list(args) if k not in ("ledger", "wallet", "chain")}
        options.setdefault("confirmations", N)
        return DepositService(args["ledger"], args["wallet"], args["chain"], **options)  # type: ignore[arg-type]

    return make


@pytest.fixture
def service(make_service: Callable[..., DepositService]) -> DepositService:
    return make_service()


def assert_books_ok(ledger: LedgerStore) -> None:
    """The ledger's invariants: trial balance zero and an intact hash chain."""
    assert ledger.trial_balance() == 0
    report = ledger.verify()
    assert report.ok, report


def entry_count(ledger: LedgerStore) -> int:
    return ledger.head()[0]
