"""A chain backend that is the embedded regtest chain, except for calls armed to fail.

An armed call is made instead through the real :class:`BitcoinCoreRPC`
adapter to the fake bitcoind of ``tests/chain/fakes`` with the fault queued
for every attempt (timeouts stall past the client's timeout; 429 and 500
answer as a node or proxy would; a broadcast refusal is Core's JSON-RPC
error). So the settlement job sees exactly the typed error the adapter
raises against a misbehaving server, and otherwise a real chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fakes.fake_core import FakeCore
from fakes.server import Fault
from fakes.state import ChainState

from bitcache.chain.protocol import TxStatus
from bitcache.chain.regtest import RegtestChain
from bitcache.chain.rpc import BitcoinCoreRPC
from bitcache.core.tip import Tip
from bitcache.core.utxo import OutPoint, OutSpend, Utxo
from bitcache.network import Network

AUTH = ("bitcache", "reliability")
RETRIES = 2


@dataclass
class _Armed:
    times: int
    fault: Fault | None
    refusal: tuple[int, str] | None
    deliver: bool


class FaultyChain:
    """ChainBackend: regtest, with armed calls answered by a faulty local bitcoind."""

    def __init__(self, chain: RegtestChain) -> None:
        self.chain = chain
        self.server = FakeCore(ChainState(Network.REGTEST), chain="regtest", auth=AUTH).start()
        self.rpc = BitcoinCoreRPC(self.server.url, network=Network.REGTEST, auth=AUTH,
                                  timeout=0.2, retries=RETRIES, sleep=lambda s: None)
        self.rpc.chain_info()  # the network check, once, before faults are queued
        self.armed: dict[str, _Armed] = {}
        self.failed: list[str] = []

    def close(self) -> None:
        self.rpc.close()
        self.server.stop()

    def fail(self, method: str, fault: Fault | None = None, *, times: int = 1,
             refusal: tuple[int, str] | None = None, deliver: bool = False) -> None:
        """Make the next ``times`` calls of ``method`` fail with ``fault`` or a broadcast
        ``refusal`` (code, message); ``deliver``: the transaction still reaches the chain
        (a broadcast whose answer was lost)."""
        self.armed[method] = _Armed(times, fault, refusal, deliver)

    def _route(self, method: str, *args: object) -> object:
        armed = self.armed.get(method)
        if armed is None or armed.times <= 0:
            return getattr(self.chain, method)(*args)
        armed.times -= 1
        self.failed.append(method)
        if armed.deliver:
            getattr(self.chain, method)(*args)
        if armed.fault is not None:
            self.server.inject(armed.fault, times=RETRIES + 1)
        if armed.refusal is not None:
            self.server.broadcast_errors.append(armed.refusal)
        getattr(self.rpc, method)(*args)
        raise AssertionError(f"the faulty server answered {method} normally")

    # --- ChainBackend ---------------------------------------------------------------

    @property
    def network(self) -> Network:
        return Network.REGTEST

    def tip(self) -> Tip:
        return self._route("tip")  # type: ignore[return-value]

    def block_hash(self, height: int) -> str:
        return self._route("block_hash", height)  # type: ignore[return-value]

    def utxos(self, scripts: Sequence[bytes]) -> list[Utxo]:
        return self._route("utxos", scripts)  # type: ignore[return-value]

    def tx_status(self, txid: str) -> TxStatus:
        return self._route("tx_status", txid)  # type: ignore[return-value]

    def raw_transaction(self, txid: str) -> bytes | None:
        return self._route("raw_transaction", txid)  # type: ignore[return-value]

    def outspend(self, outpoint: OutPoint) -> OutSpend:
        return self._route("outspend", outpoint)  # type: ignore[return-value]

    def received(self, scripts: Sequence[bytes], since_height: int) -> list[Utxo]:
        return self._route("received", scripts, since_height)  # type: ignore[return-value]

    def fee_rate(self, target_blocks: int) -> int:
        return self._route("fee_rate", target_blocks)  # type: ignore[return-value]

    def relay_floor(self) -> int:
        return self._route("relay_floor")  # type: ignore[return-value]

    def broadcast(self, raw_tx: bytes) -> str:
        return self._route("broadcast", raw_tx)  # type: ignore[return-value]
