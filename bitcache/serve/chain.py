"""A chain backend opened for each call, so a long-running server never holds it.

The embedded regtest chain's folder is held by one open chain at a time, and
``bitcache settle`` needs it; a server that kept it open would lock it out.
:class:`PerCallChain` opens the node's backend for each call and closes it
after. The service calls the chain rarely (health, and the network check of
the deposit service); reconcile opens the backend once for its whole pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TypeVar

from bitcache.chain.protocol import ChainBackend, TxStatus
from bitcache.core.tip import Tip
from bitcache.core.utxo import OutPoint, OutSpend, Utxo
from bitcache.network import Network

T = TypeVar("T")


class PerCallChain:
    """A :class:`ChainBackend` that opens ``opener()`` around every call."""

    def __init__(self, network: Network,
                 opener: Callable[[], AbstractContextManager[ChainBackend]]):
        self._network, self._opener = network, opener

    @property
    def network(self) -> Network:
        return self._network

    def _call(self, use: Callable[[ChainBackend], T]) -> T:
        with self._opener() as chain:
            return use(chain)

    def tip(self) -> Tip:
        return self._call(lambda c: c.tip())

    def block_hash(self, height: int) -> str:
        return self._call(lambda c: c.block_hash(height))

    def utxos(self, scripts: Sequence[bytes]) -> list[Utxo]:
        return self._call(lambda c: c.utxos(scripts))

    def received(self, scripts: Sequence[bytes], since_height: int) -> list[Utxo]:
        return self._call(lambda c: c.received(scripts, since_height))

    def tx_status(self, txid: str) -> TxStatus:
        return self._call(lambda c: c.tx_status(txid))

    def raw_transaction(self, txid: str) -> bytes | None:
        return self._call(lambda c: c.raw_transaction(txid))

    def outspend(self, outpoint: OutPoint) -> OutSpend:
        return self._call(lambda c: c.outspend(outpoint))

    def fee_rate(self, target_blocks: int) -> int:
        return self._call(lambda c: c.fee_rate(target_blocks))

    def relay_floor(self) -> int:
        return self._call(lambda c: c.relay_floor())

    def broadcast(self, raw_tx: bytes) -> str:
        return self._call(lambda c: c.broadcast(raw_tx))
