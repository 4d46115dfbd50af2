"""The one protocol every chain backend implements.

Settlement, deposits and reconcile talk to a chain only through this
protocol; adapters exist for Bitcoin Core JSON-RPC, Esplora HTTP and the
embedded regtest chain. Conventions:

* txids and block hashes are lowercase hex in display (reversed) byte order,
  as Bitcoin Core and Esplora print them;
* amounts are whole sats (``int``); fee rates are integer **sat per 1000
  vbytes** (sat/kvB), rounded up from whatever the backend returns, so no
  float ever reaches the fee arithmetic;
* every output listed says whether it is a coinbase output, so that no
  caller spends one before :data:`COINBASE_MATURITY` confirmations;
* every failure is a :class:`bitcache.errors.ChainError` subclass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bitcache.network import Network

#: Confirmations a coinbase output needs before a transaction may spend it
#: (consensus: ``bad-txns-premature-spend-of-coinbase`` below that).
COINBASE_MATURITY = 100


@dataclass(frozen=True, slots=True)
class Tip:
    """The best chain's tip."""

    height: int
    block_hash: str


@dataclass(frozen=True, slots=True)
class OutPoint:
    """A transaction output reference."""

    txid: str
    vout: int

    def __str__(self) -> str:
        return f"{self.txid}:{self.vout}"


@dataclass(frozen=True, slots=True)
class Utxo:
    """An output paying one of the scripts asked about: unspent when
    :meth:`ChainBackend.utxos` lists it, spent or not when
    :meth:`ChainBackend.received` does.

    ``height`` is None while unconfirmed (in the mempool). ``coinbase`` is
    True for an output of a block's coinbase transaction (never in the mempool).
    """

    outpoint: OutPoint
    value_sat: int
    script_pubkey: bytes
    height: int | None
    block_hash: str | None = None
    coinbase: bool = False

    def confirmations(self, tip_height: int) -> int:
        return 0 if self.height is None else tip_height - self.height + 1

    def mature(self, tip_height: int) -> bool:
        """Whether a transaction in the next block may spend it (coinbase maturity)."""
        return not self.coinbase or self.confirmations(tip_height) >= COINBASE_MATURITY


@dataclass(frozen=True, slots=True)
class TxStatus:
    """Where a transaction stands. ``known`` is False when the backend has never seen it
    (or no longer has it: dropped from the mempool, or reorganised out and not re-added)."""

    txid: str
    known: bool
    confirmed: bool
    block_height: int | None = None
    block_hash: str | None = None
    confirmations: int = 0


@dataclass(frozen=True, slots=True)
class OutSpend:
    """Whether an output is spent, and by which transaction (mempool or chain)."""

    spent: bool
    txid: str | None = None
    vin: int | None = None
    confirmed: bool = False
    block_height: int | None = None


@runtime_checkable
class ChainBackend(Protocol):
    """What bitcache needs from a bitcoin node or indexer."""

    @property
    def network(self) -> Network: ...

    def tip(self) -> Tip:
        """Height and hash of the best chain's tip."""
        ...

    def block_hash(self, height: int) -> str:
        """Hash of the best chain's block at ``height`` (ChainError if above the tip)."""
        ...

    def utxos(self, scripts: Sequence[bytes]) -> list[Utxo]:
        """Unspent outputs paying any of ``scripts``, confirmed and in the mempool."""
        ...

    def received(self, scripts: Sequence[bytes], since_height: int) -> list[Utxo]:
        """Every output paying any of ``scripts`` in a best-chain block at ``since_height``
        or above, or in the mempool, **spent or not**: outputs found by the transaction
        that created them, so an output spent before anyone looked is still seen."""
        ...

    def tx_status(self, txid: str) -> TxStatus:
        """Confirmation status of a transaction."""
        ...

    def raw_transaction(self, txid: str) -> bytes | None:
        """The serialized transaction, or None if the backend does not know it."""
        ...

    def outspend(self, outpoint: OutPoint) -> OutSpend:
        """Which transaction, if any, spends ``outpoint`` (to follow replacements)."""
        ...

    def fee_rate(self, target_blocks: int) -> int:
        """Estimated fee rate for confirmation within ``target_blocks``, in sat/kvB."""
        ...

    def relay_floor(self) -> int:
        """The lowest fee rate (sat/kvB) the node relays now: a transaction paying less
        is refused, or waits for ever. It rises when the node's mempool is full."""
        ...

    def broadcast(self, raw_tx: bytes) -> str:
        """Submit a transaction; return its txid. Already-known counts as success.

        A refusal raises a BroadcastRejected subclass carrying the node's reason.
        """
        ...
