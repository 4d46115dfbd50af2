"""The ChainBackend contract, shared by every adapter's tests.

Each adapter's test sets up a chain (embedded regtest, or a local fake
answering as Bitcoin Core / Esplora do) holding known facts, describes them in
a :class:`ContractFacts`, and calls :func:`check_backend_contract`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bitcache.bitcoin.transaction import parse_transaction
from bitcache.chain.protocol import ChainBackend
from bitcache.core.utxo import COINBASE_MATURITY, OutPoint
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
    #: The script and value of ``spent`` (``received`` lists it though it is spent).
    spent_script: bytes
    spent_value_sat: int
    #: A coinbase output under 100 confirmations, paying ``coinbase_script``.
    coinbase: OutPoint
    coinbase_script: bytes
    #: The node's relay floor, sat/kvB.
    relay_floor: int
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

    check_received(backend, facts, utxo.height)
    check_coinbase(backend, facts, funding)
    assert backend.relay_floor() == facts.relay_floor

    assert backend.tx_status(UNKNOWN_TXID).known is False
    assert backend.raw_transaction(UNKNOWN_TXID) is None
    rate = backend.fee_rate(2)
    assert isinstance(rate, int) and rate > 0
    with pytest.raises(BroadcastRejected):
        backend.broadcast(bytes.fromhex("0200000000"))


def check_received(backend: ChainBackend, facts: ContractFacts, funding_height: int) -> None:
    """``received`` lists outputs spent or not, from the height asked for."""
    funding = OutPoint(facts.funding_txid, facts.funding_vout)
    found = {u.outpoint: u for u in backend.received([facts.script, facts.spent_script], 0)}
    assert found[funding].value_sat == facts.funding_value_sat
    assert found[funding].height == funding_height
    spent = found[facts.spent]  # spent, and listed all the same
    assert (spent.value_sat, spent.script_pubkey) == (facts.spent_value_sat, facts.spent_script)
    assert spent.height is not None and spent.block_hash == backend.block_hash(spent.height)
    later = backend.received([facts.script], funding_height + 1)
    assert funding not in {u.outpoint for u in later}


def check_coinbase(backend: ChainBackend, facts: ContractFacts, funding: OutPoint) -> None:
    """A young coinbase output is flagged, and not mature; other outputs are not coinbase."""
    tip = backend.tip().height
    [young] = [u for u in backend.utxos([facts.coinbase_script]) if u.outpoint == facts.coinbase]
    assert young.coinbase and not young.mature(tip)
    assert young.confirmations(tip) < COINBASE_MATURITY
    [plain] = [u for u in backend.utxos([facts.script]) if u.outpoint == funding]
    assert not plain.coinbase and plain.mature(tip)
    [listed] = [u for u in backend.received([facts.coinbase_script], 0)
                if u.outpoint == facts.coinbase]
    assert listed.coinbase
