"""Base58Check, the encoding of legacy addresses and extended keys, with typed errors.

A payload is followed by the first four bytes of its double SHA-256 and the
whole is written in base 58 (leading zero bytes become '1's). The codec is
bip-utils'; this module checks the alphabet first (so the message names the
offending characters) and turns its errors into bitcache's:
``AddressChecksumError`` for a checksum that does not verify,
``InvalidAddress`` for anything else malformed.
"""

from __future__ import annotations

from bip_utils import Base58ChecksumError, Base58Decoder, Base58Encoder

from bitcache.errors import AddressChecksumError, InvalidAddress

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_CHECKSUM_BYTES = 4


def b58encode_check(payload: bytes) -> str:
    """Encode ``payload`` with its 4-byte double-SHA-256 checksum."""
    return str(Base58Encoder.CheckEncode(payload))


def b58decode_check(text: str) -> bytes:
    """Decode a Base58Check string and return the payload (checksum verified and removed)."""
    bad = sorted(set(text) - set(ALPHABET))
    if bad:
        raise InvalidAddress(f"not base58: invalid character(s) {''.join(bad)!r}")
    if len(Base58Decoder.Decode(text)) <= _CHECKSUM_BYTES:
        raise InvalidAddress("base58check string is too short to hold a checksum")
    try:
        return bytes(Base58Decoder.CheckDecode(text))
    except Base58ChecksumError:
        raise AddressChecksumError(
            "base58check checksum does not verify (mistyped address?)"
        ) from None
