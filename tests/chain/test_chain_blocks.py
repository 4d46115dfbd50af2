"""Regtest block assembly and parsing, checked against python-bitcoinlib; mempool decode rules."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from bitcoin.core import CBlock, b2lx

from bitcache.bitcoin.compact import compact_size
from bitcache.bitcoin.hashes import sha256d
from bitcache.bitcoin.transaction import MAX_SAT, parse_transaction
from bitcache.chain.blocks import (
    REGTEST_BITS,
    WITNESS_RESERVED_VALUE,
    assemble_block,
    build_coinbase,
    parse_block_txs,
)
from bitcache.chain.mempool import RelayPolicy, check_context_free
from bitcache.errors import BroadcastRejected, InvalidInput

VECTOR = json.loads((Path(__file__).parents[1] / "vectors" / "bip143.json").read_text())
SIGNED = parse_transaction(bytes.fromhex(VECTOR["native_p2wpkh"]["signed_tx"]))
LEGACY = parse_transaction(bytes.fromhex(VECTOR["native_p2wpkh"]["unsigned_tx"]))
GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"


def _block(height: int, txs: list) -> tuple:  # type: ignore[type-arg]
    coinbase = build_coinbase(height, b"\x51", 5_000_000_000, txs, b"tag!")
    return coinbase, assemble_block(GENESIS, 1_700_000_000, [coinbase, *txs])


@pytest.mark.parametrize("txs", [[], [LEGACY], [SIGNED, LEGACY]], ids=["empty", "legacy", "segwit"])
def test_assembled_blocks_read_back_and_agree_with_python_bitcoinlib(txs: list) -> None:  # type: ignore[type-arg]
    coinbase, block = _block(300, txs)
    assert parse_block_txs(block.raw) == [coinbase, *txs]
    lib = CBlock.deserialize(block.raw)
    assert b2lx(lib.GetHash()) == block.block_hash
    assert b2lx(lib.hashPrevBlock) == GENESIS and lib.nBits == REGTEST_BITS
    assert lib.hashMerkleRoot == lib.calc_merkle_root()
    assert int.from_bytes(bytes.fromhex(block.block_hash), "big") <= 0x7FFFFF << (8 * 29)
    assert [b2lx(t.GetTxid()) for t in lib.vtx] == [t.txid for t in (coinbase, *txs)]
    # The coinbase always has a witness (the reserved value), so the commitment is always there.
    commitment = sha256d(lib.calc_witness_merkle_root() + WITNESS_RESERVED_VALUE)
    assert coinbase.outputs[1].script_pubkey[6:] == commitment


def test_coinbase_carries_the_bip34_height_and_the_reserved_value() -> None:
    coinbase, _ = _block(300, [SIGNED])
    assert coinbase.is_coinbase
    assert coinbase.inputs[0].script_sig.startswith(bytes.fromhex("022c01"))
    assert coinbase.witnesses == ((WITNESS_RESERVED_VALUE,),)
    assert coinbase.outputs[1].script_pubkey[:6].hex() == "6a24aa21a9ed"


def test_parse_block_refuses_short_and_trailing_data() -> None:
    _, block = _block(1, [])
    with pytest.raises(InvalidInput):
        parse_block_txs(block.raw[:79])
    with pytest.raises(InvalidInput, match="end early"):
        parse_block_txs(block.raw[:-1])
    with pytest.raises(InvalidInput, match="stray"):
        parse_block_txs(block.raw + b"\x00")


def _spend(values: list[int]) -> bytes:
    txin = bytes.fromhex("11" * 32) + struct.pack("<I", 0) + b"\x00" + struct.pack("<I", 0xFFFFFFFD)
    outs = b"".join(struct.pack("<q", v) + b"\x01\x51" for v in values)
    return (
        struct.pack("<i", 2) + compact_size(1) + txin + compact_size(len(values)) + outs + bytes(4)
    )


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ([], "bad-txns-vout-empty"),
        ([-1], "bad-txns-vout-negative"),
        ([1_000, -5], "bad-txns-vout-negative"),
        ([MAX_SAT + 1], "bad-txns-vout-toolarge"),
        ([MAX_SAT, 1], "bad-txns-txouttotal-toolarge"),
    ],
)
def test_context_free_checks_name_bitcoin_cores_reason(values: list[int], reason: str) -> None:
    tx = parse_transaction(_spend(values))
    with pytest.raises(BroadcastRejected) as info:
        check_context_free(tx, RelayPolicy())
    assert info.value.reason == reason
