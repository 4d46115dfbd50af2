"""Functional tests of the embedded regtest chain (Bitcoin Core's consensus engine)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from bitcoin.core import CTransaction, b2lx
from contract import ContractFacts, check_backend_contract

from bitcache.bitcoin.script import script_num_push
from bitcache.bitcoin.transaction import Transaction, parse_transaction
from bitcache.chain.blocks import block_subsidy
from bitcache.chain.mempool import RelayPolicy
from bitcache.chain.protocol import ChainBackend
from bitcache.chain.regtest import ANYONE_CAN_SPEND_SCRIPT, RegtestChain
from bitcache.core.utxo import OutPoint
from bitcache.errors import (
    BlockRejected,
    BroadcastRejected,
    ChainError,
    ChainUnavailable,
    FeeTooLow,
    InputsMissingOrSpent,
    InvalidInput,
    NonStandardTransaction,
)
from bitcache.network import Network

COIN = 100_000_000
FEE = 1_000
REGTEST_GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def mature_coin(chain: RegtestChain, script: bytes, height: int = 1) -> tuple[OutPoint, int]:
    [utxo] = [u for u in chain.utxos([script]) if u.height == height]
    return utxo.outpoint, utxo.value_sat


def pay(key, coin, to_script, amount, fee=FEE, **kw):
    """Pay ``amount`` to ``to_script`` with change back to ``key``."""
    return key.spend([coin], [(to_script, amount), (key.script, coin[1] - amount - fee)], **kw)


# --- encodings ----------------------------------------------------------------


def test_bip143_signed_transaction_parses_and_reserializes() -> None:
    vector = json.loads((VECTORS / "bip143.json").read_text())["native_p2wpkh"]
    raw = bytes.fromhex(vector["signed_tx"])
    tx = parse_transaction(raw)
    rebuilt = Transaction(tx.version, tx.inputs, tx.outputs, tx.locktime, tx.witnesses)
    assert rebuilt.serialize() == raw
    assert tx.txid == b2lx(CTransaction.deserialize(raw).GetTxid())
    assert tx.witnesses[1][1].hex() == vector["public_key"]
    assert tx.outputs[0].value_sat == 112_340_000
    with pytest.raises(InvalidInput):
        parse_transaction(raw[:-1])
    with pytest.raises(InvalidInput):
        parse_transaction(raw + b"\x00")


@pytest.mark.parametrize(
    ("height", "push"),
    [
        (0, "00"),
        (1, "51"),
        (16, "60"),
        (17, "0111"),
        (127, "017f"),
        (128, "028000"),
        (255, "02ff00"),
        (256, "020001"),
        (65536, "03000001"),
    ],
)
def test_bip34_height_push(height: int, push: str) -> None:
    assert script_num_push(height).hex() == push


def test_subsidy_halves_every_150_blocks() -> None:
    assert [block_subsidy(h) for h in (0, 149, 150, 299, 300)] == [
        50 * COIN,
        50 * COIN,
        25 * COIN,
        25 * COIN,
        1_250_000_000,
    ]


# --- basics -------------------------------------------------------------------


def test_fresh_chain_is_at_genesis(regtest_chain: RegtestChain) -> None:
    assert isinstance(regtest_chain, ChainBackend)
    assert regtest_chain.network is Network.REGTEST
    assert regtest_chain.tip().height == 0
    assert regtest_chain.tip().block_hash == REGTEST_GENESIS == regtest_chain.block_hash(0)
    assert regtest_chain.fee_rate(6) == 1000
    with pytest.raises(ChainError):
        regtest_chain.block_hash(1)


def test_coinbases_pay_the_script_and_halve(regtest_chain: RegtestChain, key) -> None:
    hashes = regtest_chain.mine(151, to_script=key.script)
    assert len(set(hashes)) == 151
    assert regtest_chain.tip().block_hash == hashes[-1] == regtest_chain.block_hash(151)
    by_height = {u.height: u for u in regtest_chain.utxos([key.script])}
    assert sorted(by_height) == list(range(1, 152))
    assert by_height[149].value_sat == 50 * COIN and by_height[150].value_sat == 25 * COIN
    assert by_height[7].block_hash == hashes[6]
    assert regtest_chain.utxos([ANYONE_CAN_SPEND_SCRIPT]) == []


def test_spend_confirms_and_is_indexed(funded_chain: RegtestChain, key, other_key) -> None:
    chain = funded_chain
    coin = mature_coin(chain, key.script)
    raw = pay(key, coin, other_key.script, 10 * COIN)
    txid = chain.broadcast(raw)
    assert chain.broadcast(raw) == txid  # already known counts as success
    status = chain.tx_status(txid)
    assert status.known and not status.confirmed and status.confirmations == 0
    assert chain.raw_transaction(txid) == raw
    [pending] = chain.utxos([other_key.script])
    assert pending.height is None and pending.value_sat == 10 * COIN
    assert chain.outspend(coin[0]).txid == txid and not chain.outspend(coin[0]).confirmed
    assert coin[0] not in {u.outpoint for u in chain.utxos([key.script])}

    [block] = chain.mine(1)
    chain.mine(2)
    status = chain.tx_status(txid)
    assert (status.confirmed, status.block_height, status.block_hash) == (True, 102, block)
    assert status.confirmations == 3
    [paid] = chain.utxos([other_key.script])
    assert (paid.outpoint, paid.height, paid.block_hash) == (OutPoint(txid, 0), 102, block)
    spend = chain.outspend(coin[0])
    assert (spend.spent, spend.txid, spend.vin, spend.confirmed, spend.block_height) == (
        True,
        txid,
        0,
        True,
        102,
    )
    assert not chain.outspend(OutPoint(txid, 0)).spent
    assert chain.mempool_txids() == []
    # the fee went to the coinbase of block 102
    [cb] = [u for u in chain.utxos([ANYONE_CAN_SPEND_SCRIPT]) if u.height == 102]
    assert cb.value_sat == 50 * COIN + FEE
    assert chain.broadcast(raw) == txid
    assert chain.tx_status("ab" * 32).known is False


def test_child_of_unconfirmed_parent_mines_in_order(funded_chain: RegtestChain, key) -> None:
    chain = funded_chain
    coin = mature_coin(chain, key.script)
    parent = chain.broadcast(key.spend([coin], [(key.script, coin[1] - FEE)]))
    child = chain.broadcast(
        key.spend([(OutPoint(parent, 0), coin[1] - FEE)], [(key.script, coin[1] - 2 * FEE)])
    )
    assert chain.mempool_txids() == [parent, child]
    chain.mine(1)
    assert chain.tx_status(parent).confirmed and chain.tx_status(child).confirmed


# --- refusals -----------------------------------------------------------------


def test_bad_signature_is_rejected_with_reason(funded_chain: RegtestChain, key, other_key) -> None:
    chain = funded_chain
    coin = mature_coin(chain, key.script)
    for raw in (
        pay(key, coin, other_key.script, COIN, corrupt_signature=True),
        pay(other_key, coin, other_key.script, COIN),
    ):  # signed by the wrong key
        with pytest.raises(BroadcastRejected) as info:
            chain.broadcast(raw)
        assert type(info.value) is BroadcastRejected
        assert "script-verify" in info.value.reason
    assert chain.mempool_txids() == []
    chain.mine(1)
    assert chain.tip().height == 102


def test_kernel_refuses_a_block_with_a_bad_signature(
    funded_chain: RegtestChain, key, other_key
) -> None:
    chain = funded_chain
    tip = chain.tip()
    coin = mature_coin(chain, key.script)
    with pytest.raises(BlockRejected, match="script-verify"):
        chain.mine_transaction_directly(
            pay(key, coin, other_key.script, COIN, corrupt_signature=True)
        )
    assert chain.tip() == tip


def test_overspend_is_rejected(funded_chain: RegtestChain, key, other_key) -> None:
    chain = funded_chain
    coin = mature_coin(chain, key.script)
    raw = key.spend([coin], [(other_key.script, coin[1] + 1)])
    with pytest.raises(BroadcastRejected) as info:
        chain.broadcast(raw)
    assert info.value.reason == "bad-txns-in-belowout"
    with pytest.raises(BlockRejected, match="bad-txns-in-belowout"):
        chain.mine_transaction_directly(raw)
    assert chain.tip().height == 101


def test_unknown_and_spent_inputs_are_rejected(funded_chain: RegtestChain, key) -> None:
    chain = funded_chain
    with pytest.raises(InputsMissingOrSpent):
        chain.broadcast(key.spend([(OutPoint("11" * 32, 0), COIN)], [(key.script, COIN - FEE)]))
    coin = mature_coin(chain, key.script)
    chain.broadcast(key.spend([coin], [(key.script, coin[1] - FEE)]))
    chain.mine(1)
    with pytest.raises(InputsMissingOrSpent):
        chain.broadcast(key.spend([coin], [(key.script, coin[1] - 2 * FEE)]))


def test_immature_coinbase_is_refused_until_100_confirmations(
    funded_chain: RegtestChain, key
) -> None:
    chain = funded_chain
    coin = mature_coin(chain, key.script, height=3)
    raw = key.spend([coin], [(key.script, coin[1] - FEE)])
    with pytest.raises(BroadcastRejected) as info:
        chain.broadcast(raw)
    assert info.value.reason == "bad-txns-premature-spend-of-coinbase"
    chain.mine(1)
    txid = chain.broadcast(raw)
    chain.mine(1)
    assert chain.tx_status(txid).block_height == 103


def test_dust_output_is_refused(funded_chain: RegtestChain, key, other_key) -> None:
    chain = funded_chain
    coin = mature_coin(chain, key.script)
    with pytest.raises(NonStandardTransaction) as info:
        chain.broadcast(pay(key, coin, other_key.script, 293))
    assert info.value.reason == "dust"
    assert chain.broadcast(pay(key, coin, other_key.script, 294))


def test_fee_below_the_floor_is_refused(funded_chain: RegtestChain, key) -> None:
    chain = funded_chain
    coin = mature_coin(chain, key.script)
    for fee in (0, 100):  # a 1-in 1-out P2WPKH spend is 110 vB
        with pytest.raises(FeeTooLow):
            chain.broadcast(key.spend([coin], [(key.script, coin[1] - fee)]))
    chain.broadcast(key.spend([coin], [(key.script, coin[1] - 110)]))


def test_relay_floor_is_the_mempool_policy(tmp_path: Path, key) -> None:
    with RegtestChain.open(tmp_path / "floor", policy=RelayPolicy(min_relay_sat_kvb=2_500)) as c:
        assert c.relay_floor() == 2_500
        c.mine(101, to_script=key.script)
        coin = mature_coin(c, key.script)
        low = key.spend([coin], [(key.script, coin[1] - 200)])  # 110 vB: 1.8 sat/vB
        with pytest.raises(FeeTooLow):
            c.broadcast(low)  # the floor it reports is the floor it applies
        c.broadcast(key.spend([coin], [(key.script, coin[1] - 300)]))  # 2.7 sat/vB


def test_garbage_and_bad_arguments(regtest_chain: RegtestChain) -> None:
    with pytest.raises(BroadcastRejected) as info:
        regtest_chain.broadcast(b"\x02\x00\x00\x00garbage")
    assert info.value.reason == "TX decode failed"
    with pytest.raises(InvalidInput):
        regtest_chain.tx_status("not a txid")
    with pytest.raises(InvalidInput):
        regtest_chain.fee_rate(0)
    with pytest.raises(InvalidInput):
        regtest_chain.mine(-1)
    with pytest.raises(InvalidInput):
        regtest_chain.reorg(1)  # deeper than the chain
    regtest_chain.mine(3)
    with pytest.raises(InvalidInput):
        regtest_chain.reorg(2, new_blocks=2)  # not longer: would not win


# --- double spends and replacement -------------------------------------------


def test_full_rbf_replacement_rules(funded_chain: RegtestChain, key, other_key) -> None:
    chain = funded_chain
    coin = mature_coin(chain, key.script)
    first = chain.broadcast(pay(key, coin, other_key.script, COIN))
    for fee in (FEE, FEE + 50):  # same fee; more fee but not the incremental relay fee
        with pytest.raises(FeeTooLow) as info:
            chain.broadcast(pay(key, coin, key.script, COIN, fee=fee))
        assert "insufficient fee" in info.value.reason
    assert chain.mempool_txids() == [first]

    second = chain.broadcast(pay(key, coin, key.script, COIN, fee=2 * FEE))
    assert chain.mempool_txids() == [second]
    assert chain.tx_status(first).known is False
    assert chain.outspend(coin[0]).txid == second

    child_coin = (OutPoint(second, 0), COIN)
    child = chain.broadcast(key.spend([child_coin], [(key.script, COIN - 5 * FEE)]))
    with pytest.raises(FeeTooLow):  # beats `second` alone, not `second` plus its child
        chain.broadcast(pay(key, coin, other_key.script, COIN, fee=4 * FEE))
    third = chain.broadcast(pay(key, coin, other_key.script, COIN, fee=9 * FEE))
    assert chain.mempool_txids() == [third]
    assert not chain.tx_status(child).known
    chain.mine(1)
    assert chain.tx_status(third).confirmed


def test_confirmed_conflict_evicts_mempool_spend(
    funded_chain: RegtestChain, key, other_key
) -> None:
    chain = funded_chain
    coin = mature_coin(chain, key.script)
    ours = chain.broadcast(pay(key, coin, other_key.script, COIN))
    theirs = chain.mine_transaction_directly(pay(key, coin, key.script, COIN, fee=FEE // 2))
    assert chain.tip().block_hash == theirs
    assert chain.tx_status(ours).known is False
    assert chain.outspend(coin[0]).confirmed
    assert chain.drop_from_mempool(ours) == []
    [cb] = [u for u in chain.utxos([ANYONE_CAN_SPEND_SCRIPT]) if u.height == 102]
    assert cb.value_sat == 50 * COIN + FEE // 2  # fees of directly mined txs too


def test_regtest_chain_meets_the_backend_contract(
    funded_chain: RegtestChain, key, other_key
) -> None:
    chain = funded_chain
    coin = mature_coin(chain, key.script)
    spender = chain.broadcast(pay(key, coin, other_key.script, 3 * COIN))
    chain.mine(2)
    young = mature_coin(chain, key.script, height=101)  # a coinbase 3 blocks deep
    facts = ContractFacts(
        other_key.script, spender, 0, 3 * COIN, coin[0], spender, key.script, coin[1],
        young[0], key.script, 1000,
    )
    check_backend_contract(chain, facts)


# --- reorgs -------------------------------------------------------------------


def test_reorg_returns_confirmed_tx_to_mempool(funded_chain: RegtestChain, key, other_key) -> None:
    chain = funded_chain
    coin = mature_coin(chain, key.script)
    txid = chain.broadcast(pay(key, coin, other_key.script, COIN))
    [orphan] = chain.mine(1)
    hashes = chain.reorg(1)
    assert len(hashes) == 2 and chain.tip().block_hash == hashes[-1]
    assert chain.tip().height == 103 and chain.block_hash(102) == hashes[0] != orphan
    status = chain.tx_status(txid)
    assert status.known and not status.confirmed
    assert [u.height for u in chain.utxos([other_key.script])] == [None]
    assert chain.outspend(coin[0]).confirmed is False
    chain.mine(1)
    assert chain.tx_status(txid).block_height == 104


def test_reorg_with_conflict_drops_the_orphaned_tx(
    funded_chain: RegtestChain, key, other_key
) -> None:
    chain = funded_chain
    coin = mature_coin(chain, key.script)
    paid = chain.broadcast(pay(key, coin, other_key.script, COIN))
    chain.mine(2)
    conflict = pay(key, coin, key.script, COIN)
    hashes = chain.reorg(2, new_blocks=4, transactions=[conflict])
    assert chain.tip().height == 105
    assert chain.tx_status(paid).known is False
    assert chain.mempool_txids() == []
    assert chain.utxos([other_key.script]) == []
    spend = chain.outspend(coin[0])
    assert spend.confirmed and spend.block_height == 102 and spend.txid != paid
    assert chain.tx_status(spend.txid or "").block_hash == hashes[0]


def test_reorg_keeping_transactions_moves_them_to_new_blocks(
    funded_chain: RegtestChain, key, other_key
) -> None:
    chain = funded_chain
    coin = mature_coin(chain, key.script)
    txid = chain.broadcast(pay(key, coin, other_key.script, COIN))
    [old] = chain.mine(1)
    hashes = chain.reorg(1, include_mempool=True)
    status = chain.tx_status(txid)
    assert status.confirmed and status.block_hash == hashes[0] != old
    assert status.confirmations == 2


# --- persistence, locking, clock ---------------------------------------------


def test_state_survives_close_and_reopen(tmp_path: Path, key, other_key) -> None:
    folder = tmp_path / "chain"
    with RegtestChain.open(folder) as chain:
        chain.mine(101, to_script=key.script)
        confirmed = chain.broadcast(
            pay(key, mature_coin(chain, key.script), other_key.script, COIN)
        )
        chain.mine(1)
        pending = chain.broadcast(
            pay(key, mature_coin(chain, key.script, 2), other_key.script, 2 * COIN)
        )
        with pytest.raises(ChainUnavailable):
            RegtestChain.open(folder)
        before = (
            chain.tip(),
            chain.utxos([key.script, other_key.script]),
            chain.tx_status(confirmed),
            chain.mempool_txids(),
        )
    with pytest.raises(ChainUnavailable):
        chain.tip()
    with RegtestChain.open(folder) as again:
        after = (
            again.tip(),
            again.utxos([key.script, other_key.script]),
            again.tx_status(confirmed),
            again.mempool_txids(),
        )
        assert after == before and after[3] == [pending]
        again.mine(1)
        assert again.tx_status(pending).confirmations == 1


def test_frozen_clock_still_mines_past_median_time(tmp_path: Path) -> None:
    now = int(time.time())
    with RegtestChain.open(tmp_path / "c", clock=lambda: now) as chain:
        chain.mine(40)
        assert chain.tip().height == 40


def test_clock_ahead_of_real_time_is_refused_by_the_kernel(tmp_path: Path) -> None:
    ahead = int(time.time()) + 3 * 3600
    with RegtestChain.open(tmp_path / "c", clock=lambda: ahead) as chain:
        with pytest.raises(BlockRejected, match="time-too-new"):
            chain.mine(1)
        assert chain.tip().height == 0


def test_mining_a_block_of_100_transactions_is_fast(
    regtest_chain: RegtestChain, spend_anyone
) -> None:
    chain = regtest_chain
    chain.mine(101)
    coin = mature_coin(chain, ANYONE_CAN_SPEND_SCRIPT)
    split = chain.broadcast(spend_anyone([coin], [(ANYONE_CAN_SPEND_SCRIPT, 10_000_000)] * 100))
    chain.mine(1)
    txids = [
        chain.broadcast(
            spend_anyone([(OutPoint(split, i), 10_000_000)], [(ANYONE_CAN_SPEND_SCRIPT, 9_999_800)])
        )
        for i in range(100)
    ]
    started = time.perf_counter()
    chain.mine(1)
    elapsed = time.perf_counter() - started
    assert all(chain.tx_status(t).block_height == 103 for t in txids)
    assert elapsed < 1.0, f"mining 100 transactions took {elapsed:.2f} s"


def test_invalid_branch_leaves_the_chain_alone(funded_chain: RegtestChain, key, other_key) -> None:
    chain = funded_chain
    coin = mature_coin(chain, key.script)
    txid = chain.broadcast(pay(key, coin, other_key.script, COIN))
    chain.mine(1)
    tip = chain.tip()
    overspend = key.spend([coin], [(other_key.script, coin[1] + 1)])
    with pytest.raises(BlockRejected, match="bad-txns"):
        chain.reorg(1, transactions=[overspend])
    assert chain.tip() == tip
    assert chain.tx_status(txid).confirmations == 1
