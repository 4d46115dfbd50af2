"""The kernel side of the embedded regtest chain: the chainstate and the indexes.

:class:`ChainIndex` keeps every confirmed output by script, every
transaction and every spend, rebuilt from the kernel's blocks on open;
:class:`Kernel` wraps py-bitcoinkernel's chainstate manager (block
processing with the kernel's own rejection reason); :func:`verify_scripts`
checks a transaction's inputs with the kernel's script interpreter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bitcache.bitcoin.transaction import Transaction
from bitcache.chain.blocks import parse_block_txs
from bitcache.chain.mempool import Coin
from bitcache.core.utxo import OutPoint
from bitcache.errors import (
    BlockRejected,
    BroadcastRejected,
    ChainError,
    ChainUnavailable,
    MissingExtra,
)

try:
    import pbk
    from pbk.script import PrecomputedTransactionData
except ImportError as exc:  # the optional `kernel` extra
    raise MissingExtra(
        "the embedded regtest chain needs libbitcoinkernel, which is not installed: "
        "pip install 'bitcache[kernel]'"
    ) from exc


@dataclass(frozen=True, slots=True)
class _Confirmed:
    tx: Transaction
    height: int
    block_hash: str


class ChainIndex:
    """The active chain's transactions, outputs (by script) and spends, block by block."""

    def __init__(self, genesis_hash: str) -> None:
        self.hashes = [genesis_hash]
        self.block_txs: list[list[Transaction]] = [[]]
        self.txs: dict[str, _Confirmed] = {}
        self.outputs: dict[OutPoint, Coin] = {}
        self.spends: dict[OutPoint, tuple[str, int, int]] = {}
        self.by_script: dict[bytes, set[OutPoint]] = defaultdict(set)

    @property
    def height(self) -> int:
        return len(self.hashes) - 1

    def connect(self, block_hash: str, txs: Sequence[Transaction]) -> None:
        """Index a block extending the indexed tip."""
        height = len(self.hashes)
        self.hashes.append(block_hash)
        self.block_txs.append(list(txs))
        for tx in txs:
            self.txs[tx.txid] = _Confirmed(tx, height, block_hash)
            if not tx.is_coinbase:
                for vin, txin in enumerate(tx.inputs):
                    self.spends[txin.outpoint] = (tx.txid, vin, height)
            for vout, out in enumerate(tx.outputs):
                op = OutPoint(tx.txid, vout)
                self.outputs[op] = Coin(out.value_sat, out.script_pubkey, height, tx.is_coinbase)
                self.by_script[out.script_pubkey].add(op)

    def disconnect_tip(self) -> list[Transaction]:
        """Unindex the tip block; return its non-coinbase transactions in block order."""
        if self.height == 0:
            raise ChainError("cannot disconnect the genesis block")
        self.hashes.pop()
        txs = self.block_txs.pop()
        for tx in reversed(txs):
            del self.txs[tx.txid]
            for vout, out in enumerate(tx.outputs):
                op = OutPoint(tx.txid, vout)
                self.outputs.pop(op, None)
                self.by_script[out.script_pubkey].discard(op)
            if not tx.is_coinbase:
                for txin in tx.inputs:
                    self.spends.pop(txin.outpoint, None)
        return [tx for tx in txs if not tx.is_coinbase]

    def unspent(self, outpoint: OutPoint) -> Coin | None:
        """The confirmed coin at ``outpoint`` unless the chain spent it."""
        if outpoint in self.spends:
            return None
        return self.outputs.get(outpoint)


class Kernel:
    """libbitcoinkernel's chainstate manager, with the reason of its last refusal."""

    def __init__(self, datadir: Path) -> None:
        self.messages: list[str] = []
        self.checked: dict[str, str] = {}
        self._log = pbk.LoggingConnection(self.messages.append)
        self._callbacks = pbk.ValidationInterfaceCallbacks(block_checked=self._on_checked)
        try:
            self.chainman: Any = pbk.load_chainman(
                datadir, pbk.ChainType.REGTEST, validation_callbacks=self._callbacks
            )
        except RuntimeError as exc:
            raise ChainUnavailable(
                f"cannot open the chain in {datadir}: {exc} (is it open elsewhere?)"
            ) from exc

    def _on_checked(self, _user_data: object, block: Any, state: Any) -> None:
        if state.validation_mode != pbk.ValidationMode.VALID:
            self.checked[str(block.block_hash)] = state.block_validation_result.name

    def close(self) -> None:
        self.chainman.__exit__(None, None, None)
        self.chainman = None
        self._log.__exit__(None, None, None)

    @property
    def height(self) -> int:
        return int(self.chainman.get_active_chain().height)

    def hash_at(self, height: int) -> str:
        return str(self.chainman.get_active_chain().block_tree_entries[height].block_hash)

    def entry(self, block_hash: str) -> Any:
        return self.chainman.block_tree_entries[pbk.BlockHash(bytes.fromhex(block_hash)[::-1])]

    def block_txs(self, height: int) -> list[Transaction]:
        entry = self.chainman.get_active_chain().block_tree_entries[height]
        return parse_block_txs(bytes(self.chainman.blocks[entry]))

    def median_time_past(self, entry: Any) -> int:
        """Median of the timestamps of ``entry`` and its ten predecessors (or fewer)."""
        times = []
        for _ in range(11):
            times.append(int(entry.block_header.timestamp.timestamp()))
            if entry.height == 0:
                break
            entry = entry.previous
        return sorted(times)[len(times) // 2]

    def process(self, raw_block: bytes, block_hash: str) -> None:
        """Hand a block to the kernel; raise BlockRejected if it is refused outright."""
        self.messages.clear()
        try:
            self.chainman.process_block(pbk.Block(raw_block))
        except pbk.ProcessBlockException as exc:
            raise BlockRejected(f"block {block_hash} refused: {self.reason(block_hash)}") from exc
        if block_hash in self.checked:
            raise BlockRejected(f"block {block_hash} refused: {self.reason(block_hash)}")

    def reason(self, block_hash: str) -> str:
        """The kernel's words for its last refusal (its log line, else the result code)."""
        for line in reversed(self.messages):
            if "[error]" in line or "failed" in line.lower():
                return line.split("[error]", 1)[-1].split("Z ", 1)[-1].strip()
        return self.checked.get(block_hash, "block not connected to the best chain")


def verify_scripts(tx: Transaction, coins: Sequence[Coin]) -> None:
    """Check every input's script with the consensus engine (all soft forks' flags)."""
    ktx = pbk.Transaction(tx.raw)
    spent = [pbk.TransactionOutput(pbk.ScriptPubkey(c.script_pubkey), c.value_sat) for c in coins]
    precomputed = PrecomputedTransactionData(ktx, spent)
    for vin, coin in enumerate(coins):
        try:
            ok = pbk.ScriptPubkey(coin.script_pubkey).verify(
                coin.value_sat, ktx, precomputed, vin, pbk.ScriptVerificationFlags.ALL
            )
        except pbk.ScriptVerifyException as exc:
            raise BroadcastRejected(
                f"input {vin} cannot be verified: {exc}", reason=f"script-verify-error ({exc})"
            ) from exc
        if not ok:
            raise BroadcastRejected(
                f"input {vin} ({tx.inputs[vin].outpoint}) fails script verification "
                "(bad signature or wrong script)",
                reason=f"mandatory-script-verify-flag-failed (input {vin})",
            )


def no_script_check(tx: Transaction, coins: Sequence[Coin]) -> None:
    """Re-admission of transactions the kernel or the mempool already verified."""
