"""CompactSize, bitcoin's variable-length integer, and a reader of serialized bytes.

A count or length below 0xfd is one byte; larger values take a marker byte
(0xfd, 0xfe, 0xff) and 2, 4 or 8 little-endian bytes, and only when the
shorter form cannot hold the value: a longer encoding is non-canonical and
Bitcoin Core refuses it. :class:`ByteReader` walks serialized transactions
and blocks; running past the end is an ``InvalidInput`` whose message says
"bytes end early".

Own code rather than python-bitcoinlib's ``VarIntSerializer``: that one writes
to and reads from an ``io.BytesIO`` stream, one call per integer, where these
are a few slices of a ``bytes`` object on paths that parse every transaction
of every block (the embedded regtest chain) and size every batch.
"""

from __future__ import annotations

import struct

from bitcache.errors import InvalidInput

_WIDTHS = {0xFD: ("<H", 0xFD), 0xFE: ("<I", 0x1_0000), 0xFF: ("<Q", 0x1_0000_0000)}
"""Marker byte → (format of the value that follows, smallest value it may encode)."""


def compact_size(n: int) -> bytes:
    """The CompactSize encoding of ``n`` (0 ≤ n < 2**64)."""
    if n < 0:
        raise InvalidInput(f"a CompactSize cannot be negative: {n}")
    if n < 0xFD:
        return bytes((n,))
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    if n <= 0xFFFF_FFFF:
        return b"\xfe" + struct.pack("<I", n)
    return b"\xff" + struct.pack("<Q", n)


def compact_size_len(n: int) -> int:
    """Bytes taken by the CompactSize encoding of ``n`` (1, 3, 5 or 9)."""
    if n < 0:
        raise InvalidInput(f"a count cannot be negative: {n}")
    if n < 0xFD:
        return 1
    if n <= 0xFFFF:
        return 3
    return 5 if n <= 0xFFFF_FFFF else 9


class ByteReader:
    """A cursor over serialized bytes."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def take(self, n: int) -> bytes:
        """The next ``n`` bytes."""
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise InvalidInput(f"serialized bytes end early (need {n} at offset {self.pos})")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def unpack(self, fmt: str) -> int:
        """The next integer in ``struct`` format ``fmt`` (e.g. ``"<I"``)."""
        value: int = struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]
        return value

    def compact(self) -> int:
        """The next CompactSize integer; a non-canonical (too long) encoding is refused."""
        first = self.take(1)[0]
        width = _WIDTHS.get(first)
        if width is None:
            return first
        fmt, smallest = width
        value = self.unpack(fmt)
        if value < smallest:
            raise InvalidInput(f"non-canonical CompactSize {value} at offset {self.pos}")
        return value

    def var_bytes(self) -> bytes:
        """The next CompactSize-prefixed byte string."""
        return self.take(self.compact())

    @property
    def at_end(self) -> bool:
        return self.pos == len(self.data)
