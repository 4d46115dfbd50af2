"""The encrypted mnemonic: round trip, wrong passphrase, damage, format."""

from __future__ import annotations

import hashlib

import pytest
from wallet_support import ABANDON_MNEMONIC

from bitcache.errors import InvalidInput, InvalidMnemonic, SeedBlobCorrupt, WrongPassphrase
from bitcache.wallet.seedbox import (
    HEADER_BYTES,
    ScryptParams,
    decrypt_mnemonic,
    encrypt_mnemonic,
    seal,
)

FAST = ScryptParams(log2_n=10)
SALT = bytes(range(16))
NONCE = bytes(range(100, 112))


def _blob(passphrase: str = "correct horse") -> bytes:
    return encrypt_mnemonic(ABANDON_MNEMONIC, passphrase, salt=SALT, nonce=NONCE, params=FAST)


def _with_checksum(body: bytes) -> bytes:
    return body + hashlib.sha256(body).digest()[:4]


def test_round_trip_and_layout() -> None:
    blob = _blob()
    assert blob == _blob()  # deterministic given salt and nonce
    assert blob[:4] == bytes([1, 10, 8, 1])
    assert blob[4:20] == SALT and blob[20:32] == NONCE
    assert len(blob) == HEADER_BYTES + len(ABANDON_MNEMONIC) + 16 + 4
    assert b"abandon" not in blob
    assert decrypt_mnemonic(blob, "correct horse") == ABANDON_MNEMONIC


def test_mnemonic_is_normalised_before_sealing() -> None:
    messy = "  " + ABANDON_MNEMONIC.upper().replace(" ", "   ") + "\n"
    blob = encrypt_mnemonic(messy, "pw", salt=SALT, nonce=NONCE, params=FAST)
    assert decrypt_mnemonic(blob, "pw") == ABANDON_MNEMONIC


def test_default_parameters_work() -> None:
    blob = seal(ABANDON_MNEMONIC, "pw")
    assert blob[1] == 15
    assert decrypt_mnemonic(blob, "pw") == ABANDON_MNEMONIC


def test_seal_draws_fresh_salt_and_nonce() -> None:
    first = seal(ABANDON_MNEMONIC, "pw", params=FAST)
    second = seal(ABANDON_MNEMONIC, "pw", params=FAST)
    assert first[4:32] != second[4:32]
    assert decrypt_mnemonic(first, "pw") == decrypt_mnemonic(second, "pw") == ABANDON_MNEMONIC


@pytest.mark.parametrize("wrong", ["correct horsE", "correct horse ", "x"])
def test_wrong_passphrase(wrong: str) -> None:
    with pytest.raises(WrongPassphrase) as info:
        decrypt_mnemonic(_blob(), wrong)
    assert "abandon" not in str(info.value)


def test_any_damaged_byte_is_reported_as_corruption() -> None:
    blob = _blob()
    for pos in range(len(blob)):
        damaged = bytearray(blob)
        damaged[pos] ^= 0x01
        with pytest.raises(SeedBlobCorrupt):
            decrypt_mnemonic(bytes(damaged), "correct horse")


@pytest.mark.parametrize("size", [0, 1, 31, HEADER_BYTES + 19])
def test_truncated_blob(size: int) -> None:
    with pytest.raises(SeedBlobCorrupt, match="truncated"):
        decrypt_mnemonic(_blob()[:size], "correct horse")


def test_unknown_version_and_unusable_parameters() -> None:
    body = _blob()[:-4]
    with pytest.raises(SeedBlobCorrupt, match="format version 2"):
        decrypt_mnemonic(_with_checksum(b"\x02" + body[1:]), "correct horse")
    for header in (bytes([1, 40, 8, 1]), bytes([1, 20, 32, 1]), bytes([1, 3, 8, 1])):
        with pytest.raises(SeedBlobCorrupt, match="scrypt"):
            decrypt_mnemonic(_with_checksum(header + body[4:]), "correct horse")


def test_deliberate_tampering_with_fixed_checksum_never_decrypts() -> None:
    body = bytearray(_blob()[:-4])
    body[1] = 11  # a cheaper/dearer KDF: the header is authenticated data
    with pytest.raises(WrongPassphrase):
        decrypt_mnemonic(_with_checksum(bytes(body)), "correct horse")


def test_not_bytes_is_corrupt() -> None:
    with pytest.raises(SeedBlobCorrupt):
        decrypt_mnemonic("blob", "pw")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"salt": bytes(15)}, InvalidInput),
        ({"nonce": bytes(16)}, InvalidInput),
        ({"passphrase": ""}, InvalidInput),
        ({"params": ScryptParams(log2_n=9)}, InvalidInput),
        ({"params": ScryptParams(log2_n=20, r=8)}, InvalidInput),
        ({"params": ScryptParams(r=0)}, InvalidInput),
        ({"mnemonic": "abandon " * 12}, InvalidMnemonic),
    ],
)
def test_bad_encryption_arguments(kwargs: dict[str, object], error: type[Exception]) -> None:
    args: dict[str, object] = {
        "mnemonic": ABANDON_MNEMONIC,
        "passphrase": "pw",
        "salt": SALT,
        "nonce": NONCE,
        "params": FAST,
    }
    args.update(kwargs)
    with pytest.raises(error):
        encrypt_mnemonic(**args)  # type: ignore[arg-type]


def test_empty_passphrase_refused_on_decrypt() -> None:
    with pytest.raises(InvalidInput):
        decrypt_mnemonic(_blob(), "")
