"""In-memory chain state shared by the fake servers: blocks, transactions, mempool."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field

from bitcache.chain.rejection import txid_of
from bitcache.core.utxo import OutPoint
from bitcache.network import Network

GENESIS = {
    Network.TESTNET4: "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043",
    Network.SIGNET: "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6",
    Network.REGTEST: "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
}


def _varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    return b"\xfd" + n.to_bytes(2, "little")


def make_tx(
    inputs: list[OutPoint], outputs: list[tuple[int, bytes]], *, segwit: bool = False
) -> bytes:
    """Serialize a version-2 transaction (empty scriptSigs; a dummy witness if ``segwit``)."""
    body = _varint(len(inputs))
    for point in inputs:
        body += (
            bytes.fromhex(point.txid)[::-1]
            + point.vout.to_bytes(4, "little")
            + b"\x00"
            + b"\xff" * 4
        )
    body += _varint(len(outputs))
    for value, script in outputs:
        body += value.to_bytes(8, "little") + _varint(len(script)) + script
    witness = b"".join(b"\x01\x01\x01" for _ in inputs) if segwit else b""
    flag = b"\x00\x01" if segwit else b""
    return b"\x02\x00\x00\x00" + flag + body + witness + b"\x00\x00\x00\x00"


def parse_tx(raw: bytes) -> tuple[list[OutPoint], list[tuple[int, bytes]]]:
    """Inputs and outputs of a transaction made by :func:`make_tx` (small counts only)."""
    pos = 6 if raw[4:6] == b"\x00\x01" else 4
    inputs, outputs = [], []
    count, pos = raw[pos], pos + 1
    for _ in range(count):
        txid = raw[pos : pos + 32][::-1].hex()
        inputs.append(OutPoint(txid, int.from_bytes(raw[pos + 32 : pos + 36], "little")))
        pos += 36 + 1 + raw[pos + 36] + 4
    count, pos = raw[pos], pos + 1
    for _ in range(count):
        value, size = int.from_bytes(raw[pos : pos + 8], "little"), raw[pos + 8]
        outputs.append((value, raw[pos + 9 : pos + 9 + size]))
        pos += 9 + size
    return inputs, outputs


#: The prevout of a coinbase transaction's one input.
NULL_PREVOUT = OutPoint("00" * 32, 0xFFFFFFFF)


@dataclass
class FakeTx:
    txid: str
    raw: bytes
    inputs: list[OutPoint]
    outputs: list[tuple[int, bytes]]
    height: int | None = None  # None: in the mempool

    @property
    def coinbase(self) -> bool:
        return self.inputs == [NULL_PREVOUT]


@dataclass
class ChainState:
    """What the fake node knows. Tests mutate it directly, then query the adapter."""

    network: Network
    blocks: list[str] = field(default_factory=list)
    txs: dict[str, FakeTx] = field(default_factory=dict)
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        if not self.blocks:
            self.blocks = [GENESIS[self.network]]

    @property
    def height(self) -> int:
        return len(self.blocks) - 1

    def mine(self, n: int = 1) -> None:
        """Append ``n`` blocks; the first confirms everything in the mempool."""
        for _ in range(n):
            self.blocks.append(
                hashlib.sha256(f"block{len(self.blocks)}{next(self._counter)}".encode()).hexdigest()
            )
            for tx in self.txs.values():
                if tx.height is None:
                    tx.height = self.height

    def add(self, raw: bytes, *, confirmed: bool) -> FakeTx:
        inputs, outputs = parse_tx(raw)
        tx = FakeTx(txid_of(raw), raw, inputs, outputs)
        self.txs.setdefault(tx.txid, tx)
        if confirmed:
            self.mine()
        return self.txs[tx.txid]

    def fund(self, script: bytes, value: int, *, confirmed: bool = True) -> OutPoint:
        """A transaction from nowhere paying ``value`` sats to ``script``."""
        source = OutPoint(hashlib.sha256(b"src%d" % next(self._counter)).hexdigest(), 0)
        tx = self.add(make_tx([source], [(value, script)]), confirmed=confirmed)
        return OutPoint(tx.txid, 0)

    def mine_to(self, script: bytes, value: int) -> OutPoint:
        """Mine a block whose coinbase pays ``value`` sats to ``script`` (the mempool with it)."""
        tag = b"\x03" + self.height.to_bytes(3, "little")  # unique per height, as BIP34
        raw = make_tx([NULL_PREVOUT], [(value, script), (0, b"\x6a" + tag)])
        self.mine()
        tx = FakeTx(txid_of(raw), raw, [NULL_PREVOUT], [(value, script), (0, b"\x6a" + tag)])
        tx.height = self.height
        self.txs[tx.txid] = tx
        return OutPoint(tx.txid, 0)

    def spend(
        self, points: list[OutPoint], outputs: list[tuple[int, bytes]], *, confirmed: bool = False
    ) -> FakeTx:
        return self.add(make_tx(points, outputs, segwit=True), confirmed=confirmed)

    def spender(self, point: OutPoint) -> tuple[FakeTx, int] | None:
        for tx in self.txs.values():
            if point in tx.inputs:
                return tx, tx.inputs.index(point)
        return None

    def output(self, point: OutPoint) -> tuple[int, bytes] | None:
        tx = self.txs.get(point.txid)
        if tx is None or point.vout >= len(tx.outputs):
            return None
        return tx.outputs[point.vout]

    def unspent(self, *, include_mempool: bool) -> list[tuple[OutPoint, FakeTx]]:
        """Outputs not spent (by a confirmed tx, or any tx with ``include_mempool``)."""
        spent = {
            p
            for tx in self.txs.values()
            if (include_mempool or tx.height is not None) and not tx.coinbase
            for p in tx.inputs
        }
        return [
            (OutPoint(tx.txid, n), tx)
            for tx in self.txs.values()
            if include_mempool or tx.height is not None
            for n in range(len(tx.outputs))
            if OutPoint(tx.txid, n) not in spent
        ]
