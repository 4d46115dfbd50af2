"""The transaction: its parts, segwit serialisation, txid/wtxid, weight and vsize.

A small, immutable model written for bitcache's needs (version-2 segwit
transactions spending P2WPKH coins): serialisation is a few lines of
``struct`` and the output bytes are cached, because the BIP143 ``hashOutputs``
and every size computation reuse them. Hashes are shown in display
(byte-reversed) hex, like Bitcoin Core and Esplora.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

from bitcache.chain.protocol import OutPoint
from bitcache.errors import InvalidInput
from bitcache.tx.outputs import check_sat

WITNESS_SCALE_FACTOR = 4


def sha256d(data: bytes) -> bytes:
    """SHA-256 applied twice, bitcoin's transaction and sighash hash."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def compact_size(n: int) -> bytes:
    """Bitcoin's variable-length integer (CompactSize) encoding of ``n``."""
    if n < 0xFD:
        return bytes((n,))
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    if n <= 0xFFFF_FFFF:
        return b"\xfe" + struct.pack("<I", n)
    return b"\xff" + struct.pack("<Q", n)


def outpoint_bytes(outpoint: OutPoint) -> bytes:
    """36-byte serialisation: txid in internal (little-endian) order, then vout."""
    try:
        txid = bytes.fromhex(outpoint.txid)
    except ValueError as exc:
        raise InvalidInput(f"outpoint txid is not hex: {outpoint.txid!r}") from exc
    if len(txid) != 32:
        raise InvalidInput(f"outpoint txid must be 32 bytes, got {len(txid)}")
    if not 0 <= outpoint.vout <= 0xFFFF_FFFF:
        raise InvalidInput(f"outpoint vout out of range: {outpoint.vout}")
    return txid[::-1] + struct.pack("<I", outpoint.vout)


@dataclass(frozen=True, slots=True)
class TxIn:
    """An input: the coin it spends, its nSequence and (for segwit, empty) scriptSig."""

    outpoint: OutPoint
    sequence: int
    script_sig: bytes = b""

    def serialize(self) -> bytes:
        return (
            outpoint_bytes(self.outpoint)
            + compact_size(len(self.script_sig))
            + self.script_sig
            + struct.pack("<I", self.sequence)
        )


@dataclass(frozen=True, slots=True)
class TxOut:
    """An output: ``value_sat`` locked by ``script_pubkey``."""

    value_sat: int
    script_pubkey: bytes
    encoded: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_sat(self.value_sat, "output value", allow_zero=True)
        data = struct.pack("<q", self.value_sat) + compact_size(len(self.script_pubkey))
        object.__setattr__(self, "encoded", data + self.script_pubkey)


Witness = tuple[bytes, ...]
"""One input's witness stack (for P2WPKH: signature+sighash byte, compressed pubkey)."""


@dataclass(frozen=True, slots=True)
class Transaction:
    """A bitcoin transaction. ``witnesses`` is empty or holds one stack per input."""

    version: int
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    locktime: int
    witnesses: tuple[Witness, ...] = ()

    def __post_init__(self) -> None:
        if not self.inputs or not self.outputs:
            raise InvalidInput("a transaction needs at least one input and one output")
        if self.witnesses and len(self.witnesses) != len(self.inputs):
            raise InvalidInput(f"{len(self.witnesses)} witnesses for {len(self.inputs)} inputs")
        if not 0 <= self.locktime <= 0xFFFF_FFFF:
            raise InvalidInput(f"locktime out of range: {self.locktime}")

    @property
    def has_witness(self) -> bool:
        return any(self.witnesses)

    def serialize(self, *, include_witness: bool = True) -> bytes:
        """Consensus bytes; with the BIP144 marker, flag and witnesses when it has any."""
        parts = [struct.pack("<i", self.version)]
        witness = include_witness and self.has_witness
        if witness:
            parts.append(b"\x00\x01")
        parts.append(compact_size(len(self.inputs)))
        parts.extend(txin.serialize() for txin in self.inputs)
        parts.append(compact_size(len(self.outputs)))
        parts.extend(txout.encoded for txout in self.outputs)
        if witness:
            for stack in self.witnesses:
                parts.append(compact_size(len(stack)))
                parts.extend(compact_size(len(item)) + item for item in stack)
        parts.append(struct.pack("<I", self.locktime))
        return b"".join(parts)

    @property
    def txid(self) -> str:
        """Hash of the serialisation without witnesses, display hex."""
        return sha256d(self.serialize(include_witness=False))[::-1].hex()

    @property
    def wtxid(self) -> str:
        """Hash of the full serialisation (BIP141), display hex."""
        return sha256d(self.serialize())[::-1].hex()

    @property
    def weight(self) -> int:
        """BIP141 weight: stripped size × 3 + total size."""
        stripped = len(self.serialize(include_witness=False))
        return stripped * (WITNESS_SCALE_FACTOR - 1) + len(self.serialize())

    @property
    def vsize(self) -> int:
        """Virtual size: weight / 4, rounded up."""
        return -(-self.weight // WITNESS_SCALE_FACTOR)


class _Reader:
    """Cursor over serialized bytes; running short is an InvalidInput."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise InvalidInput(f"transaction bytes end early (need {n} at offset {self.pos})")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def compact(self) -> int:
        first = self.take(1)[0]
        widths = {0xFD: "<H", 0xFE: "<I", 0xFF: "<Q"}
        if first not in widths:
            return first
        fmt = widths[first]
        value: int = struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]
        return value

    def var_bytes(self) -> bytes:
        return self.take(self.compact())


def _read_input(r: _Reader) -> TxIn:
    txid = r.take(32)[::-1].hex()
    (vout,) = struct.unpack("<I", r.take(4))
    script_sig = r.var_bytes()
    (sequence,) = struct.unpack("<I", r.take(4))
    return TxIn(OutPoint(txid, vout), sequence, script_sig)


def _read_output(r: _Reader) -> TxOut:
    (value,) = struct.unpack("<q", r.take(8))
    return TxOut(value, r.var_bytes())


def parse_transaction(raw: bytes) -> Transaction:
    """The transaction serialized in ``raw`` (with or without BIP144 witnesses)."""
    r = _Reader(raw)
    (version,) = struct.unpack("<i", r.take(4))
    segwit = raw[4:6] == b"\x00\x01"
    if segwit:
        r.take(2)
    inputs = tuple(_read_input(r) for _ in range(r.compact()))
    outputs = tuple(_read_output(r) for _ in range(r.compact()))
    witnesses: tuple[Witness, ...] = ()
    if segwit:
        witnesses = tuple(tuple(r.var_bytes() for _ in range(r.compact())) for _ in inputs)
    (locktime,) = struct.unpack("<I", r.take(4))
    if r.pos != len(raw):
        raise InvalidInput(f"{len(raw) - r.pos} stray bytes after the transaction")
    return Transaction(version, inputs, outputs, locktime, witnesses)
