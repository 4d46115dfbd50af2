"""Bech32 and bech32m strings, and segwit addresses built on them.

BIP173 defines bech32; BIP350 defines bech32m and assigns it to witness
versions 1 to 16 (bech32 stays for version 0). This is the reference algorithm
from those BIPs, written to say precisely *why* a string is refused: a bad
checksum, the wrong one of the two checksums for the witness version, a bad
witness version or program length, or a malformed string.

bitcache's own code rather than bip-utils' segwit codec because that codec
cannot say why: it checks a string against the checksum its witness version
should carry, so a bech32/bech32m mix-up is reported as a checksum error, and
every other refusal is a ``ValueError`` whose only detail is its text. The
error classes below are part of bitcache's API and are tested against the
BIP173 and BIP350 vectors.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from bitcache.bitcoin.script import MAX_WITNESS_VERSION, witness_program_script
from bitcache.errors import (
    AddressChecksumError,
    AddressEncodingMismatch,
    InvalidAddress,
    WitnessProgramError,
)

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHAR_VALUE = {c: i for i, c in enumerate(CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
MAX_LENGTH = 90
CHECKSUM_LENGTH = 6


class Encoding(enum.Enum):
    """The two checksum variants; the value is the constant the checksum is xored with."""

    BECH32 = 1
    BECH32M = 0x2BC830A3


@dataclass(frozen=True)
class Bech32String:
    """A decoded bech32/bech32m string: lowercase HRP, 5-bit data (checksum removed)."""

    hrp: str
    data: tuple[int, ...]
    encoding: Encoding


@dataclass(frozen=True)
class WitnessProgram:
    """A decoded segwit address: HRP, witness version (0-16) and program bytes."""

    hrp: str
    version: int
    program: bytes

    @property
    def script_pubkey(self) -> bytes:
        """The output script: OP_version, then a push of the program."""
        return witness_program_script(self.version, self.program)


def _polymod(values: Sequence[int]) -> int:
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate(_GENERATOR):
            if (top >> i) & 1:
                chk ^= gen
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _create_checksum(hrp: str, data: Sequence[int], encoding: Encoding) -> list[int]:
    polymod = _polymod([*_hrp_expand(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ encoding.value
    return [(polymod >> 5 * (5 - i)) & 31 for i in range(CHECKSUM_LENGTH)]


def bech32_encode(hrp: str, data: Sequence[int], encoding: Encoding) -> str:
    """Encode an HRP and 5-bit values as a lowercase bech32/bech32m string."""
    hrp = hrp.lower()
    combined = [*data, *_create_checksum(hrp, data, encoding)]
    return hrp + "1" + "".join(CHARSET[d] for d in combined)


def _check_shape(text: str) -> None:
    """Refuse strings that cannot be bech32 whatever their checksum."""
    if any(ord(c) < 33 or ord(c) > 126 for c in text):
        raise InvalidAddress("bech32 string has a character outside US-ASCII 33-126")
    if text.lower() != text and text.upper() != text:
        raise InvalidAddress("bech32 string mixes upper and lower case")
    if len(text) > MAX_LENGTH:
        raise InvalidAddress(f"bech32 string is {len(text)} characters; at most {MAX_LENGTH}")
    sep = text.rfind("1")
    if sep < 1:
        raise InvalidAddress("bech32 string has no human-readable part before the separator '1'")
    if sep + 1 + CHECKSUM_LENGTH > len(text):
        raise InvalidAddress("bech32 string is too short to hold its 6-character checksum")


def bech32_decode(text: str) -> Bech32String:
    """Decode a bech32 or bech32m string, telling which checksum it carries.

    Raises ``AddressChecksumError`` when neither checksum verifies and
    ``InvalidAddress`` for a malformed string.
    """
    _check_shape(text)
    lowered = text.lower()
    sep = lowered.rfind("1")
    hrp = lowered[:sep]
    bad = sorted({c for c in lowered[sep + 1 :] if c not in _CHAR_VALUE})
    if bad:
        raise InvalidAddress(f"bech32 data part has invalid character(s) {''.join(bad)!r}")
    data = [_CHAR_VALUE[c] for c in lowered[sep + 1 :]]
    residue = _polymod([*_hrp_expand(hrp), *data])
    for encoding in Encoding:
        if residue == encoding.value:
            return Bech32String(hrp, tuple(data[:-CHECKSUM_LENGTH]), encoding)
    raise AddressChecksumError("bech32/bech32m checksum does not verify (mistyped address?)")


def convert_bits(data: Sequence[int], from_bits: int, to_bits: int, *, pad: bool) -> list[int]:
    """Regroup a sequence of ``from_bits``-bit values into ``to_bits``-bit values.

    Without ``pad`` (decoding) the leftover bits must be fewer than
    ``from_bits`` and all zero, as BIP173 demands.
    """
    acc = 0
    bits = 0
    out: list[int] = []
    maxv = (1 << to_bits) - 1
    for value in data:
        if value < 0 or value >> from_bits:
            raise InvalidAddress(f"value {value} does not fit in {from_bits} bits")
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & maxv)
    elif bits >= from_bits:
        raise InvalidAddress("bech32 data has more than 4 bits of padding")
    elif (acc << (to_bits - bits)) & maxv:
        raise InvalidAddress("bech32 data has non-zero padding bits")
    return out


def _check_program(version: int, program: bytes) -> None:
    if not 2 <= len(program) <= 40:
        raise WitnessProgramError(f"witness program is {len(program)} bytes; BIP141 allows 2 to 40")
    if version == 0 and len(program) not in (20, 32):
        raise WitnessProgramError(
            f"witness v0 program is {len(program)} bytes; must be 20 (P2WPKH) or 32 (P2WSH)"
        )


def decode_segwit(text: str) -> WitnessProgram:
    """Decode any BIP350-valid segwit address (versions 0-16), whatever its HRP."""
    decoded = bech32_decode(text)
    if not decoded.data:
        raise InvalidAddress("segwit address has an empty data part (no witness version)")
    version = decoded.data[0]
    if version > MAX_WITNESS_VERSION:
        raise WitnessProgramError(f"witness version {version} is above {MAX_WITNESS_VERSION}")
    program = bytes(convert_bits(decoded.data[1:], 5, 8, pad=False))
    _check_program(version, program)
    expected = Encoding.BECH32 if version == 0 else Encoding.BECH32M
    if decoded.encoding is not expected:
        raise AddressEncodingMismatch(
            f"witness v{version} address uses a {decoded.encoding.name.lower()} checksum; "
            f"BIP350 requires {expected.name.lower()} for v{version}"
        )
    return WitnessProgram(decoded.hrp, version, program)


def encode_segwit(hrp: str, version: int, program: bytes) -> str:
    """Encode a witness program as a segwit address (bech32 for v0, bech32m for v1+)."""
    if not 0 <= version <= MAX_WITNESS_VERSION:
        raise WitnessProgramError(f"witness version {version} is outside 0-16")
    _check_program(version, program)
    encoding = Encoding.BECH32 if version == 0 else Encoding.BECH32M
    return bech32_encode(hrp, [version, *convert_bits(program, 8, 5, pad=True)], encoding)
