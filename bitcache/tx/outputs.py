"""Output scripts: recognise a scriptPubKey's standard type, and the payment the builder pays.

Settlement never handles addresses here: an uploader's address was parsed into
its scriptPubKey and :class:`~bitcache.core.scripttype.ScriptType` upstream.
This module only checks that the bytes really have the shape of that type, so
a mislabelled script cannot slip a wrong size or dust threshold into a
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from bitcache.core.money import SAT_PER_BTC
from bitcache.core.scripttype import ScriptType
from bitcache.errors import InvalidAmount, InvalidInput

MAX_SAT = 21_000_000 * SAT_PER_BTC
"""No output or input can hold more than every bitcoin there will ever be (MAX_MONEY)."""

_OP_0 = 0x00
_OP_1 = 0x51
_OP_DUP = 0x76
_OP_HASH160 = 0xA9
_OP_EQUAL = 0x87
_OP_EQUALVERIFY = 0x88
_OP_CHECKSIG = 0xAC
_OP_RETURN = 0x6A
_OP_PUSHDATA1 = 0x4C

MAX_ANCHOR_BYTES = 80
"""Largest OP_RETURN payload Bitcoin Core relays by default before v30 (83-byte script)."""


def script_type_of(script_pubkey: bytes) -> ScriptType | None:
    """The standard type whose template ``script_pubkey`` matches, or None."""
    s = script_pubkey
    n = len(s)
    if (
        n == 25
        and s[:3] == bytes((_OP_DUP, _OP_HASH160, 20))
        and s[23:] == bytes((_OP_EQUALVERIFY, _OP_CHECKSIG))
    ):
        return ScriptType.P2PKH
    if n == 23 and s[:2] == bytes((_OP_HASH160, 20)) and s[22] == _OP_EQUAL:
        return ScriptType.P2SH
    if n == 22 and s[:2] == bytes((_OP_0, 20)):
        return ScriptType.P2WPKH
    if n == 34 and s[:2] == bytes((_OP_0, 32)):
        return ScriptType.P2WSH
    if n == 34 and s[:2] == bytes((_OP_1, 32)):
        return ScriptType.P2TR
    return None


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


def p2wpkh_script(pubkey_hash: bytes) -> bytes:
    """``OP_0 <20-byte HASH160(pubkey)>``: the scriptPubKey of a BIP84 wallet key."""
    if len(pubkey_hash) != 20:
        raise InvalidInput(f"a P2WPKH program is 20 bytes, got {len(pubkey_hash)}")
    return bytes((_OP_0, 20)) + pubkey_hash


def p2wpkh_script_code(script_pubkey: bytes) -> bytes:
    """BIP143 scriptCode of a P2WPKH output: ``OP_DUP OP_HASH160 <hash> OP_EQUALVERIFY
    OP_CHECKSIG``, without its length prefix."""
    require_script_type(script_pubkey, ScriptType.P2WPKH, "scriptCode")
    return (
        bytes((_OP_DUP, _OP_HASH160, 20))
        + script_pubkey[2:]
        + bytes((_OP_EQUALVERIFY, _OP_CHECKSIG))
    )


def null_data_script(payload: bytes) -> bytes:
    """``OP_RETURN <payload>``: a provably unspendable output carrying up to 80 bytes.

    Used for the optional anchor of a settlement (a commitment to a statement).
    """
    if not isinstance(payload, bytes) or not 1 <= len(payload) <= MAX_ANCHOR_BYTES:
        raise InvalidInput(
            f"an anchor payload must be 1..{MAX_ANCHOR_BYTES} bytes, got "
            f"{len(payload) if isinstance(payload, bytes) else type(payload).__name__}"
        )
    push = (
        bytes((len(payload),))
        if len(payload) < _OP_PUSHDATA1
        else bytes((_OP_PUSHDATA1, len(payload)))
    )
    return bytes((_OP_RETURN,)) + push + payload


def is_null_data(script_pubkey: bytes) -> bool:
    """True for an OP_RETURN (null-data) output script."""
    return script_pubkey[:1] == bytes((_OP_RETURN,))


def check_sat(value: object, what: str, *, allow_zero: bool = False) -> int:
    """Return ``value`` if it is an int number of sats in range, else raise InvalidAmount."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidAmount(f"{what} must be an int of sats, got {type(value).__name__}")
    low = 0 if allow_zero else 1
    if not low <= value <= MAX_SAT:
        raise InvalidAmount(f"{what} must be within {low}..{MAX_SAT} sats, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class Payment:
    """One payout: ``value_sat`` to ``script_pubkey``, a script of ``script_type``.

    Dust is not refused here (the policy checks do that with the type's own
    threshold); the script must match its declared type.
    """

    script_pubkey: bytes
    script_type: ScriptType
    value_sat: int

    def __post_init__(self) -> None:
        if not isinstance(self.script_type, ScriptType):
            raise InvalidInput(
                f"payment script_type must be a ScriptType, got {self.script_type!r}"
            )
        require_script_type(self.script_pubkey, self.script_type, "payment")
        check_sat(self.value_sat, "payment value")
