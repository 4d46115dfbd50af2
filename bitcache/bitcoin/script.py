"""Output scripts: the standard templates, and which template a script matches.

The templates are written with python-bitcoinlib's ``CScript`` and its
opcodes, so each reads as the script it builds. Its pitfall is that a Python
``int`` in a ``CScript`` is a *number push*, not an opcode: opcodes here are
always ``OP_…`` constants, and the one number push (the BIP34 height of a
coinbase) uses that behaviour on purpose.

Classification (:func:`script_type_of`) compares bytes with the templates,
as Bitcoin Core's ``Solver`` does. It is bitcache's own code because
python-bitcoinlib recognises P2SH and the v0 witness programs but has no test
for P2PKH or P2TR, and because it runs for every output of every batch
(payments, dust checks, the builder): a few byte comparisons each.
"""

from __future__ import annotations

from bitcoin.core.script import (
    OP_0,
    OP_1,
    OP_CHECKSIG,
    OP_DUP,
    OP_EQUAL,
    OP_EQUALVERIFY,
    OP_HASH160,
    OP_RETURN,
    CScript,
    CScriptOp,
)

from bitcache.core.checks import is_int
from bitcache.core.scripttype import ScriptType
from bitcache.errors import InvalidInput

MAX_ANCHOR_BYTES = 80
"""Largest OP_RETURN payload Bitcoin Core relays by default before v30 (83-byte script)."""

MAX_WITNESS_VERSION = 16


def _check_len(data: bytes, size: int, what: str) -> bytes:
    if not isinstance(data, bytes) or len(data) != size:
        got = len(data) if isinstance(data, bytes) else type(data).__name__
        raise InvalidInput(f"{what} is {size} bytes, got {got}")
    return data


def p2pkh_script(pubkey_hash: bytes) -> bytes:
    """``OP_DUP OP_HASH160 <20-byte hash> OP_EQUALVERIFY OP_CHECKSIG``."""
    h = _check_len(pubkey_hash, 20, "a P2PKH key hash")
    return bytes(CScript([OP_DUP, OP_HASH160, h, OP_EQUALVERIFY, OP_CHECKSIG]))


def p2sh_script(script_hash: bytes) -> bytes:
    """``OP_HASH160 <20-byte hash> OP_EQUAL``."""
    h = _check_len(script_hash, 20, "a P2SH script hash")
    return bytes(CScript([OP_HASH160, h, OP_EQUAL]))


def p2wpkh_script(pubkey_hash: bytes) -> bytes:
    """``OP_0 <20-byte HASH160(pubkey)>``: the scriptPubKey of a BIP84 wallet key."""
    return witness_program_script(0, _check_len(pubkey_hash, 20, "a P2WPKH program"))


def p2wsh_script(script_hash: bytes) -> bytes:
    """``OP_0 <32-byte SHA256(witness script)>``."""
    return witness_program_script(0, _check_len(script_hash, 32, "a P2WSH program"))


def p2tr_script(output_key: bytes) -> bytes:
    """``OP_1 <32-byte x-only output key>``."""
    return witness_program_script(1, _check_len(output_key, 32, "a P2TR output key"))


def witness_program_script(version: int, program: bytes) -> bytes:
    """``OP_version <program>``: the output script of a segwit address (BIP141)."""
    if not 0 <= version <= MAX_WITNESS_VERSION:
        raise InvalidInput(f"witness version {version} is outside 0-{MAX_WITNESS_VERSION}")
    return bytes(CScript([CScriptOp.encode_op_n(version), program]))


def p2wpkh_script_code(script_pubkey: bytes) -> bytes:
    """BIP143 scriptCode of a P2WPKH output: ``OP_DUP OP_HASH160 <hash> OP_EQUALVERIFY
    OP_CHECKSIG``, without its length prefix."""
    require_script_type(script_pubkey, ScriptType.P2WPKH, "scriptCode")
    # p2pkh_script(program), from the classifier's byte constants: this runs for
    # every input signed, and a CScript costs about 5 µs more.
    return _P2PKH_HEAD + script_pubkey[2:] + _P2PKH_TAIL


def null_data_script(payload: bytes) -> bytes:
    """``OP_RETURN <payload>``: a provably unspendable output carrying up to 80 bytes.

    Used for the optional anchor of a settlement (a commitment to a statement).
    """
    if not isinstance(payload, bytes) or not 1 <= len(payload) <= MAX_ANCHOR_BYTES:
        raise InvalidInput(
            f"an anchor payload must be 1..{MAX_ANCHOR_BYTES} bytes, got "
            f"{len(payload) if isinstance(payload, bytes) else type(payload).__name__}"
        )
    return bytes(CScript([OP_RETURN, payload]))


def script_num_push(n: int) -> bytes:
    """The minimal push of the number ``n`` ≥ 0: OP_0, OP_1..OP_16, or a script number.

    What BIP34 puts first in a coinbase scriptSig (the block height).
    """
    if not is_int(n) or n < 0:
        raise InvalidInput(f"a pushed number must be an int >= 0, got {n!r}")
    return bytes(CScript([n]))


def is_null_data(script_pubkey: bytes) -> bool:
    """True for an OP_RETURN (null-data) output script."""
    return script_pubkey[:1] == bytes((OP_RETURN,))


def is_witness_program(script_pubkey: bytes) -> bool:
    """True for ``OP_0..OP_16`` followed by one direct push of 2 to 40 bytes (BIP141)."""
    return bool(CScript(script_pubkey).is_witness_scriptpubkey())


def script_type_of(script_pubkey: bytes) -> ScriptType | None:
    """The standard type whose template ``script_pubkey`` matches, or None."""
    s = script_pubkey
    n = len(s)
    if n == 25 and s[:3] == _P2PKH_HEAD and s[23:] == _P2PKH_TAIL:
        return ScriptType.P2PKH
    if n == 23 and s[:2] == _P2SH_HEAD and s[22] == OP_EQUAL:
        return ScriptType.P2SH
    if n == 22 and s[:2] == _P2WPKH_HEAD:
        return ScriptType.P2WPKH
    if n == 34 and s[:2] == _P2WSH_HEAD:
        return ScriptType.P2WSH
    if n == 34 and s[:2] == _P2TR_HEAD:
        return ScriptType.P2TR
    return None


_P2PKH_HEAD = bytes((OP_DUP, OP_HASH160, 20))
_P2PKH_TAIL = bytes((OP_EQUALVERIFY, OP_CHECKSIG))
_P2SH_HEAD = bytes((OP_HASH160, 20))
_P2WPKH_HEAD = bytes((OP_0, 20))
_P2WSH_HEAD = bytes((OP_0, 32))
_P2TR_HEAD = bytes((OP_1, 32))


def require_script_type(script_pubkey: bytes, expected: ScriptType, what: str) -> None:
    """Raise InvalidInput unless ``script_pubkey`` is a well-formed ``expected`` script."""
    if not isinstance(script_pubkey, bytes):
        raise InvalidInput(
            f"{what}: script_pubkey must be bytes, got {type(script_pubkey).__name__}"
        )
    found = script_type_of(script_pubkey)
    if found is not expected:
        shape = found.name if found else "no standard template"
        raise InvalidInput(
            f"{what}: script {script_pubkey.hex()} is not {expected.name} (it matches {shape})"
        )
