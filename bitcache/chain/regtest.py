"""An embedded regtest chain validated by Bitcoin Core's consensus engine.

:class:`RegtestChain` implements :class:`~bitcache.chain.protocol.ChainBackend`
on libbitcoinkernel (py-bitcoinkernel): it mines blocks, keeps a mempool with
Bitcoin Core's relay policy (:mod:`bitcache.chain.mempool`), indexes every
confirmed output by script, every transaction and every spend, and can reorg
by mining a longer competing branch. The kernel persists blocks and the
chainstate in ``<folder>/kernel``, and every block it accepts is also
logged in ``<folder>/blocks.log`` until the kernel flushes (at close), so a
killed process loses none (:mod:`bitcache.chain.blocklog`); the mempool is
kept in ``<folder>/mempool.json``, replaced atomically. The indexes are
rebuilt from the kernel's blocks when the folder is reopened, so a stopped
(or killed) demo resumes at the same tip with the same mempool.

Whatever consensus refuses, the kernel refuses — with its own reason
(``bad-cb-amount``, ``time-too-new``…) surfaced as :class:`BlockRejected`.
Transactions are script-checked by the kernel at broadcast, so a bad
signature is a :class:`BroadcastRejected` and never reaches a block.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType

from bitcache.bitcoin.hashes import sha256d
from bitcache.bitcoin.script import p2wsh_script
from bitcache.bitcoin.transaction import Transaction, parse_transaction
from bitcache.chain.blocklog import BlockLog, replace_file
from bitcache.chain.blocks import assemble_block, block_subsidy, build_coinbase
from bitcache.chain.kernel import ChainIndex, Kernel, no_script_check, verify_scripts
from bitcache.chain.mempool import Coin, Mempool, MempoolEntry, NextBlock, RelayPolicy
from bitcache.chain.protocol import TxStatus
from bitcache.core.checks import is_int
from bitcache.core.tip import Tip
from bitcache.core.utxo import OutPoint, OutSpend, Utxo
from bitcache.errors import (
    BitcacheError,
    BlockRejected,
    BroadcastRejected,
    ChainError,
    ChainUnavailable,
    InvalidInput,
)
from bitcache.network import Network

#: The witness script ``OP_TRUE``: anyone can spend an output paying its P2WSH.
ANYONE_CAN_SPEND_WITNESS_SCRIPT = b"\x51"
#: P2WSH of ``OP_TRUE``, the default coinbase destination (spend it with the
#: witness ``[ANYONE_CAN_SPEND_WITNESS_SCRIPT]``).
ANYONE_CAN_SPEND_SCRIPT = p2wsh_script(hashlib.sha256(ANYONE_CAN_SPEND_WITNESS_SCRIPT).digest())
DEFAULT_FEE_RATE_SAT_KVB = 1000
#: A block may be at most two hours ahead of the clock (Bitcoin Core's MAX_FUTURE_BLOCK_TIME).
MAX_FUTURE_BLOCK_TIME = 2 * 60 * 60
#: Weight left for mempool transactions in a block (4M WU minus room for the coinbase).
MAX_TEMPLATE_WEIGHT = 3_990_000
_MEMPOOL_FILE = "mempool.json"
_KERNEL_DIR = "kernel"
_BLOCK_LOG = "blocks.log"


class RegtestChain:
    """A regtest chain in a folder: ChainBackend plus mining and reorg for tests and demos."""

    def __init__(
        self,
        folder: Path,
        kernel: Kernel,
        blocks: BlockLog,
        clock: Callable[[], int],
        fee_rate_sat_kvb: int,
        policy: RelayPolicy,
    ) -> None:
        self._folder = folder
        self._kernel: Kernel | None = kernel
        self._blocks = blocks
        self._clock = clock
        self._fee_rate = fee_rate_sat_kvb
        self._mempool = Mempool(policy)
        self._index = ChainIndex(kernel.hash_at(0))
        self._lock = threading.RLock()

    @classmethod
    def open(
        cls,
        folder: Path | str,
        *,
        clock: Callable[[], int] | None = None,
        fee_rate_sat_kvb: int = DEFAULT_FEE_RATE_SAT_KVB,
        policy: RelayPolicy | None = None,
    ) -> RegtestChain:
        """Open (or create) the chain kept in ``folder``; one open chain per folder.

        The blocks logged since the kernel last flushed are replayed first; then
        the saved mempool is re-admitted. Nothing is written before that is
        done, so a process killed at any point of ``open`` loses nothing.
        """
        folder = Path(folder)
        if (
            isinstance(fee_rate_sat_kvb, bool)
            or not isinstance(fee_rate_sat_kvb, int)
            or (fee_rate_sat_kvb < 1)
        ):
            raise InvalidInput(f"fee_rate_sat_kvb must be a positive int, got {fee_rate_sat_kvb!r}")
        if folder.exists() and not folder.is_dir():
            raise InvalidInput(f"{folder} is not a directory")
        (folder / _KERNEL_DIR).mkdir(parents=True, exist_ok=True)
        kernel = Kernel(folder / _KERNEL_DIR)
        try:
            blocks = BlockLog(folder / _BLOCK_LOG)
        except OSError as exc:
            kernel.close()
            raise ChainUnavailable(f"cannot open the block log in {folder}: {exc}") from exc
        chain = cls(
            folder, kernel, blocks, clock or _wall_clock, fee_rate_sat_kvb, policy or RelayPolicy()
        )
        try:
            chain._restore()
        except BaseException:
            chain._release()
            raise
        return chain

    def _restore(self) -> None:
        """Replay the block log, rebuild the indexes, re-admit the saved mempool."""
        for raw in self._blocks.blocks:
            with contextlib.suppress(BlockRejected):
                self._k.process(raw, sha256d(raw[:80])[::-1].hex())
        saved = self._read_mempool_file()
        self._sync(save=False)
        self._readmit(saved, verify=True)
        if [e.tx.txid for e in self._mempool.ordered()] != [tx.txid for tx in saved]:
            self._save_mempool()

    # --- lifecycle ----------------------------------------------------------

    def close(self) -> None:
        """Release the folder (the kernel flushes its chainstate). Idempotent."""
        with self._lock:
            if self._kernel is not None:
                self._save_mempool()
                self._kernel.close()
                self._kernel = None
                self._blocks.clear()  # the kernel holds every logged block now
                self._blocks.close()

    def _release(self) -> None:
        """Let go of the folder without writing anything (a failed open)."""
        if self._kernel is not None:
            self._kernel.close()
            self._kernel = None
        self._blocks.close()

    def __enter__(self) -> RegtestChain:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def _k(self) -> Kernel:
        if self._kernel is None:
            raise ChainUnavailable(f"the regtest chain in {self._folder} is closed")
        return self._kernel

    @contextlib.contextmanager
    def _open(self) -> Iterator[Kernel]:
        with self._lock:
            yield self._k

    # --- ChainBackend -------------------------------------------------------

    @property
    def network(self) -> Network:
        return Network.REGTEST

    def tip(self) -> Tip:
        with self._open():
            return Tip(self._index.height, self._index.hashes[-1])

    def block_hash(self, height: int) -> str:
        with self._open():
            if not 0 <= height <= self._index.height:
                raise ChainError(f"no block at height {height} (tip is {self._index.height})")
            return self._index.hashes[height]

    def utxos(self, scripts: Sequence[bytes]) -> list[Utxo]:
        """Unspent outputs paying ``scripts``: confirmed ones not spent by the mempool,
        then mempool outputs not spent by another mempool transaction (as Esplora does)."""
        with self._open():
            found: list[Utxo] = []
            wanted = {bytes(s) for s in scripts}
            for script in wanted:
                for op in self._index.by_script.get(script, ()):
                    coin = self._index.unspent(op)
                    if coin is not None and op not in self._mempool.spends:
                        found.append(self._confirmed_utxo(op, coin))
            pending = self._mempool_outputs(wanted)
            found += [u for u in pending if u.outpoint not in self._mempool.spends]
            return _ordered(found)

    def received(self, scripts: Sequence[bytes], since_height: int) -> list[Utxo]:
        """Outputs paying ``scripts`` in blocks at ``since_height`` or above, and in the
        mempool, whether spent or not."""
        _check_count("since_height", since_height, minimum=0)
        with self._open():
            wanted = {bytes(s) for s in scripts}
            found: list[Utxo] = []
            for script in wanted:
                for op in self._index.by_script.get(script, ()):
                    coin = self._index.outputs[op]
                    if (coin.height or 0) >= since_height:
                        found.append(self._confirmed_utxo(op, coin))
            return _ordered(found + self._mempool_outputs(wanted))

    def _confirmed_utxo(self, op: OutPoint, coin: Coin) -> Utxo:
        height = coin.height or 0
        return Utxo(
            op, coin.value_sat, coin.script_pubkey, height, self._index.hashes[height],
            coin.is_coinbase,
        )

    def _mempool_outputs(self, wanted: set[bytes]) -> list[Utxo]:
        return [
            Utxo(OutPoint(entry.tx.txid, vout), out.value_sat, out.script_pubkey, None)
            for entry in self._mempool.ordered()
            for vout, out in enumerate(entry.tx.outputs)
            if out.script_pubkey in wanted
        ]

    def tx_status(self, txid: str) -> TxStatus:
        txid = _check_txid(txid)
        with self._open():
            conf = self._index.txs.get(txid)
            if conf is not None:
                depth = self._index.height - conf.height + 1
                return TxStatus(txid, True, True, conf.height, conf.block_hash, depth)
            return TxStatus(txid, known=txid in self._mempool, confirmed=False)

    def raw_transaction(self, txid: str) -> bytes | None:
        txid = _check_txid(txid)
        with self._open():
            conf = self._index.txs.get(txid)
            if conf is not None:
                return conf.tx.raw
            entry = self._mempool.entries.get(txid)
            return None if entry is None else entry.tx.raw

    def outspend(self, outpoint: OutPoint) -> OutSpend:
        with self._open():
            spend = self._index.spends.get(outpoint)
            if spend is not None:
                return OutSpend(True, spend[0], spend[1], True, spend[2])
            pending = self._mempool.spends.get(outpoint)
            if pending is not None:
                return OutSpend(True, pending[0], pending[1], False)
            return OutSpend(False)

    def fee_rate(self, target_blocks: int) -> int:
        """The configured fee rate (sat/kvB): a regtest chain has no fee market."""
        if (
            isinstance(target_blocks, bool)
            or not isinstance(target_blocks, int)
            or (target_blocks < 1)
        ):
            raise InvalidInput(f"target_blocks must be a positive int, got {target_blocks!r}")
        return self._fee_rate

    def relay_floor(self) -> int:
        """The mempool policy's minimum relay fee rate (sat/kvB)."""
        return self._mempool.policy.min_relay_sat_kvb

    def broadcast(self, raw_tx: bytes) -> str:
        """Admit a transaction to the mempool (policy, then the kernel's script check)."""
        tx = _decode(raw_tx)
        with self._open():
            if tx.txid in self._index.txs:
                return tx.txid
            self._mempool.accept(tx, self._index.unspent, self._next_block(), verify_scripts)
            self._save_mempool()
            return tx.txid

    # --- regtest controls ---------------------------------------------------

    def mine(self, n: int = 1, *, to_script: bytes | None = None) -> list[str]:
        """Mine ``n`` blocks on the tip, each with the mempool's transactions (fees go
        to the coinbase); return their hashes. The coinbase pays ``to_script``
        (default: :data:`ANYONE_CAN_SPEND_SCRIPT`)."""
        _check_count("n", n, minimum=0)
        hashes = []
        with self._open():
            try:
                for _ in range(n):
                    entries = self._template()
                    fees = sum(e.fee_sat for e in entries)
                    hashes.append(self._mine_on_tip([e.tx for e in entries], fees, to_script))
            finally:
                self._blocks.sync()
        return hashes

    def mine_transaction_directly(self, *raw_txs: bytes, to_script: bytes | None = None) -> str:
        """Mine one block holding exactly ``raw_txs``, bypassing the mempool and its
        policy (consensus still applies). Mempool transactions in conflict are dropped."""
        txs = [_decode(raw) for raw in raw_txs]
        with self._open():
            try:
                return self._mine_on_tip(txs, self._known_fees(txs), to_script)
            finally:
                self._blocks.sync()

    def reorg(
        self,
        depth: int,
        *,
        new_blocks: int | None = None,
        include_mempool: bool = False,
        transactions: Sequence[bytes] = (),
        to_script: bytes | None = None,
    ) -> list[str]:
        """Replace the top ``depth`` blocks by a longer branch of ``new_blocks`` blocks
        (default ``depth + 1``) built on the block ``depth`` below the tip.

        The branch's first block holds ``transactions`` and, with ``include_mempool``,
        the orphaned blocks' transactions and the mempool (same transactions, new
        block hashes). As in Bitcoin Core, orphaned transactions go back to the
        mempool unless the new branch confirms them or a conflict; those are dropped.
        """
        _check_count("depth", depth, minimum=1)
        count = depth + 1 if new_blocks is None else new_blocks
        _check_count("new_blocks", count, minimum=depth + 1)
        extra = [_decode(raw) for raw in transactions]
        with self._open() as k:
            if depth > self._index.height:
                raise InvalidInput(f"depth {depth} exceeds the tip height {self._index.height}")
            fork = self._index.height - depth
            orphaned = self._orphaned_and_mempool(fork)
            first = orphaned + extra if include_mempool else extra
            fees = self._known_fees(first)
            hashes, parent = [], self._index.hashes[fork]
            self._save_txs(orphaned)  # what a reopen re-admits if killed after the switch
            try:
                for i in range(count):
                    parent = self._mine_block(
                        parent, first if i == 0 else [], fees if i == 0 else 0, to_script
                    )
                    hashes.append(parent)
            finally:
                self._blocks.sync()
                self._sync()
            if self._index.hashes[-1] != hashes[-1]:
                raise BlockRejected(
                    f"the new branch did not become the best chain: {k.reason(hashes[-1])}"
                )
            return hashes

    def drop_from_mempool(self, txid: str) -> list[str]:
        """Forget a mempool transaction and its descendants; return the txids dropped."""
        txid = _check_txid(txid)
        with self._open():
            if txid not in self._mempool:
                return []
            gone = self._mempool.remove(txid)
            self._save_mempool()
            return gone

    def mempool_txids(self) -> list[str]:
        """Mempool transactions, parents before children."""
        with self._open():
            return [e.tx.txid for e in self._mempool.ordered()]

    # --- internals ----------------------------------------------------------

    def _orphaned_and_mempool(self, fork: int) -> list[Transaction]:
        """Transactions of the blocks above ``fork``, then the mempool, in a valid order."""
        blocks = self._index.block_txs[fork + 1 :]
        orphaned = [tx for txs in blocks for tx in txs if not tx.is_coinbase]
        return orphaned + [e.tx for e in self._mempool.ordered()]

    def _template(self) -> list[MempoolEntry]:
        chosen: list[MempoolEntry] = []
        skipped: set[str] = set()
        weight = 0
        for entry in self._mempool.ordered():
            parents = {i.outpoint.txid for i in entry.tx.inputs}
            if parents & skipped or weight + entry.tx.weight > MAX_TEMPLATE_WEIGHT:
                skipped.add(entry.tx.txid)
                continue
            weight += entry.tx.weight
            chosen.append(entry)
        return chosen

    def _known_fees(self, txs: Sequence[Transaction]) -> int:
        """Fees of ``txs`` whose inputs are all known (others count zero: a coinbase
        may claim less than it could)."""
        batch: dict[OutPoint, Coin] = {}
        total = 0
        for tx in txs:
            coins = [
                batch.get(i.outpoint)
                or self._index.outputs.get(i.outpoint)
                or self._mempool.coin(i.outpoint)
                for i in tx.inputs
            ]
            for vout, out in enumerate(tx.outputs):
                batch[OutPoint(tx.txid, vout)] = Coin(out.value_sat, out.script_pubkey, None)
            if not tx.is_coinbase and None not in coins:
                paid_in = sum(c.value_sat for c in coins if c is not None)
                total += max(0, paid_in - sum(o.value_sat for o in tx.outputs))
        return total

    def _mine_on_tip(self, txs: Sequence[Transaction], fees: int, to_script: bytes | None) -> str:
        try:
            block_hash = self._mine_block(self._index.hashes[-1], txs, fees, to_script)
        finally:
            self._sync()
        if self._index.hashes[-1] != block_hash:
            raise BlockRejected(f"block {block_hash} refused: {self._k.reason(block_hash)}")
        return block_hash

    def _mine_block(
        self, parent: str, txs: Sequence[Transaction], fees: int, to_script: bytes | None
    ) -> str:
        k = self._k
        entry = k.entry(parent)
        height = int(entry.height) + 1
        now = int(self._clock())
        when = max(k.median_time_past(entry) + 1, now)
        if when > now + MAX_FUTURE_BLOCK_TIME:
            raise BlockRejected(
                f"cannot mine at height {height}: the median time past is more "
                "than two hours ahead of the clock (time-too-new)"
            )
        pay_to = ANYONE_CAN_SPEND_SCRIPT if to_script is None else bytes(to_script)
        coinbase = build_coinbase(height, pay_to, block_subsidy(height) + fees, txs, os.urandom(4))
        block = assemble_block(parent, when, [coinbase, *txs])
        k.process(block.raw, block.block_hash)
        self._blocks.append(block.raw)
        return block.block_hash

    def _next_block(self) -> NextBlock:
        k = self._k
        active = k.chainman.get_active_chain().block_tree_entries

        def mtp_at(height: int) -> int:
            return k.median_time_past(active[height])

        return NextBlock(self._index.height + 1, mtp_at(self._index.height), mtp_at)

    def _sync(self, *, save: bool = True) -> None:
        """Bring the index and the mempool in line with the kernel's active chain
        (and save the mempool if it changed, unless ``save`` is False)."""
        k, index = self._k, self._index
        fork = min(index.height, k.height)
        while fork > 0 and k.hash_at(fork) != index.hashes[fork]:
            fork -= 1
        orphaned: list[Transaction] = []
        while index.height > fork:
            orphaned = index.disconnect_tip() + orphaned
        connected: list[Transaction] = []
        for height in range(fork + 1, k.height + 1):
            txs = k.block_txs(height)
            index.connect(k.hash_at(height), txs)
            connected.extend(txs)
        if orphaned:
            self._readmit(orphaned + [e.tx for e in self._mempool.ordered()])
        elif connected:
            self._mempool.remove_confirmed(connected)
        if save and (orphaned or connected):
            self._save_mempool()

    def _readmit(self, txs: Sequence[Transaction], verify: bool = False) -> None:
        """Rebuild the mempool from ``txs``, silently dropping those no longer valid."""
        self._mempool = Mempool(self._mempool.policy)
        nxt = self._next_block()
        for tx in txs:
            if tx.txid in self._index.txs:
                continue
            with contextlib.suppress(BitcacheError):
                self._mempool.accept(
                    tx, self._index.unspent, nxt, verify_scripts if verify else no_script_check
                )

    def _save_mempool(self) -> None:
        self._save_txs([e.tx for e in self._mempool.ordered()])

    def _save_txs(self, txs: Sequence[Transaction]) -> None:
        """Replace the mempool file by ``txs`` (atomically: a kill leaves old or new)."""
        raws = [tx.raw.hex() for tx in txs]
        data = json.dumps({"version": 1, "transactions": raws}).encode()
        replace_file(self._folder / _MEMPOOL_FILE, data)

    def _read_mempool_file(self) -> list[Transaction]:
        path = self._folder / _MEMPOOL_FILE
        if not path.exists():
            return []
        try:
            raws = json.loads(path.read_text())["transactions"]
            return [parse_transaction(bytes.fromhex(raw)) for raw in raws]
        except (ValueError, KeyError, TypeError) as exc:
            raise ChainError(f"{path} is not a readable mempool file: {exc}") from exc


def _ordered(found: list[Utxo]) -> list[Utxo]:
    """Confirmed outputs by height and outpoint, then mempool outputs in mempool order."""
    confirmed = sorted(
        (u for u in found if u.height is not None),
        key=lambda u: (u.height, u.outpoint.txid, u.outpoint.vout),
    )
    return confirmed + [u for u in found if u.height is None]


def _wall_clock() -> int:
    return int(time.time())


def _decode(raw: bytes) -> Transaction:
    if not isinstance(raw, bytes | bytearray):
        raise InvalidInput(f"a raw transaction must be bytes, got {type(raw).__name__}")
    try:
        return parse_transaction(bytes(raw))
    except InvalidInput as exc:
        raise BroadcastRejected(
            f"cannot decode transaction: {exc}", reason="TX decode failed"
        ) from exc


def _check_txid(txid: str) -> str:
    if not isinstance(txid, str) or len(txid) != 64:
        raise InvalidInput(f"a txid is 64 hex characters, got {txid!r}")
    try:
        bytes.fromhex(txid)
    except ValueError as exc:
        raise InvalidInput(f"a txid is 64 hex characters, got {txid!r}") from exc
    return txid.lower()


def _check_count(name: str, value: int, *, minimum: int) -> None:
    if not is_int(value) or value < minimum:
        raise InvalidInput(f"{name} must be an int ≥ {minimum}, got {value!r}")
