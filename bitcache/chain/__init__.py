"""Chain access: one protocol, several adapters.

The value types the protocol answers with (``OutPoint``, ``Utxo``,
``OutSpend``, ``Tip``) live in :mod:`bitcache.core.utxo` and
:mod:`bitcache.core.tip`, not here.
"""

from bitcache.chain.protocol import ChainBackend, TxStatus

__all__ = ["ChainBackend", "TxStatus"]
