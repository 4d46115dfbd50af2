"""Which wallet coins a new batch may spend (pure).

A coin may be spent only if **the books already hold it** (:class:`Holdings`):

* a credited deposit or booked operator funding — an outpoint the deposit
  scan recorded in ``deposits`` with status ``credited`` and whose credit
  was not reversed; or
* the change output of one of our own settlements that is not void.

Never because of its confirmation count: an output paying a deposit address
that the scan has not credited yet is not the wallet's to spend, however
deep it is (spending it would leave the downloader's deposit uncredited).
Of the coins the books hold, the chain must show them unspent; a coinbase
output must have :data:`~bitcache.core.utxo.COINBASE_MATURITY`
confirmations; a deposit must still have ``min_confirmations`` (after a
reorg it may have fewer than when it was credited); our own change may be
spent unconfirmed. A coin reserved by a settlement in flight is never offered
again (every version of that settlement spends it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass

from bitcache.core.utxo import OutPoint, Utxo
from bitcache.tx.coinselect import SpendableCoin
from bitcache.wallet.keys import Chain

KeyPath = tuple[Chain, int]


@dataclass(frozen=True, slots=True)
class Holdings:
    """The coins the books hold, as the store reads them (see the module docstring).

    ``deposits``: credited deposit and funding outpoints → their receive index.
    ``change``: txid of each version of a settlement that is not void → the
    settlement's change index (only one version confirms; its change output
    is the one output of it paying that index's script).
    """

    deposits: Mapping[OutPoint, int]
    change: Mapping[str, int]

    def key_paths(self) -> set[KeyPath]:
        """The key paths whose scripts may hold these coins."""
        paths = {(Chain.EXTERNAL, i) for i in self.deposits.values()}
        return paths | {(Chain.INTERNAL, i) for i in self.change.values()}

    def path_of(self, utxo: Utxo, script_of: Callable[[KeyPath], bytes]) -> KeyPath | None:
        """The key path of ``utxo`` if the books hold it (and it pays that path's script)."""
        index = self.deposits.get(utxo.outpoint)
        if index is not None:
            path = (Chain.EXTERNAL, index)
        else:
            index = self.change.get(utxo.outpoint.txid)
            if index is None:
                return None
            path = (Chain.INTERNAL, index)
        return path if script_of(path) == utxo.script_pubkey else None


def wallet_coins(
    utxos: Iterable[Utxo],
    holdings: Holdings,
    script_of: Callable[[KeyPath], bytes],
    reserved: Set[OutPoint],
    tip_height: int,
    min_confirmations: int,
) -> list[SpendableCoin]:
    """The coins a new batch may spend, with their key paths."""
    coins: list[SpendableCoin] = []
    seen: set[OutPoint] = set()
    for utxo in utxos:
        path = holdings.path_of(utxo, script_of)
        if path is None or utxo.outpoint in reserved or utxo.outpoint in seen:
            continue
        if not utxo.mature(tip_height):
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
