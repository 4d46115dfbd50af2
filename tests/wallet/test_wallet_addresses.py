"""Address parsing: BIP173/BIP350 segwit vectors, Bitcoin Core's key_io addresses, errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wallet_support import CHAIN_NETWORKS, error_class, load_vectors, networks_of_address

from bitcache.core.scripttype import ScriptType
from bitcache.errors import (
    AddressChecksumError,
    AddressNetworkMismatch,
    InvalidAddress,
)
from bitcache.network import Network
from bitcache.wallet.addresses import address_for_script, parse_address, script_type_of
from bitcache.wallet.base58 import ALPHABET, b58decode_check, b58encode_check
from bitcache.wallet.bech32 import decode_segwit

BIP173 = load_vectors("bip173.json")
BIP350 = load_vectors("bip350.json")
KEY_IO = load_vectors("key_io_addresses.json")["valid"]
VALID_SEGWIT = BIP173["valid_segwit"] + BIP350["valid_segwit"]
INVALID_SEGWIT = BIP173["invalid_segwit"] + BIP350["invalid_segwit"]


def _check_parses_or_is_unsupported(address: str, script_hex: str, net: Network) -> None:
    expected = bytes.fromhex(script_hex)
    if script_type_of(expected) is None:
        with pytest.raises(InvalidAddress, match="unsupported") as info:
            parse_address(address, net)
        assert type(info.value) is InvalidAddress
        return
    parsed = parse_address(address, net)
    assert parsed.script_pubkey == expected
    assert parsed.script_type is script_type_of(expected)
    assert parsed.address == address_for_script(expected, net)
    assert parse_address(parsed.address, net) == parsed


@pytest.mark.parametrize("vector", VALID_SEGWIT, ids=[v["address"][:24] for v in VALID_SEGWIT])
def test_valid_segwit_vectors(vector: dict[str, str]) -> None:
    address, script_hex = vector["address"], vector["script_pubkey"]
    assert decode_segwit(address).script_pubkey.hex() == script_hex
    home = networks_of_address(address)
    supported = script_type_of(bytes.fromhex(script_hex)) is not None
    for net in home:
        _check_parses_or_is_unsupported(address, script_hex, net)
        if supported:
            assert parse_address(address, net).address == address.lower()
    for net in set(Network) - set(home):
        with pytest.raises(AddressNetworkMismatch, match=home[0].value):
            parse_address(address, net)


@pytest.mark.parametrize("vector", BIP173["superseded_by_bip350"], ids=lambda v: v["address"][:24])
def test_bip173_v1_plus_bech32_addresses_are_refused_since_bip350(vector: dict[str, str]) -> None:
    for net in Network:
        with pytest.raises(InvalidAddress) as info:
            parse_address(vector["address"], net)
        assert type(info.value) is error_class(vector["error"])


@pytest.mark.parametrize("vector", INVALID_SEGWIT, ids=[v["reason"] for v in INVALID_SEGWIT])
def test_invalid_segwit_vectors_raise_the_precise_error(vector: dict[str, str]) -> None:
    for net in Network:
        with pytest.raises(InvalidAddress) as info:
            parse_address(vector["address"], net)
        assert type(info.value) is error_class(vector["error"]), str(info.value)


@pytest.mark.parametrize("vector", KEY_IO, ids=[v["address"][:24] for v in KEY_IO])
def test_bitcoin_core_key_io_addresses(vector: dict[str, str]) -> None:
    address, chain = vector["address"], CHAIN_NETWORKS[vector["chain"]]
    _check_parses_or_is_unsupported(address, vector["script_pubkey"], chain)
    mainnet = chain is Network.MAINNET
    for net in Network:
        if (net is Network.MAINNET) != mainnet:
            with pytest.raises(AddressNetworkMismatch):
                parse_address(address, net)


def test_mainnet_addresses_parse_only_on_mainnet() -> None:
    for address in (
        "1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mo",
        "bc1qvyq0cc6rahyvsazfdje0twl7ez82ndmuac2lhv",
    ):
        assert parse_address(address, Network.MAINNET).address == address
        for net in (Network.TESTNET4, Network.SIGNET, Network.REGTEST):
            with pytest.raises(AddressNetworkMismatch, match=f"mainnet.*expected a {net.value}"):
                parse_address(address, net)


def test_regtest_and_testnet_segwit_addresses_are_told_apart() -> None:
    with pytest.raises(AddressNetworkMismatch, match="regtest"):
        parse_address("bcrt1qdavt4j2sd7dlhqsavtnfxvzppw6k7qy97tmnu9", Network.TESTNET4)
    with pytest.raises(AddressNetworkMismatch, match="testnet4/signet"):
        parse_address("tb1qcrh3yqn4nlleplcez2yndq2ry8h9ncg3qh7n54", Network.REGTEST)


def test_uppercase_segwit_address_is_normalised_to_lowercase() -> None:
    parsed = parse_address("TB1QCRH3YQN4NLLEPLCEZ2YNDQ2RY8H9NCG3QH7N54", Network.TESTNET4)
    assert parsed.address == "tb1qcrh3yqn4nlleplcez2yndq2ry8h9ncg3qh7n54"
    assert parsed.script_type is ScriptType.P2WPKH


def _flip_char(text: str, pos: int) -> str:
    replacement = ALPHABET[(ALPHABET.index(text[pos]) + 1) % len(ALPHABET)]
    return text[:pos] + replacement + text[pos + 1 :]


@pytest.mark.parametrize("pos", [1, 10, 20, 33])
def test_base58_typo_is_a_checksum_error(pos: int) -> None:
    with pytest.raises(AddressChecksumError):
        parse_address(_flip_char("mzK2FFDEhxqHcmrJw1ysqFkVyhUULo45hZ", pos), Network.TESTNET4)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (bytes([0x6F]) + bytes(19), "payload is 20 bytes"),
        (bytes([0x6F]) + bytes(21), "payload is 22 bytes"),
        (bytes([0x30]) + bytes(20), "unknown version byte 0x30"),
    ],
)
def test_base58_wrong_shape_or_version(payload: bytes, message: str) -> None:
    with pytest.raises(InvalidAddress, match=message) as info:
        parse_address(b58encode_check(payload), Network.TESTNET4)
    assert type(info.value) is InvalidAddress


@pytest.mark.parametrize(
    "text", ["", " tb1qcrh3yqn4nlleplcez2yndq2ry8h9ncg3qh7n54", "hello world", "0OIl", "1"]
)
def test_garbage_is_invalid(text: str) -> None:
    with pytest.raises(InvalidAddress):
        parse_address(text, Network.TESTNET4)


def test_non_string_is_invalid() -> None:
    with pytest.raises(InvalidAddress, match="must be a str"):
        parse_address(b"tb1q", Network.TESTNET4)  # type: ignore[arg-type]


SCRIPTS = {
    ScriptType.P2PKH: "76a914" + "11" * 20 + "88ac",
    ScriptType.P2SH: "a914" + "22" * 20 + "87",
    ScriptType.P2WPKH: "0014" + "33" * 20,
    ScriptType.P2WSH: "0020" + "44" * 32,
    ScriptType.P2TR: "5120" + "55" * 32,
}


@pytest.mark.parametrize(("script_type", "script_hex"), SCRIPTS.items())
def test_script_type_of_each_standard_type(script_type: ScriptType, script_hex: str) -> None:
    assert script_type_of(bytes.fromhex(script_hex)) is script_type
    assert script_type_of(bytes.fromhex(script_hex)[:-1]) is None


@pytest.mark.parametrize(
    "script_hex",
    ["", "6a0401020304", "5210" + "00" * 16, "0015" + "00" * 21, "76a914" + "11" * 20 + "88ad"],
)
def test_non_standard_scripts_have_no_type_or_address(script_hex: str) -> None:
    script = bytes.fromhex(script_hex)
    assert script_type_of(script) is None
    with pytest.raises(InvalidAddress, match="not a standard type"):
        address_for_script(script, Network.REGTEST)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(list(ScriptType)),
    st.sampled_from(list(Network)),
    st.binary(min_size=32, max_size=32),
)
def test_address_for_script_round_trips(script_type: ScriptType, net: Network, body: bytes) -> None:
    template = bytes.fromhex(SCRIPTS[script_type])
    size = 20 if script_type in (ScriptType.P2PKH, ScriptType.P2SH, ScriptType.P2WPKH) else 32
    prefix_len = 3 if script_type is ScriptType.P2PKH else 2
    script = template[:prefix_len] + body[:size] + template[prefix_len + size :]
    address = address_for_script(script, net)
    parsed = parse_address(address, net)
    assert (parsed.script_type, parsed.script_pubkey, parsed.address) == (
        script_type,
        script,
        address,
    )
    if script_type in (ScriptType.P2PKH, ScriptType.P2SH):
        assert b58decode_check(address)[1:] == body[:size]
