"""The one transaction model: serializer and parser against python-bitcoinlib, decoder rules."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from bitcoin.core import CTransaction, b2lx
from hypothesis import given, settings
from hypothesis import strategies as st

from bitcache.bitcoin.compact import ByteReader, compact_size, compact_size_len
from bitcache.bitcoin.transaction import (
    MAX_SAT,
    Transaction,
    TxIn,
    TxOut,
    parse_transaction,
)
from bitcache.core.utxo import OutPoint
from bitcache.errors import InvalidAmount, InvalidInput

VECTOR = json.loads((Path(__file__).parents[1] / "vectors" / "bip143.json").read_text())
SIGNED = bytes.fromhex(VECTOR["native_p2wpkh"]["signed_tx"])
UNSIGNED = bytes.fromhex(VECTOR["native_p2wpkh"]["unsigned_tx"])

_txin = st.builds(
    TxIn,
    st.builds(
        OutPoint, st.binary(min_size=32, max_size=32).map(bytes.hex), st.integers(0, 2**32 - 1)
    ),
    st.integers(0, 2**32 - 1),
    st.binary(max_size=300),
)
_txout = st.builds(TxOut, st.integers(0, MAX_SAT), st.binary(max_size=300))
_stack = st.lists(st.binary(max_size=80), max_size=4).map(tuple)


@st.composite
def transactions(draw: st.DrawFn) -> Transaction:
    inputs = tuple(draw(st.lists(_txin, min_size=1, max_size=4)))
    outputs = tuple(draw(st.lists(_txout, min_size=1, max_size=300)))
    witnesses = draw(st.none() | st.lists(_stack, min_size=len(inputs), max_size=len(inputs)))
    return Transaction(
        draw(st.integers(-(2**31), 2**31 - 1)),
        inputs,
        outputs,
        draw(st.integers(0, 2**31 - 1)),  # python-bitcoinlib packs nLockTime signed
        tuple(witnesses) if witnesses and any(witnesses) else (),
    )


@settings(max_examples=150, deadline=None)
@given(transactions())
def test_serialisation_and_ids_agree_with_python_bitcoinlib(tx: Transaction) -> None:
    raw = tx.serialize()
    lib = CTransaction.deserialize(raw)
    assert lib.serialize() == raw
    assert lib.serialize(params={"include_witness": False}) == tx.serialize(include_witness=False)
    assert b2lx(lib.GetTxid()) == tx.txid
    assert b2lx(lib.GetHash()) == tx.wtxid
    assert lib.calc_weight() == tx.weight
    assert parse_transaction(raw) == tx
    assert parse_transaction(raw).raw == raw == tx.raw


def test_parsed_outputs_keep_the_bytes_they_were_read_from() -> None:
    tx = parse_transaction(SIGNED)
    assert [o.encoded for o in tx.outputs] == [
        TxOut(o.value_sat, o.script_pubkey).encoded for o in tx.outputs
    ]
    assert tx.raw == SIGNED and tx.txid != tx.wtxid
    assert tx.txid == b2lx(CTransaction.deserialize(SIGNED).GetTxid())


def test_truncated_and_trailing_bytes_are_refused() -> None:
    for cut in (1, 4, len(SIGNED) // 2, len(SIGNED) - 1):
        with pytest.raises(InvalidInput, match="end early"):
            parse_transaction(SIGNED[:cut])
    with pytest.raises(InvalidInput, match="stray"):
        parse_transaction(SIGNED + b"\x00")


def test_an_unknown_flag_byte_is_refused() -> None:
    raw = SIGNED[:5] + b"\x02" + SIGNED[6:]
    with pytest.raises(InvalidInput, match="flag byte 0x02"):
        parse_transaction(raw)


def _with_empty_witnesses(unsigned: bytes, n_inputs: int) -> bytes:
    """``unsigned`` re-encoded with the segwit marker and flag but every witness empty."""
    body = unsigned[4:-4]
    return unsigned[:4] + b"\x00\x01" + body + b"\x00" * n_inputs + unsigned[-4:]


def test_a_witness_flag_without_any_witness_is_refused() -> None:
    # Bitcoin Core: "superfluous witness record"; a decoder must not take it as a
    # witness transaction with a different wtxid.
    raw = _with_empty_witnesses(UNSIGNED, len(parse_transaction(UNSIGNED).inputs))
    with pytest.raises(InvalidInput, match="superfluous witness"):
        parse_transaction(raw)


def _one_output(value: int, n_outputs: int = 1) -> bytes:
    """A legacy transaction: one input, ``n_outputs`` outputs of ``value`` to OP_TRUE."""
    txin = bytes(32) + struct.pack("<I", 0) + b"\x00" + struct.pack("<I", 0xFFFFFFFF)
    txout = struct.pack("<q", value) + b"\x01\x51"
    body = compact_size(1) + txin + compact_size(n_outputs) + txout * n_outputs
    return struct.pack("<i", 2) + body + bytes(4)


@pytest.mark.parametrize("value", [-1, MAX_SAT + 1, 2**63 - 1])
def test_the_decoder_reads_any_int64_value_as_bitcoin_core_does(value: int) -> None:
    tx = parse_transaction(_one_output(value))
    assert tx.outputs[0].value_sat == value
    assert tx.raw == _one_output(value)
    with pytest.raises(InvalidAmount):
        TxOut(value, b"\x51")


def test_the_decoder_reads_a_transaction_without_outputs() -> None:
    tx = parse_transaction(_one_output(1, n_outputs=0))
    assert tx.outputs == ()
    with pytest.raises(InvalidInput, match="at least one input and one output"):
        Transaction(tx.version, tx.inputs, tx.outputs, tx.locktime)


def test_constructed_transactions_are_checked() -> None:
    txin = TxIn(OutPoint("11" * 32, 0), 0xFFFFFFFD)
    out = TxOut(1_000, b"\x51")
    with pytest.raises(InvalidInput, match="2 witnesses for 1 inputs"):
        Transaction(2, (txin,), (out,), 0, ((b"a",), (b"b",)))
    with pytest.raises(InvalidInput, match="locktime"):
        Transaction(2, (txin,), (out,), 2**32)
    with pytest.raises(InvalidInput, match="32 bytes"):
        Transaction(2, (TxIn(OutPoint("11" * 31, 0), 0),), (out,), 0).serialize()


def test_coinbase_is_one_input_spending_the_null_outpoint() -> None:
    null = OutPoint("00" * 32, 0xFFFFFFFF)
    out = (TxOut(0, b"\x51"),)
    assert Transaction(2, (TxIn(null, 0xFFFFFFFF, b"\x51\x51"),), out, 0).is_coinbase
    assert not Transaction(2, (TxIn(OutPoint("00" * 32, 0), 0),), out, 0).is_coinbase
    two = (TxIn(null, 0), TxIn(OutPoint("11" * 32, 0), 0))
    assert not Transaction(2, two, out, 0).is_coinbase


@pytest.mark.parametrize(
    "encoding", ["fd0100", "fdfc00", "fe01000000", "feffff0000", "ff" + "01" + "00" * 7]
)
def test_a_non_canonical_compact_size_is_refused(encoding: str) -> None:
    # Bitcoin Core's ReadCompactSize: "non-canonical ReadCompactSize()".
    raw = UNSIGNED[:4] + bytes.fromhex(encoding) + UNSIGNED[5:]
    with pytest.raises(InvalidInput, match="non-canonical"):
        parse_transaction(raw)


@pytest.mark.parametrize("n", [0, 0xFC, 0xFD, 0xFFFF, 0x1_0000, 0xFFFF_FFFF, 0x1_0000_0000])
def test_compact_size_round_trips_at_each_boundary(n: int) -> None:
    encoded = compact_size(n)
    reader = ByteReader(encoded)
    assert reader.compact() == n and reader.at_end
    assert len(encoded) == compact_size_len(n)
