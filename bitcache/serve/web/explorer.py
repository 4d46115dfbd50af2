"""Links to a public block explorer for the node's network (none for regtest)."""

from __future__ import annotations

from bitcache.network import Network

_BASES = {
    Network.MAINNET: "https://mempool.space/tx/",
    Network.TESTNET4: "https://mempool.space/testnet4/tx/",
    Network.SIGNET: "https://mempool.space/signet/tx/",
}


def tx_url(network: Network | None, txid: str | None) -> str | None:
    """The explorer page of a transaction, or None (regtest, no network, no txid)."""
    if network is None or txid is None:
        return None
    base = _BASES.get(network)
    return None if base is None else base + txid
