"""sha256d and hash160 against published values, on both RIPEMD-160 implementations."""

from __future__ import annotations

import hashlib

import pytest

from bitcache.bitcoin import hashes
from bitcache.bitcoin.hashes import hash160, sha256d

# RIPEMD-160 test vectors (Dobbertin, Bosselaers, Preneel).
RIPEMD160 = {
    b"": "9c1185a5c5e9fc54612808977ee8f548b2258d31",
    b"abc": "8eb208f7e05d987a9b044a8e98c6b087f15a0bfc",
    b"message digest": "5d0689ef49d2fae572b881b123a85ffa21595f36",
}
GENERATOR = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")


@pytest.mark.parametrize(
    "ripemd160", [hashes._bip_utils_ripemd160, hashes._hashlib_ripemd160, hashes._ripemd160]
)
def test_ripemd160_vectors(ripemd160: object) -> None:
    assert callable(ripemd160)
    if ripemd160 is hashes._hashlib_ripemd160 and hashes._ripemd160 is not ripemd160:
        pytest.skip("this OpenSSL has no RIPEMD-160; bip-utils' is the one in use")
    for data, digest in RIPEMD160.items():
        assert ripemd160(data).hex() == digest


def test_hash160_of_the_generator_is_the_bip173_example_program() -> None:
    # BIP173: bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4 is the P2WPKH of this key.
    assert hash160(GENERATOR).hex() == "751e76e8199196d454941c45d1b3a323f1433bd6"


def test_sha256d_is_sha256_twice() -> None:
    # The genesis block header's hash, the most published sha256d there is.
    header = bytes.fromhex(
        "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd"
        "7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c"
    )
    genesis = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
    assert sha256d(header)[::-1].hex() == genesis
    assert sha256d(b"") == hashlib.sha256(hashlib.sha256(b"").digest()).digest()
