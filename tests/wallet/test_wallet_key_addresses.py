"""The single-key address of a public key: BIP86 (taproot), BIP84, BIP49 and P2PKH vectors."""

from __future__ import annotations

import pytest
from wallet_support import load_vectors

from bitcache.core.scripttype import ScriptType
from bitcache.errors import InvalidInput
from bitcache.network import Network
from bitcache.wallet.addresses import parse_address, payout_script_for_key

BIP86 = load_vectors("bip86.json")
BIP84 = load_vectors("bip84.json")


@pytest.mark.parametrize("vector", BIP86["keys"], ids=lambda v: v["path"])
def test_bip86_key_path_output_of_the_internal_key(vector: dict[str, str]) -> None:
    # BIP86 gives the x-only internal key; 0x02 ‖ x is the same point (even y, as BIP340 lifts it).
    internal = bytes.fromhex("02" + vector["internal_key"])
    dest = payout_script_for_key(internal, ScriptType.P2TR, Network.MAINNET)
    assert dest.script_type is ScriptType.P2TR
    assert dest.script_pubkey.hex() == vector["script_pubkey"]
    assert dest.script_pubkey[2:].hex() == vector["output_key"]
    assert dest.address == vector["address"]


def test_taproot_output_key_does_not_depend_on_the_parity_of_y() -> None:
    x = BIP86["keys"][0]["internal_key"]
    even = payout_script_for_key(bytes.fromhex("02" + x), ScriptType.P2TR, Network.REGTEST)
    odd = payout_script_for_key(bytes.fromhex("03" + x), ScriptType.P2TR, Network.REGTEST)
    assert even == odd
    assert even.address.startswith("bcrt1p")


@pytest.mark.parametrize(
    "key", BIP84["mainnet"]["keys"], ids=lambda k: f"{k['chain']}/{k['index']}"
)
def test_bip84_pubkeys_give_their_p2wpkh_addresses(key: dict[str, str]) -> None:
    dest = payout_script_for_key(bytes.fromhex(key["pubkey"]), ScriptType.P2WPKH, Network.MAINNET)
    assert dest.address == key["address"]
    assert dest == parse_address(key["address"], Network.MAINNET)


def test_bip49_p2sh_wrapped_p2wpkh() -> None:
    # BIP49 test vector: m/49'/1'/0'/0/0 of the "abandon … about" mnemonic on testnet.
    pubkey = bytes.fromhex("03a1af804ac108a8a51782198c2d034b28bf90c8803f5a53f76276fa69a4eae77f")
    dest = payout_script_for_key(pubkey, ScriptType.P2SH, Network.TESTNET4)
    assert dest.address == "2Mww8dCYPUpKHofjgcXcBCEGmniw9CoaiD2"
    assert dest.script_type is ScriptType.P2SH


def test_p2pkh_of_the_generator_point() -> None:
    generator = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
    dest = payout_script_for_key(generator, ScriptType.P2PKH, Network.MAINNET)
    assert dest.address == "1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH"


def test_p2wsh_has_no_single_key_template() -> None:
    pubkey = bytes.fromhex(BIP84["mainnet"]["keys"][0]["pubkey"])
    with pytest.raises(InvalidInput, match="no single-key"):
        payout_script_for_key(pubkey, ScriptType.P2WSH, Network.REGTEST)


@pytest.mark.parametrize("key", [b"", b"\x02" + b"\xff" * 32, b"\x05" + bytes(32), bytes(33)])
@pytest.mark.parametrize("script_type", [ScriptType.P2PKH, ScriptType.P2WPKH, ScriptType.P2TR])
def test_a_key_off_the_curve_is_refused(key: bytes, script_type: ScriptType) -> None:
    with pytest.raises(InvalidInput, match="secp256k1"):
        payout_script_for_key(key, script_type, Network.REGTEST)
