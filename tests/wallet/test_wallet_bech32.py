"""bech32 / bech32m codec against the BIP173 and BIP350 vectors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wallet_support import error_class, load_vectors

from bitcache.errors import AddressChecksumError, InvalidAddress, WitnessProgramError
from bitcache.wallet.bech32 import (
    CHARSET,
    Encoding,
    bech32_decode,
    bech32_encode,
    convert_bits,
    decode_segwit,
    encode_segwit,
)

BIP173 = load_vectors("bip173.json")
BIP350 = load_vectors("bip350.json")
VALID = [(s, Encoding.BECH32) for s in BIP173["valid_bech32"]] + [
    (s, Encoding.BECH32M) for s in BIP350["valid_bech32m"]
]
INVALID = BIP173["invalid_bech32"] + BIP350["invalid_bech32m"]


@pytest.mark.parametrize(("text", "encoding"), VALID)
def test_valid_strings_decode_with_their_checksum_and_reencode(
    text: str, encoding: Encoding
) -> None:
    decoded = bech32_decode(text)
    assert decoded.encoding is encoding
    assert decoded.hrp == text[: text.rfind("1")].lower()
    assert bech32_encode(decoded.hrp, decoded.data, encoding) == text.lower()


@pytest.mark.parametrize("vector", INVALID, ids=[v["reason"] for v in INVALID])
def test_invalid_strings_raise_the_precise_error(vector: dict[str, str]) -> None:
    with pytest.raises(InvalidAddress) as info:
        bech32_decode(vector["string"])
    assert type(info.value) is error_class(vector["error"])


@pytest.mark.parametrize(("text", "encoding"), VALID)
def test_every_single_substitution_is_a_checksum_error(text: str, encoding: Encoding) -> None:
    lowered = text.lower()
    sep = lowered.rfind("1")
    for pos in range(sep + 1, len(lowered)):
        replacement = CHARSET[(CHARSET.index(lowered[pos]) + 1) % 32]
        mutated = lowered[:pos] + replacement + lowered[pos + 1 :]
        with pytest.raises(AddressChecksumError):
            bech32_decode(mutated)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=64))
def test_convert_bits_round_trip(data: bytes) -> None:
    five = convert_bits(data, 8, 5, pad=True)
    assert all(0 <= v < 32 for v in five)
    assert bytes(convert_bits(five, 5, 8, pad=False)) == data


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["bc", "tb", "bcrt"]),
    st.integers(min_value=0, max_value=16),
    st.data(),
)
def test_segwit_round_trip(hrp: str, version: int, data: st.DataObject) -> None:
    sizes = st.sampled_from([20, 32]) if version == 0 else st.integers(min_value=2, max_value=40)
    program = data.draw(st.binary(min_size=data.draw(sizes), max_size=40))
    if version == 0:
        program = program[: 20 if len(program) < 32 else 32]
    address = encode_segwit(hrp, version, program)
    decoded = decode_segwit(address)
    assert (decoded.hrp, decoded.version, decoded.program) == (hrp, version, program)
    assert decode_segwit(address.upper()) == decoded


@pytest.mark.parametrize(("version", "size"), [(0, 21), (0, 1), (1, 41), (17, 32), (-1, 20)])
def test_encode_segwit_refuses_bad_programs(version: int, size: int) -> None:
    with pytest.raises(WitnessProgramError):
        encode_segwit("tb", version, bytes(size))
