"""Fixtures for the embedded regtest chain: an open chain, keys, signed spends.

Signing here is test-only: python-bitcoinlib builds and hashes (BIP143) the
transaction, coincurve (libsecp256k1) signs it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import coincurve
import pytest
from bitcoin.core import (
    CMutableTransaction,
    COutPoint,
    CScript,
    CTxIn,
    CTxInWitness,
    CTxOut,
    CTxWitness,
    Hash160,
    lx,
)
from bitcoin.core.script import (
    OP_CHECKSIG,
    OP_DUP,
    OP_EQUALVERIFY,
    OP_HASH160,
    SIGHASH_ALL,
    SIGVERSION_WITNESS_V0,
    CScriptWitness,
    SignatureHash,
)

from bitcache.chain.regtest import ANYONE_CAN_SPEND_WITNESS_SCRIPT, RegtestChain
from bitcache.core.utxo import OutPoint

#: nSequence that signals BIP125 replaceability and leaves lock times enabled.
RBF_SEQUENCE = 0xFFFFFFFD
Coin = tuple[OutPoint, int]
Output = tuple[bytes, int]


class P2wpkhKey:
    """A deterministic test key that can sign P2WPKH spends."""

    def __init__(self, label: str) -> None:
        self._key = coincurve.PrivateKey(hashlib.sha256(label.encode()).digest())
        self.pubkey = self._key.public_key.format(compressed=True)
        self.script = b"\x00\x14" + Hash160(self.pubkey)

    def spend(
        self,
        coins: Sequence[Coin],
        outputs: Sequence[Output],
        *,
        sequence: int = RBF_SEQUENCE,
        locktime: int = 0,
        corrupt_signature: bool = False,
    ) -> bytes:
        """A signed transaction spending ``coins`` (all paying this key) to ``outputs``."""
        tx = _unsigned(coins, outputs, sequence, locktime)
        code = CScript([OP_DUP, OP_HASH160, Hash160(self.pubkey), OP_EQUALVERIFY, OP_CHECKSIG])
        witnesses = []
        for i, (_, value) in enumerate(coins):
            digest = SignatureHash(code, tx, i, SIGHASH_ALL, value, SIGVERSION_WITNESS_V0)
            if corrupt_signature:
                digest = hashlib.sha256(digest).digest()
            sig = self._key.sign(digest, hasher=None) + bytes([SIGHASH_ALL])
            witnesses.append(CTxInWitness(CScriptWitness([sig, self.pubkey])))
        tx.wit = CTxWitness(witnesses)
        return bytes(tx.serialize())


def anyone_spend(coins: Sequence[Coin], outputs: Sequence[Output]) -> bytes:
    """Spend outputs paying the chain's default anyone-can-spend coinbase script."""
    tx = _unsigned(coins, outputs, RBF_SEQUENCE, 0)
    wit = CScriptWitness([ANYONE_CAN_SPEND_WITNESS_SCRIPT])
    tx.wit = CTxWitness([CTxInWitness(wit) for _ in coins])
    return bytes(tx.serialize())


def _unsigned(
    coins: Sequence[Coin], outputs: Sequence[Output], sequence: int, locktime: int
) -> CMutableTransaction:
    vin = [CTxIn(COutPoint(lx(op.txid), op.vout), nSequence=sequence) for op, _ in coins]
    vout = [CTxOut(value, CScript(script)) for script, value in outputs]
    return CMutableTransaction(vin, vout, nLockTime=locktime, nVersion=2)


class FrozenClock:
    """A clock that only moves when told to."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def regtest_chain(tmp_path: Path) -> Iterator[RegtestChain]:
    """A fresh regtest chain at height 0, in its own folder, closed afterwards."""
    chain = RegtestChain.open(tmp_path / "regtest")
    try:
        yield chain
    finally:
        chain.close()


@pytest.fixture
def key() -> P2wpkhKey:
    return P2wpkhKey("bitcache regtest key A")


@pytest.fixture
def other_key() -> P2wpkhKey:
    return P2wpkhKey("bitcache regtest key B")


@pytest.fixture
def funded_chain(regtest_chain: RegtestChain, key: P2wpkhKey) -> RegtestChain:
    """101 blocks paying ``key``: the first coinbase (50 BTC) is mature."""
    regtest_chain.mine(101, to_script=key.script)
    return regtest_chain


@pytest.fixture
def spend_anyone() -> object:
    """The :func:`anyone_spend` builder, for tests (conftest is not importable by name)."""
    return anyone_spend
