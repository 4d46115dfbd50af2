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
  caller spends one before :data:`~bitcache.core.utxo.COINBASE_MATURITY` confirmations;
* every failure is a :class:`bitcache.errors.ChainError` subclass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bitcache.core.tip import Tip
from bitcache.core.utxo import OutPoint, OutSpend, Utxo
from bitcache.network import Network


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
