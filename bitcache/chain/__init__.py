"""Chain access: one protocol, several adapters."""

from bitcache.chain.protocol import ChainBackend, OutPoint, OutSpend, Tip, TxStatus, Utxo

__all__ = ["ChainBackend", "OutPoint", "OutSpend", "Tip", "TxStatus", "Utxo"]
