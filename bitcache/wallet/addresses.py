"""Payout addresses: parse and validate them into output scripts, and back.

bitcache pays P2PKH and P2SH (base58check), P2WPKH and P2WSH (bech32, witness
v0) and P2TR (bech32m, witness v1, 32 bytes). An address is checked against
the network bitcache runs on: a valid address of another network, a checksum
error, a bech32/bech32m mix-up and a bad witness program each raise their own
``InvalidAddress`` subclass, whose message says what is wrong.

Witness versions 2 to 16 (and v1 programs that are not 32 bytes) are valid
addresses under BIP350, but no standard output type exists for them yet:
paying one would be non-standard, so they are refused as unsupported.

:func:`payout_script_for_key` gives the address a single public key has for a
type (P2PKH, P2SH-wrapped P2WPKH, P2WPKH, BIP86 key-path P2TR) through
bip-utils' encoders, which hold the BIP86 taproot tweak. Output scripts come
from :mod:`bitcache.bitcoin.script`; the bech32 decoder is bitcache's own
(:mod:`bitcache.wallet.bech32` says why).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bip_utils import P2PKHAddrEncoder, P2SHAddrEncoder, P2TRAddrEncoder, P2WPKHAddrEncoder

from bitcache.bitcoin.script import p2pkh_script, p2sh_script, script_type_of
from bitcache.core.scripttype import ScriptType
from bitcache.errors import AddressNetworkMismatch, InvalidAddress, InvalidInput
from bitcache.network import Network
from bitcache.wallet.base58 import ALPHABET as B58_ALPHABET
from bitcache.wallet.base58 import b58decode_check, b58encode_check
from bitcache.wallet.bech32 import WitnessProgram, decode_segwit, encode_segwit


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
        return PayoutScript(ScriptType.P2PKH, p2pkh_script(digest), text)
    if version == network.p2sh_version:
        return PayoutScript(ScriptType.P2SH, p2sh_script(digest), text)
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
    if not isinstance(script_pubkey, bytes) or not isinstance(network, Network):
        raise InvalidInput(
            "address_for_script takes an output script (bytes) and a Network, got "
            f"{type(script_pubkey).__name__} and {type(network).__name__}")
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


def payout_script_for_key(pubkey: bytes, script_type: ScriptType, network: Network) -> PayoutScript:
    """The single-key destination of a compressed public key for ``script_type``.

    P2PKH, P2SH (wrapping P2WPKH, as BIP49), P2WPKH (BIP84) and P2TR (the
    BIP86 key-path output: the key tweaked by its own TapTweak hash). P2WSH
    has no single-key template and is refused, as is a key that is not a
    point on secp256k1.
    """
    encode = _KEY_ENCODERS.get(script_type)
    if encode is None:
        raise InvalidInput(f"{script_type!r} has no single-key address template")
    try:
        address = encode(pubkey, network)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"not a secp256k1 public key: {exc}") from exc
    return parse_address(address, network)


def _p2pkh_address(key: bytes, net: Network) -> str:
    return str(P2PKHAddrEncoder.EncodeKey(key, net_ver=bytes([net.p2pkh_version])))


def _p2sh_p2wpkh_address(key: bytes, net: Network) -> str:
    return str(P2SHAddrEncoder.EncodeKey(key, net_ver=bytes([net.p2sh_version])))


def _p2wpkh_address(key: bytes, net: Network) -> str:
    return str(P2WPKHAddrEncoder.EncodeKey(key, hrp=net.hrp))


def _p2tr_address(key: bytes, net: Network) -> str:
    return str(P2TRAddrEncoder.EncodeKey(key, hrp=net.hrp))


_KEY_ENCODERS: dict[ScriptType, Callable[[bytes, Network], str]] = {
    ScriptType.P2PKH: _p2pkh_address,
    ScriptType.P2SH: _p2sh_p2wpkh_address,
    ScriptType.P2WPKH: _p2wpkh_address,
    ScriptType.P2TR: _p2tr_address,
}
