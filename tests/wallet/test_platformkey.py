"""The platform key: saved 0600, never overwritten, loaded back; passphrases enforced."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bitcache.errors import InvalidInput, StatementInvalid, WrongPassphrase
from bitcache.statements.treehead import SignedTreeHead
from bitcache.wallet import platformkey as pk


@pytest.mark.parametrize("passphrase", [None, "correct horse"])
def test_a_saved_key_loads_back_and_signs_the_same(tmp_path: Path, passphrase: str | None) -> None:
    key = pk.generate_platform_key()
    path = pk.save_platform_key(key, tmp_path / "platform.key", passphrase=passphrase)
    assert path.stat().st_mode & 0o777 == 0o600
    raw = path.read_bytes()
    assert (len(raw) == 32) is (passphrase is None)
    loaded = pk.load_platform_key(path, passphrase=passphrase)
    assert pk.public_key_hex(loaded) == pk.public_key_hex(key)
    head = SignedTreeHead(3, b"\x07" * 32, 99).sign(loaded)
    head.verify(pk.parse_public_key(pk.public_key_hex(key)))


def test_passphrase_mistakes_are_wrong_passphrase(tmp_path: Path) -> None:
    path = pk.save_platform_key(pk.generate_platform_key(), tmp_path / "k.pem", passphrase=b"pw")
    assert b"ENCRYPTED" in path.read_bytes()
    with pytest.raises(WrongPassphrase, match="does not decrypt"):
        pk.load_platform_key(path, passphrase="other")
    with pytest.raises(WrongPassphrase, match="passphrase is needed"):
        pk.load_platform_key(path)


def test_key_files_are_never_overwritten_nor_read_when_exposed(tmp_path: Path) -> None:
    path = pk.save_platform_key(pk.generate_platform_key(), tmp_path / "k")
    with pytest.raises(InvalidInput, match="refusing to overwrite"):
        pk.save_platform_key(pk.generate_platform_key(), path)
    os.chmod(path, 0o644)
    with pytest.raises(InvalidInput, match="accessible by other users"):
        pk.load_platform_key(path)
    junk = tmp_path / "junk"
    junk.write_bytes(b"x" * 31)
    junk.chmod(0o600)
    with pytest.raises(InvalidInput, match="neither a PEM key nor a raw"):
        pk.load_platform_key(junk)


def test_public_keys_parse_from_hex_raw_and_pem(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    key = pk.generate_platform_key()
    hex_form = pk.public_key_hex(key)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "pub").write_text(hex_form + "\n")
    for form in (hex_form, bytes.fromhex(hex_form), pem):
        assert pk.public_key_hex(pk.parse_public_key(form)) == hex_form
    assert pk.public_key_hex(pk.load_public_key(tmp_path / "pub")) == hex_form
    with pytest.raises(InvalidInput, match="64 hex"):
        pk.parse_public_key("abc")


def test_tree_head_json_round_trips_and_rejects_malformed_fields() -> None:
    key = pk.generate_platform_key()
    head = SignedTreeHead(5, b"\x01" * 32, 1_700_000_000_000_000).sign(key)
    assert SignedTreeHead.from_json(head.to_json()) == head
    for field, value in (("tree_size", -1), ("root_hash", "AB" * 32), ("signature", "00"),
                         ("timestamp", True)):
        bad = {**head.to_json(), field: value}
        with pytest.raises(StatementInvalid):
            SignedTreeHead.from_json(bad)
    moved = SignedTreeHead(6, head.root_hash, head.timestamp, head.signature)
    with pytest.raises(StatementInvalid, match="size 6 does not verify"):
        moved.verify(key.public_key())
