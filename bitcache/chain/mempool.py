"""A simple mempool with Bitcoin Core's relay policy, for the embedded regtest chain.

What a transaction must pass to enter it: the context-free consensus checks,
inputs that exist and are unspent (chain or mempool), coinbase maturity,
lock-time and BIP68 finality for the next block, no dust, the min relay fee,
and — when it spends what a mempool transaction already spends — the full-RBF
replacement rules (more absolute fee than everything it evicts, plus the
incremental relay fee for its own size, and a higher feerate than each direct
conflict). Script validity is decided by a ``ScriptVerifier`` passed in, so
this module stays pure (the chain adapter hands it the consensus engine).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bitcache.bitcoin.transaction import MAX_SAT, Transaction
from bitcache.core.utxo import COINBASE_MATURITY, OutPoint
from bitcache.errors import (
    BroadcastRejected,
    FeeTooLow,
    InputsMissingOrSpent,
    NonStandardTransaction,
)
from bitcache.tx.policy import dust_threshold_sat

_LOCKTIME_THRESHOLD = 500_000_000
_SEQ_DISABLE = 1 << 31
_SEQ_TYPE_TIME = 1 << 22
_SEQ_MASK = 0xFFFF
_SEQ_FINAL = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class Coin:
    """An output as seen by a spender: value, script, where it was created."""

    value_sat: int
    script_pubkey: bytes
    height: int | None  # None while unconfirmed
    is_coinbase: bool = False


@dataclass(frozen=True, slots=True)
class RelayPolicy:
    """Mempool policy numbers; defaults follow Bitcoin Core (1 sat/vB floor)."""

    min_relay_sat_kvb: int = 1000
    incremental_relay_sat_kvb: int = 1000
    dust_relay_sat_kvb: int = 3000
    max_tx_weight: int = 400_000


@dataclass(frozen=True, slots=True)
class NextBlock:
    """Where the next block would stand: what finality rules are checked against."""

    height: int
    median_time_past: int
    #: Median time past of the active chain's block at a height (BIP68 time locks).
    median_time_past_at: Callable[[int], int]


@dataclass(frozen=True, slots=True)
class MempoolEntry:
    """An accepted transaction with the fee it pays."""

    tx: Transaction
    fee_sat: int

    @property
    def feerate_sat_kvb(self) -> int:
        return self.fee_sat * 1000 // self.tx.vsize


#: Confirmed, unspent coin lookup (None when unknown or spent in the chain).
ChainCoins = Callable[[OutPoint], Coin | None]
#: Verifies every input's script; raises BroadcastRejected with the reason.
ScriptVerifier = Callable[[Transaction, Sequence[Coin]], None]


class Mempool:
    """Unconfirmed transactions in arrival order, with an index of what they spend."""

    def __init__(self, policy: RelayPolicy | None = None) -> None:
        self.policy = policy or RelayPolicy()
        self.entries: dict[str, MempoolEntry] = {}
        self.spends: dict[OutPoint, tuple[str, int]] = {}

    def __contains__(self, txid: object) -> bool:
        return txid in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def coin(self, outpoint: OutPoint) -> Coin | None:
        """A mempool transaction's output, spent or not (None if no such output)."""
        entry = self.entries.get(outpoint.txid)
        if entry is None or outpoint.vout >= len(entry.tx.outputs):
            return None
        out = entry.tx.outputs[outpoint.vout]
        return Coin(out.value_sat, out.script_pubkey, None)

    def accept(
        self, tx: Transaction, chain_coins: ChainCoins, nxt: NextBlock, verify: ScriptVerifier
    ) -> MempoolEntry:
        """Admit ``tx`` (replacing conflicts under full RBF) or raise why not."""
        if tx.txid in self.entries:
            return self.entries[tx.txid]
        check_context_free(tx, self.policy)
        conflicts = {self.spends[i.outpoint][0] for i in tx.inputs if i.outpoint in self.spends}
        evicted = self.with_descendants(conflicts)
        coins = self._input_coins(tx, chain_coins, evicted)
        fee = sum(c.value_sat for c in coins) - sum(o.value_sat for o in tx.outputs)
        if fee < 0:
            raise BroadcastRejected(
                f"transaction {tx.txid} spends more than its inputs (fee {fee} sat)",
                reason="bad-txns-in-belowout",
            )
        check_final(tx, coins, nxt)
        entry = MempoolEntry(tx, fee)
        self._check_fees(entry, conflicts, evicted)
        verify(tx, coins)
        for txid in evicted:
            self._remove_one(txid)
        self.entries[tx.txid] = entry
        for vin, txin in enumerate(tx.inputs):
            self.spends[txin.outpoint] = (tx.txid, vin)
        return entry

    def _input_coins(
        self, tx: Transaction, chain_coins: ChainCoins, evicted: set[str]
    ) -> list[Coin]:
        coins = []
        for vin, txin in enumerate(tx.inputs):
            if txin.outpoint.txid in evicted:
                raise BroadcastRejected(
                    f"input {vin} spends {txin.outpoint}, an output of a transaction it replaces",
                    reason="bad-txns-spends-conflicting-tx",
                )
            coin = self.coin(txin.outpoint) or chain_coins(txin.outpoint)
            if coin is None:
                raise InputsMissingOrSpent(
                    f"input {vin} ({txin.outpoint}) is unknown or already spent",
                    reason="bad-txns-inputs-missingorspent",
                )
            coins.append(coin)
        return coins

    def _check_fees(self, entry: MempoolEntry, conflicts: set[str], evicted: set[str]) -> None:
        policy, vsize = self.policy, entry.tx.vsize
        floor = -(-policy.min_relay_sat_kvb * vsize // 1000)
        if entry.fee_sat < floor:
            raise FeeTooLow(
                f"fee {entry.fee_sat} sat is below the min relay fee ({floor} sat for {vsize} vB)",
                reason=f"min relay fee not met, {entry.fee_sat} < {floor}",
            )
        if not conflicts:
            return
        for txid in sorted(conflicts):
            old = self.entries[txid]
            if entry.feerate_sat_kvb <= old.feerate_sat_kvb:
                raise FeeTooLow(
                    f"replacement feerate {entry.feerate_sat_kvb} sat/kvB does not exceed "
                    f"{old.feerate_sat_kvb} sat/kvB of {txid}",
                    reason=f"insufficient fee, rejecting replacement {entry.tx.txid}",
                )
        old_fees = sum(self.entries[t].fee_sat for t in evicted)
        needed = old_fees + -(-policy.incremental_relay_sat_kvb * vsize // 1000)
        if entry.fee_sat < needed:
            raise FeeTooLow(
                f"replacement pays {entry.fee_sat} sat, needs at least {needed} sat "
                f"({old_fees} sat of replaced transactions plus incremental relay fee)",
                reason=f"insufficient fee, rejecting replacement {entry.tx.txid}",
            )

    def with_descendants(self, txids: Iterable[str]) -> set[str]:
        """``txids`` (those in the mempool) and every mempool transaction spending them."""
        found: set[str] = set()
        todo = [t for t in txids if t in self.entries]
        while todo:
            txid = todo.pop()
            if txid in found:
                continue
            found.add(txid)
            for vout in range(len(self.entries[txid].tx.outputs)):
                spender = self.spends.get(OutPoint(txid, vout))
                if spender is not None:
                    todo.append(spender[0])
        return found

    def remove(self, txid: str) -> list[str]:
        """Drop ``txid`` and its descendants; return what was dropped."""
        gone = self.with_descendants([txid])
        for t in gone:
            self._remove_one(t)
        return sorted(gone)

    def remove_confirmed(self, txs: Sequence[Transaction]) -> list[str]:
        """Drop transactions a new block confirmed, and those now in conflict with it."""
        gone: set[str] = set()
        for tx in txs:
            if tx.txid in self.entries:
                gone.add(tx.txid)
                self._remove_one(tx.txid)
        for tx in txs:
            for txin in tx.inputs:
                spender = self.spends.get(txin.outpoint)
                if spender is not None:
                    gone.update(self.remove(spender[0]))
        return sorted(gone)

    def _remove_one(self, txid: str) -> None:
        entry = self.entries.pop(txid)
        for txin in entry.tx.inputs:
            if self.spends.get(txin.outpoint, ("", 0))[0] == txid:
                del self.spends[txin.outpoint]

    def ordered(self) -> list[MempoolEntry]:
        """Entries with every parent before its children, otherwise in arrival order."""
        done: set[str] = set()
        out: list[MempoolEntry] = []
        pending = list(self.entries.values())
        while pending:
            rest = []
            for entry in pending:
                parents = {i.outpoint.txid for i in entry.tx.inputs} & self.entries.keys()
                if parents <= done:
                    done.add(entry.tx.txid)
                    out.append(entry)
                else:
                    rest.append(entry)
            pending = rest
        return out


def check_context_free(tx: Transaction, policy: RelayPolicy) -> None:
    """Consensus checks that need no chain (CheckTransaction) plus size and dust policy."""
    if tx.is_coinbase:
        raise BroadcastRejected("a coinbase transaction cannot be broadcast", reason="coinbase")
    if not tx.inputs or not tx.outputs:
        which = "vin" if not tx.inputs else "vout"
        raise BroadcastRejected(f"transaction has no {which}", reason=f"bad-txns-{which}-empty")
    if len({i.outpoint for i in tx.inputs}) != len(tx.inputs):
        raise BroadcastRejected("an input is spent twice", reason="bad-txns-inputs-duplicate")
    for vout, out in enumerate(tx.outputs):
        if not 0 <= out.value_sat <= MAX_SAT:
            which = "negative" if out.value_sat < 0 else "toolarge"
            raise BroadcastRejected(
                f"output {vout} value {out.value_sat} is outside 0..{MAX_SAT} sats",
                reason=f"bad-txns-vout-{which}",
            )
    if sum(o.value_sat for o in tx.outputs) > MAX_SAT:
        raise BroadcastRejected("outputs exceed 21M BTC", reason="bad-txns-txouttotal-toolarge")
    if tx.weight > policy.max_tx_weight:
        raise NonStandardTransaction(
            f"weight {tx.weight} WU exceeds {policy.max_tx_weight} WU", reason="tx-size"
        )
    for vout, out in enumerate(tx.outputs):
        dust = dust_threshold_sat(out.script_pubkey, policy.dust_relay_sat_kvb)
        if out.value_sat < dust:
            raise NonStandardTransaction(
                f"output {vout} pays {out.value_sat} sat, below the dust threshold of {dust} sat",
                reason="dust",
            )


def check_final(tx: Transaction, coins: Sequence[Coin], nxt: NextBlock) -> None:
    """Coinbase maturity, nLockTime and BIP68 relative locks for the next block."""
    for vin, coin in enumerate(coins):
        if coin.is_coinbase and coin.height is not None:
            depth = nxt.height - coin.height
            if depth < COINBASE_MATURITY:
                raise BroadcastRejected(
                    f"input {vin} spends a coinbase with {depth} confirmations "
                    f"(needs {COINBASE_MATURITY})",
                    reason="bad-txns-premature-spend-of-coinbase",
                )
    if not _locktime_final(tx, nxt):
        raise BroadcastRejected(f"lock time {tx.locktime} is not final", reason="non-final")
    if tx.version >= 2 and not _sequence_locks_met(tx, coins, nxt):
        raise BroadcastRejected("a relative lock time is not met", reason="non-BIP68-final")


def _locktime_final(tx: Transaction, nxt: NextBlock) -> bool:
    if tx.locktime == 0 or all(i.sequence == _SEQ_FINAL for i in tx.inputs):
        return True
    limit = nxt.height if tx.locktime < _LOCKTIME_THRESHOLD else nxt.median_time_past
    return tx.locktime < limit


def _sequence_locks_met(tx: Transaction, coins: Sequence[Coin], nxt: NextBlock) -> bool:
    for txin, coin in zip(tx.inputs, coins, strict=True):
        seq = txin.sequence
        if seq & _SEQ_DISABLE:
            continue
        coin_height = nxt.height if coin.height is None else coin.height
        if seq & _SEQ_TYPE_TIME:
            base = nxt.median_time_past_at(max(coin_height - 1, 0))
            if base + ((seq & _SEQ_MASK) << 9) - 1 >= nxt.median_time_past:
                return False
        elif coin_height + (seq & _SEQ_MASK) - 1 >= nxt.height:
            return False
    return True
