"""Payout addresses: parse and validate them into output scripts, and back.

bitcache pays P2PKH and P2SH (base58check), P2WPKH and P2WSH (bech32, witness
v0) and P2TR (bech32m, witness v1, 32 bytes). An address is checked against
the network bitcache runs on: a valid address of another network, a checksum
error, a bech32/bech32m mix-up and a bad witness program each raise their own
``InvalidAddress`` subclass, whose message says what is wrong.

Witness versions 2 to 16 (and v1 programs that are not 32 bytes) are valid
addresses under BIP350, but no standard output type exists for them yet:
paying one would be non-standard, so they are refused as unsupported.
"""

from __future__ import annotations

from dataclasses import dataclass

from bitcache.core.scripttype import ScriptType
from bitcache.errors import AddressNetworkMismatch, InvalidAddress
from bitcache.network import Network
from bitcache.wallet.base58 import ALPHABET as B58_ALPHABET
from bitcache.wallet.base58 import b58decode_check, b58encode_check
from bitcache.wallet.bech32 import WitnessProgram, decode_segwit, encode_segwit

_OP_DUP, _OP_HASH160, _OP_EQUALVERIFY, _OP_CHECKSIG, _OP_EQUAL = 0x76, 0xA9, 0x88, 0xAC, 0x87
_OP_1 = 0x51


@dataclass(frozen=True)
class PayoutScript:
    """A validated payout destination.

    ``address`` is the normalised form (bech32 lowercase), equal to
    ``address_for_script(script_pubkey, network)``.
    """

    script_type: ScriptType
    script_pubkey: bytes
    address: str


def _networks_of_hrp(hrp: str) -> list[Network]:
    return [net for net in Network if net.hrp == hrp]


def _networks_of_version(version: int) -> list[Network]:
    return [net for net in Network if version in (net.p2pkh_version, net.p2sh_version)]


def _names(networks: list[Network]) -> str:
    return "/".join(net.value for net in networks)


def _is_bech32_candidate(text: str) -> bool:
    """Known HRP prefix, or a string with a separator that cannot be base58."""
    lowered = text.lower()
    if any(lowered.startswith(net.hrp + "1") for net in Network):
        return True
    return "1" in text[1:] and any(c not in B58_ALPHABET for c in text)


def script_type_of(script_pubkey: bytes) -> ScriptType | None:
    """The standard type of an output script, or ``None`` if it is none bitcache pays."""
    s = script_pubkey
    if (
        len(s) == 25
        and s[:3] == bytes([_OP_DUP, _OP_HASH160, 20])
        and s[23:] == bytes([_OP_EQUALVERIFY, _OP_CHECKSIG])
    ):
        return ScriptType.P2PKH
    if len(s) == 23 and s[:2] == bytes([_OP_HASH160, 20]) and s[22] == _OP_EQUAL:
        return ScriptType.P2SH
    if len(s) == 22 and s[:2] == b"\x00\x14":
        return ScriptType.P2WPKH
    if len(s) == 34 and s[:2] == b"\x00\x20":
        return ScriptType.P2WSH
    if len(s) == 34 and s[:2] == bytes([_OP_1, 32]):
        return ScriptType.P2TR
    return None


def p2wpkh_script(pubkey_hash: bytes) -> bytes:
    """The P2WPKH output script for a 20-byte HASH160 of a compressed public key."""
    if len(pubkey_hash) != 20:
        raise InvalidAddress(f"P2WPKH needs a 20-byte key hash, got {len(pubkey_hash)} bytes")
    return b"\x00\x14" + pubkey_hash


def _parse_segwit(text: str, network: Network) -> PayoutScript:
    decoded: WitnessProgram = decode_segwit(text)
    if decoded.hrp != network.hrp:
        owners = _networks_of_hrp(decoded.hrp)
        if owners:
            raise AddressNetworkMismatch(
                f"{_names(owners)} address ({decoded.hrp}1…) given, expected a {network.value} "
                f"address ({network.hrp}1…)"
            )
        raise InvalidAddress(f"unknown human-readable part {decoded.hrp!r}")
    script = decoded.script_pubkey
    script_type = script_type_of(script)
    if script_type is None:
        raise InvalidAddress(
            f"witness v{decoded.version} address with a {len(decoded.program)}-byte program is "
            "valid but unsupported: it has no standard output type bitcache can pay"
        )
    return PayoutScript(script_type, script, text.lower())


def _parse_base58(text: str, network: Network) -> PayoutScript:
    payload = b58decode_check(text)
    if len(payload) != 21:
        raise InvalidAddress(
            f"base58 address payload is {len(payload)} bytes; expected 21 (version + hash)"
        )
    version, digest = payload[0], payload[1:]
    if version == network.p2pkh_version:
        script = bytes([_OP_DUP, _OP_HASH160, 20]) + digest + bytes([_OP_EQUALVERIFY, _OP_CHECKSIG])
        return PayoutScript(ScriptType.P2PKH, script, text)
    if version == network.p2sh_version:
        script = bytes([_OP_HASH160, 20]) + digest + bytes([_OP_EQUAL])
        return PayoutScript(ScriptType.P2SH, script, text)
    owners = _networks_of_version(version)
    if owners:
        raise AddressNetworkMismatch(
            f"{_names(owners)} base58 address (version byte 0x{version:02x}) given, "
            f"expected a {network.value} address"
        )
    raise InvalidAddress(f"base58 address has unknown version byte 0x{version:02x}")


def parse_address(text: str, network: Network) -> PayoutScript:
    """Parse and validate a payout address for ``network`` into its output script."""
    if not isinstance(text, str):
        raise InvalidAddress(f"address must be a str, not {type(text).__name__}")
    if not text:
        raise InvalidAddress("address is empty")
    if text != text.strip():
        raise InvalidAddress("address has leading or trailing whitespace")
    if _is_bech32_candidate(text):
        return _parse_segwit(text, network)
    return _parse_base58(text, network)


def address_for_script(script_pubkey: bytes, network: Network) -> str:
    """The address of a standard output script on ``network`` (inverse of ``parse_address``)."""
    script_type = script_type_of(script_pubkey)
    if script_type is ScriptType.P2PKH:
        return b58encode_check(bytes([network.p2pkh_version]) + script_pubkey[3:23])
    if script_type is ScriptType.P2SH:
        return b58encode_check(bytes([network.p2sh_version]) + script_pubkey[2:22])
    if script_type in (ScriptType.P2WPKH, ScriptType.P2WSH):
        return encode_segwit(network.hrp, 0, script_pubkey[2:])
    if script_type is ScriptType.P2TR:
        return encode_segwit(network.hrp, 1, script_pubkey[2:])
    raise InvalidAddress(
        f"output script {script_pubkey[:40].hex()}… is not a standard type bitcache can pay"
    )
