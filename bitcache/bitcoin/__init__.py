"""bitcache.bitcoin: the bitcoin encodings, one module per concept (in the manner of embit).

- ``hashes``: ``sha256d`` and ``hash160``.
- ``compact``: CompactSize integers (encode, length) and the byte reader that decodes them.
- ``script``: output-script templates (built with python-bitcoinlib's ``CScript``)
  and their classification into :class:`~bitcache.core.scripttype.ScriptType`.
- ``transaction``: the one transaction model (``Transaction``, ``TxIn``,
  ``TxOut``), its serializer and its parser.

Pure code: no database, network, clock or randomness. Address codecs live in
:mod:`bitcache.wallet` (``addresses``, ``bech32``, ``base58``); block
assembly for the embedded regtest chain in :mod:`bitcache.chain.blocks`; the
BIP143 signature hash in :mod:`bitcache.tx.sighash`.
"""
