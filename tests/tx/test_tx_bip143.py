"""BIP143 sighash: the published vectors, and agreement with python-bitcoinlib on random txs."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from bitcoin.core import CMutableTransaction
from bitcoin.core.script import SIGHASH_ALL as LIB_SIGHASH_ALL
from bitcoin.core.script import SIGVERSION_WITNESS_V0, CScript, SignatureHash
from hypothesis import given, settings
from hypothesis import strategies as st
from tx_support import payments

from bitcache.bitcoin.script import p2wpkh_script_code
from bitcache.bitcoin.transaction import Transaction, TxIn, TxOut, parse_transaction
from bitcache.core.utxo import OutPoint
from bitcache.errors import InvalidInput
from bitcache.tx.sighash import SharedHashes, bip143_preimage, bip143_sighash
from bitcache.tx.sign import sign_digest

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "vectors" / "bip143.json").read_text()
)


def _shared_matches(shared: SharedHashes, v: dict[str, Any]) -> None:
    assert shared.hash_prevouts.hex() == v["hash_prevouts"]
    assert shared.hash_sequence.hex() == v["hash_sequence"]
    assert shared.hash_outputs.hex() == v["hash_outputs"]


def test_native_p2wpkh_vector_sighash_signature_and_signed_tx() -> None:
    v = VECTORS["native_p2wpkh"]
    tx = parse_transaction(bytes.fromhex(v["unsigned_tx"]))
    assert tx.serialize().hex() == v["unsigned_tx"]
    shared = SharedHashes.of(tx)
    _shared_matches(shared, v)
    code = p2wpkh_script_code(bytes.fromhex(v["script_pubkey"]))
    index, amount = v["input_index"], v["amount_sat"]
    assert bip143_preimage(tx, index, code, amount, shared).hex() == v["preimage"]
    digest = bip143_sighash(tx, index, code, amount)
    assert digest.hex() == v["sighash"]
    der, pubkey = sign_digest(bytes.fromhex(v["private_key"]), digest)
    assert der.hex() == v["signature"]
    assert pubkey.hex() == v["public_key"]
    other = TxIn(
        tx.inputs[0].outpoint, tx.inputs[0].sequence, bytes.fromhex(v["other_input_script_sig"])
    )
    signed = Transaction(
        tx.version, (other, tx.inputs[1]), tx.outputs, tx.locktime, ((), (der + b"\x01", pubkey))
    )
    assert signed.serialize().hex() == v["signed_tx"]
    assert parse_transaction(bytes.fromhex(v["signed_tx"])) == signed
    assert signed.txid != signed.wtxid


def test_p2sh_p2wpkh_vector_sighash_and_signature() -> None:
    v = VECTORS["p2sh_p2wpkh"]
    tx = parse_transaction(bytes.fromhex(v["unsigned_tx"]))
    shared = SharedHashes.of(tx)
    _shared_matches(shared, v)
    code = p2wpkh_script_code(bytes.fromhex(v["witness_program"]))
    digest = bip143_sighash(tx, v["input_index"], code, v["amount_sat"], shared)
    assert digest.hex() == v["sighash"]
    der, _ = sign_digest(bytes.fromhex(v["private_key"]), digest)
    assert der.hex() == v["signature"]


def test_sighash_refuses_bad_index_and_amount() -> None:
    v = VECTORS["native_p2wpkh"]
    tx = parse_transaction(bytes.fromhex(v["unsigned_tx"]))
    code = p2wpkh_script_code(bytes.fromhex(v["script_pubkey"]))
    with pytest.raises(InvalidInput, match="out of range"):
        bip143_sighash(tx, 2, code, 1)
    with pytest.raises(InvalidInput, match="amount"):
        bip143_sighash(tx, 0, code, -1)


def test_parse_refuses_truncated_and_trailing_bytes() -> None:
    raw = bytes.fromhex(VECTORS["native_p2wpkh"]["signed_tx"])
    with pytest.raises(InvalidInput, match="end early"):
        parse_transaction(raw[:-1])
    with pytest.raises(InvalidInput, match="stray"):
        parse_transaction(raw + b"\x00")


_inputs = st.lists(
    st.tuples(
        st.binary(min_size=32, max_size=32),
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**32 - 1),
        st.integers(1, 21_000_000 * 10**8),
        st.binary(min_size=20, max_size=20),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=120, deadline=None)
@given(
    inputs=_inputs,
    outs=payments(),
    version=st.integers(1, 2),
    locktime=st.integers(0, 2**31 - 1),  # python-bitcoinlib packs it signed
)
def test_sighash_equals_python_bitcoinlib(
    inputs: list[tuple[bytes, int, int, int, bytes]],
    outs: list[Any],
    version: int,
    locktime: int,
) -> None:
    tx = Transaction(
        version,
        tuple(TxIn(OutPoint(h.hex(), vout), seq) for h, vout, seq, _, _ in inputs),
        tuple(TxOut(p.value_sat, p.script_pubkey) for p in outs),
        locktime,
    )
    lib_tx = CMutableTransaction.deserialize(tx.serialize())
    assert lib_tx.serialize() == tx.serialize()
    assert lib_tx.GetTxid()[::-1].hex() == tx.txid
    shared = SharedHashes.of(tx)
    for i, (_, _, _, amount, program) in enumerate(inputs):
        code = p2wpkh_script_code(b"\x00\x14" + program)
        expected = SignatureHash(
            CScript(code),
            lib_tx,
            i,
            LIB_SIGHASH_ALL,
            amount=amount,
            sigversion=SIGVERSION_WITNESS_V0,
        )
        assert bip143_sighash(tx, i, code, amount, shared) == expected
    assert struct.unpack("<I", tx.serialize()[-4:])[0] == locktime
