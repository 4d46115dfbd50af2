"""Transactions and blocks for the embedded regtest chain, in consensus encoding.

Pure functions: parse a serialized transaction, build a coinbase (BIP34
height, BIP141 witness commitment), assemble a block and grind its nonce
against regtest's trivial target (nBits 0x207fffff). Nothing here touches a
clock, a file or the consensus engine; :mod:`bitcache.chain.regtest` feeds
the result to libbitcoinkernel, which decides what is valid.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from bitcache.chain.protocol import OutPoint
from bitcache.core.scripttype import ScriptType
from bitcache.errors import InvalidInput

#: Regtest's proof-of-work limit, as compact bits: about one hash in two wins.
REGTEST_BITS = 0x207FFFFF
#: Regtest halves the subsidy every 150 blocks (mainnet: 210,000).
HALVING_INTERVAL = 150
INITIAL_SUBSIDY_SAT = 50 * 100_000_000
MAX_MONEY_SAT = 21_000_000 * 100_000_000
#: Block header version with the BIP9 top bits set, as Bitcoin Core mines.
BLOCK_VERSION = 0x20000000
#: BIP141: the coinbase witness holds one 32-byte reserved value (zeros here).
WITNESS_RESERVED_VALUE = bytes(32)
_WITNESS_COMMITMENT_HEADER = bytes.fromhex("6a24aa21a9ed")
_NULL_TXID = "00" * 32
_SEQUENCE_FINAL = 0xFFFFFFFF


def sha256d(data: bytes) -> bytes:
    """Bitcoin's double SHA-256."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def _varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


class _Reader:
    """Cursor over a byte string that raises InvalidInput when it runs short."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise InvalidInput(f"transaction truncated at byte {self.pos} (wanted {n} more)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little")

    def varint(self) -> int:
        first = self.uint(1)
        if first < 0xFD:
            return first
        return self.uint({0xFD: 2, 0xFE: 4, 0xFF: 8}[first])

    def var_bytes(self) -> bytes:
        return self.take(self.varint())


@dataclass(frozen=True, slots=True)
class TxIn:
    """One transaction input."""

    prevout: OutPoint
    script_sig: bytes
    sequence: int
    witness: tuple[bytes, ...] = ()

    def serialize(self) -> bytes:
        prev = bytes.fromhex(self.prevout.txid)[::-1] + self.prevout.vout.to_bytes(4, "little")
        script = _varint(len(self.script_sig)) + self.script_sig
        return prev + script + self.sequence.to_bytes(4, "little")


@dataclass(frozen=True, slots=True)
class TxOut:
    """One transaction output: whole sats and an output script."""

    value_sat: int
    script_pubkey: bytes

    def serialize(self) -> bytes:
        return (
            self.value_sat.to_bytes(8, "little")
            + _varint(len(self.script_pubkey))
            + (self.script_pubkey)
        )


@dataclass(frozen=True, slots=True)
class Tx:
    """A parsed transaction, with its identifiers and size computed once."""

    version: int
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    locktime: int
    raw: bytes
    txid: str
    wtxid: str
    weight: int

    @property
    def vsize(self) -> int:
        """Virtual size in vbytes, rounded up (BIP141)."""
        return (self.weight + 3) // 4

    @property
    def is_coinbase(self) -> bool:
        return len(self.inputs) == 1 and self.inputs[0].prevout.txid == _NULL_TXID

    @property
    def has_witness(self) -> bool:
        return any(txin.witness for txin in self.inputs)


def serialize_tx(
    version: int, inputs: Sequence[TxIn], outputs: Sequence[TxOut], locktime: int
) -> bytes:
    """Serialize with the BIP144 witness encoding whenever an input has a witness."""
    body = _varint(len(inputs)) + b"".join(i.serialize() for i in inputs)
    body += _varint(len(outputs)) + b"".join(o.serialize() for o in outputs)
    head = struct.pack("<i", version)
    tail = locktime.to_bytes(4, "little")
    if not any(i.witness for i in inputs):
        return head + body + tail
    wit = b"".join(
        _varint(len(i.witness)) + b"".join(_varint(len(w)) + w for w in i.witness) for i in inputs
    )
    return head + b"\x00\x01" + body + wit + tail


def parse_tx(raw: bytes) -> Tx:
    """Parse a serialized transaction (legacy or BIP144 segwit encoding).

    Raises InvalidInput for truncated data, trailing bytes, a bad segwit flag or
    a witness flag with no witness (Bitcoin Core's "superfluous witness record").
    """
    r = _Reader(bytes(raw))
    version = struct.unpack("<i", r.take(4))[0]
    n_in = r.varint()
    segwit = False
    if n_in == 0:
        flag = r.uint(1)
        if flag != 1:
            raise InvalidInput(f"unknown transaction flag byte {flag:#04x}")
        segwit = True
        n_in = r.varint()
    ins = [_parse_txin(r) for _ in range(n_in)]
    outs = [TxOut(r.uint(8), r.var_bytes()) for _ in range(r.varint())]
    body_end = r.pos
    if segwit:
        ins = [_with_witness(txin, r) for txin in ins]
        if not any(i.witness for i in ins):
            raise InvalidInput("superfluous witness record: segwit flag set but no witness")
    locktime = r.uint(4)
    if r.pos != len(r.data):
        raise InvalidInput(f"{len(r.data) - r.pos} trailing bytes after the transaction")
    base = r.data[:4] + r.data[6:body_end] + r.data[-4:] if segwit else r.data
    return Tx(
        version=version,
        inputs=tuple(ins),
        outputs=tuple(outs),
        locktime=locktime,
        raw=r.data,
        txid=sha256d(base)[::-1].hex(),
        wtxid=sha256d(r.data)[::-1].hex(),
        weight=len(base) * 3 + len(r.data),
    )


def _parse_txin(r: _Reader) -> TxIn:
    txid = r.take(32)[::-1].hex()
    vout = r.uint(4)
    return TxIn(OutPoint(txid, vout), r.var_bytes(), r.uint(4))


def _with_witness(txin: TxIn, r: _Reader) -> TxIn:
    items = tuple(r.var_bytes() for _ in range(r.varint()))
    return TxIn(txin.prevout, txin.script_sig, txin.sequence, items)


# --- scripts ----------------------------------------------------------------


def script_num_push(n: int) -> bytes:
    """``CScript() << n`` for n ≥ 0: OP_0 / OP_1..OP_16, or a minimal number push."""
    if n == 0:
        return b"\x00"
    if n <= 16:
        return bytes([0x50 + n])
    data = bytearray()
    while n:
        data.append(n & 0xFF)
        n >>= 8
    if data[-1] & 0x80:
        data.append(0)
    return bytes([len(data)]) + bytes(data)


def script_type(script: bytes) -> ScriptType | None:
    """The standard type of an output script, or None for anything else."""
    n = len(script)
    if n == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return ScriptType.P2PKH
    if n == 23 and script[:2] == b"\xa9\x14" and script[22] == 0x87:
        return ScriptType.P2SH
    if n == 22 and script[:2] == b"\x00\x14":
        return ScriptType.P2WPKH
    if n == 34 and script[:2] == b"\x00\x20":
        return ScriptType.P2WSH
    if n == 34 and script[:2] == b"\x51\x20":
        return ScriptType.P2TR
    return None


def dust_threshold_sat(script: bytes, dust_relay_sat_kvb: int = 3000) -> int:
    """Smallest relayable value for an output paying ``script`` (0 for OP_RETURN).

    Standard types use :class:`ScriptType`'s table; other scripts follow
    Bitcoin Core's ``GetDustThreshold`` (output size plus the size of an input
    spending it, at the dust relay fee).
    """
    if script[:1] == b"\x6a":
        return 0
    kind = script_type(script)
    if kind is not None and dust_relay_sat_kvb == 3000:
        return kind.dust_sat
    out_size = 8 + len(_varint(len(script))) + len(script)
    is_witness = 4 <= len(script) <= 42 and (script[0] == 0 or 0x51 <= script[0] <= 0x60)
    spend_size = 32 + 4 + 1 + (107 // 4 if is_witness else 107) + 4
    return (out_size + spend_size) * dust_relay_sat_kvb // 1000


# --- coinbase and block -----------------------------------------------------


def block_subsidy(height: int) -> int:
    """Regtest block subsidy in sats: 50 BTC, halving every 150 blocks."""
    halvings = height // HALVING_INTERVAL
    return 0 if halvings >= 64 else INITIAL_SUBSIDY_SAT >> halvings


def merkle_root(hashes: Sequence[bytes]) -> bytes:
    """Merkle root of internal-order hashes, duplicating the last of an odd level."""
    level = list(hashes)
    if not level:
        raise InvalidInput("a merkle tree needs at least one leaf")
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def witness_commitment_script(txs: Sequence[Tx]) -> bytes:
    """BIP141 commitment output script for a block whose non-coinbase txs are ``txs``."""
    leaves = [bytes(32)] + [bytes.fromhex(tx.wtxid)[::-1] for tx in txs]
    root = merkle_root(leaves)
    return _WITNESS_COMMITMENT_HEADER + sha256d(root + WITNESS_RESERVED_VALUE)


def build_coinbase(height: int, pay_to: bytes, value_sat: int, txs: Sequence[Tx], tag: bytes) -> Tx:
    """Coinbase for a block at ``height`` over ``txs``.

    The scriptSig starts with the BIP34 height and carries ``tag`` (an extra
    nonce that keeps competing branches' coinbases distinct); the witness
    commitment is always present, with the reserved value as the coinbase witness.
    """
    script_sig = script_num_push(height) + bytes([len(tag)]) + tag
    if not 2 <= len(script_sig) <= 100:
        raise InvalidInput(f"coinbase scriptSig must be 2..100 bytes, got {len(script_sig)}")
    txin = TxIn(
        OutPoint(_NULL_TXID, 0xFFFFFFFF), script_sig, _SEQUENCE_FINAL, (WITNESS_RESERVED_VALUE,)
    )
    outs = [TxOut(value_sat, pay_to), TxOut(0, witness_commitment_script(txs))]
    return parse_tx(serialize_tx(2, [txin], outs, 0))


@dataclass(frozen=True, slots=True)
class AssembledBlock:
    """A block ready for the consensus engine."""

    raw: bytes
    block_hash: str
    txs: tuple[Tx, ...]


def assemble_block(prev_hash: str, time: int, txs: Sequence[Tx]) -> AssembledBlock:
    """Header over ``txs`` (coinbase first) with a nonce that meets regtest's target."""
    root = merkle_root([bytes.fromhex(tx.txid)[::-1] for tx in txs])
    prefix = struct.pack("<i", BLOCK_VERSION) + bytes.fromhex(prev_hash)[::-1] + root
    prefix += struct.pack("<II", time, REGTEST_BITS)
    target = 0x7FFFFF << (8 * (0x20 - 3))
    for nonce in range(1 << 32):
        header = prefix + nonce.to_bytes(4, "little")
        digest = sha256d(header)
        if int.from_bytes(digest, "little") <= target:
            body = _varint(len(txs)) + b"".join(tx.raw for tx in txs)
            return AssembledBlock(header + body, digest[::-1].hex(), tuple(txs))
    raise InvalidInput("no nonce meets the regtest target")  # pragma: no cover


def parse_block_txs(raw_block: bytes) -> list[Tx]:
    """The transactions of a serialized block (the 80-byte header skipped)."""
    r = _Reader(raw_block)
    r.take(80)
    count = r.varint()
    txs = []
    for _ in range(count):
        start = r.pos
        length = _tx_length(r)
        txs.append(parse_tx(raw_block[start : start + length]))
    return txs


def _tx_length(r: _Reader) -> int:
    """Advance ``r`` over one transaction and return its length in bytes."""
    start = r.pos
    r.take(4)
    n_in = r.varint()
    segwit = n_in == 0
    if segwit:
        r.take(1)
        n_in = r.varint()
    for _ in range(n_in):
        r.take(36)
        r.var_bytes()
        r.take(4)
    for _ in range(r.varint()):
        r.take(8)
        r.var_bytes()
    if segwit:
        for _ in range(n_in):
            for _ in range(r.varint()):
                r.var_bytes()
    r.take(4)
    return r.pos - start
