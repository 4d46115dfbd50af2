"""Which wallet coins a new batch may spend (pure).

Coins come from the backend's ``utxos`` over the scripts of every address the
wallet has used: deposit addresses (receive chain) and change addresses
(internal chain). Spendable are confirmed coins with at least
``min_confirmations`` and our own change, confirmed or not; a coin reserved
by a settlement in flight is never offered again (every version of that
settlement spends it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set

from bitcache.chain.protocol import OutPoint, Utxo
from bitcache.tx.coinselect import SpendableCoin
from bitcache.wallet.keys import Chain

KeyPath = tuple[Chain, int]


def wallet_coins(
    utxos: Iterable[Utxo],
    paths: Mapping[bytes, KeyPath],
    reserved: Set[OutPoint],
    tip_height: int,
    min_confirmations: int,
) -> list[SpendableCoin]:
    """The coins a new batch may spend, with their key paths."""
    coins: list[SpendableCoin] = []
    seen: set[OutPoint] = set()
    for utxo in utxos:
        path = paths.get(utxo.script_pubkey)
        if path is None or utxo.outpoint in reserved or utxo.outpoint in seen:
            continue
        chain, index = path
        own_change = chain is Chain.INTERNAL
        if not own_change and utxo.confirmations(tip_height) < min_confirmations:
            continue
        seen.add(utxo.outpoint)
        coins.append(
            SpendableCoin.from_utxo(
                utxo, is_own_change=own_change, key_chain=chain.value, key_index=index
            )
        )
    return coins
