"""Base58Check, the encoding of legacy addresses and extended keys.

A payload is followed by the first four bytes of its double SHA-256 and the
whole is written in base 58 (leading zero bytes become '1's).
"""

from __future__ import annotations

import hashlib

from bitcache.errors import AddressChecksumError, InvalidAddress

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(ALPHABET)}


def _checksum(payload: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]


def b58encode(data: bytes) -> str:
    """Encode bytes in base 58, keeping leading zero bytes as '1's."""
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rem = divmod(number, 58)
        out.append(ALPHABET[rem])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    """Decode a base 58 string; ``InvalidAddress`` for a character outside the alphabet."""
    bad = sorted({c for c in text if c not in _INDEX})
    if bad:
        raise InvalidAddress(f"not base58: invalid character(s) {''.join(bad)!r}")
    number = 0
    for c in text:
        number = number * 58 + _INDEX[c]
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    zeros = len(text) - len(text.lstrip("1"))
    return b"\0" * zeros + body


def b58encode_check(payload: bytes) -> str:
    """Encode ``payload`` with its 4-byte double-SHA-256 checksum."""
    return b58encode(payload + _checksum(payload))


def b58decode_check(text: str) -> bytes:
    """Decode a Base58Check string and return the payload (checksum verified and removed)."""
    raw = b58decode(text)
    if len(raw) < 5:
        raise InvalidAddress("base58check string is too short to hold a checksum")
    payload, checksum = raw[:-4], raw[-4:]
    if _checksum(payload) != checksum:
        raise AddressChecksumError("base58check checksum does not verify (mistyped address?)")
    return payload
