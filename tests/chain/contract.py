"""The ChainBackend contract, shared by every adapter's tests.

Each adapter's test sets up a chain (embedded regtest, or a local fake
answering as Bitcoin Core / Esplora do) holding known facts, describes them in
a :class:`ContractFacts`, and calls :func:`check_backend_contract`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bitcache.bitcoin.transaction import parse_transaction
from bitcache.chain.protocol import ChainBackend, OutPoint
from bitcache.errors import BroadcastRejected, ChainError

UNKNOWN_TXID = "ee" * 32


@dataclass(frozen=True)
class ContractFacts:
    """What the backend under test is known to hold."""

    #: A script with the confirmed, unspent output ``funding_txid:funding_vout``.
    script: bytes
    funding_txid: str
    funding_vout: int
    funding_value_sat: int
    #: A confirmed outpoint and the confirmed transaction spending it (input ``spender_vin``).
    spent: OutPoint
    spender_txid: str
    spender_vin: int = 0


def check_backend_contract(backend: ChainBackend, facts: ContractFacts) -> None:
    """Assert the protocol's promises against ``backend`` and ``facts``."""
    assert isinstance(backend, ChainBackend)
    assert backend.network.is_test
    tip = backend.tip()
    assert tip.height >= 0 and len(tip.block_hash) == 64
    assert backend.block_hash(tip.height) == tip.block_hash
    with pytest.raises(ChainError):
        backend.block_hash(tip.height + 1)

    funding = OutPoint(facts.funding_txid, facts.funding_vout)
    [utxo] = [u for u in backend.utxos([facts.script]) if u.outpoint == funding]
    assert utxo.value_sat == facts.funding_value_sat and utxo.script_pubkey == facts.script
    assert utxo.height is not None and utxo.height <= tip.height

    status = backend.tx_status(facts.funding_txid)
    assert status.known and status.confirmed and status.block_height == utxo.height
    assert status.confirmations == tip.height - utxo.height + 1 == utxo.confirmations(tip.height)
    assert status.block_hash == backend.block_hash(utxo.height)
    raw = backend.raw_transaction(facts.funding_txid)
    assert raw is not None and parse_transaction(raw).txid == facts.funding_txid

    spend = backend.outspend(facts.spent)
    assert (spend.spent, spend.txid, spend.vin, spend.confirmed) == (
        True,
        facts.spender_txid,
        facts.spender_vin,
        True,
    )
    assert backend.outspend(funding).spent is False

    assert backend.tx_status(UNKNOWN_TXID).known is False
    assert backend.raw_transaction(UNKNOWN_TXID) is None
    rate = backend.fee_rate(2)
    assert isinstance(rate, int) and rate > 0
    with pytest.raises(BroadcastRejected):
        backend.broadcast(bytes.fromhex("0200000000"))
