"""The transactions that created a settlement's inputs: a kept copy, and their fate on chain.

A settlement's input exists only while the transaction that created it (its
*parent*: a downloader's deposit, the operator's funding, our own change) is
on chain or in a mempool. A reorg deeper than N can take a deposit away for
good — the new branch confirms another transaction spending the deposit's
own input — and then no version of the settlement can ever confirm: every
broadcast is refused with ``bad-txns-inputs-missingorspent``. Backends do not
say so directly (Esplora answers "unspent" for an outpoint of a transaction
it does not know), so the job:

* keeps a copy of each parent when it plans a settlement
  (:func:`fetch_parents`, stored in ``coin_parents``), and
* for each input with no spend in sight, asks after its parent; a parent the
  backend no longer knows is looked up in that copy, and the spends of *its*
  inputs show the conflict that replaced it (:func:`parent_fates`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from bitcache.bitcoin.transaction import parse_transaction
from bitcache.chain.protocol import ChainBackend
from bitcache.core.utxo import OutPoint, OutSpend
from bitcache.errors import InvalidInput
from bitcache.settlement.tracking import ParentFate
from bitcache.tx.coinselect import SpendableCoin

_NULL_TXID = "0" * 64


def fetch_parents(
    chain: ChainBackend, coins: Iterable[SpendableCoin]
) -> tuple[dict[str, bytes], list[str]]:
    """The raw parents of ``coins`` by txid, and the txids the backend could not give."""
    found: dict[str, bytes] = {}
    missing: list[str] = []
    for txid in sorted({c.outpoint.txid for c in coins}):
        raw = chain.raw_transaction(txid)
        if raw is not None and _txid_of(raw) == txid:
            found[txid] = raw
        else:
            missing.append(txid)
    return found, missing


def parent_fates(
    chain: ChainBackend,
    inputs: Sequence[OutPoint],
    spends: Sequence[OutSpend],
    kept: Mapping[str, bytes],
    tip_height: int,
) -> dict[str, ParentFate]:
    """The fate of the parent of every input that nobody is seen spending."""
    fates: dict[str, ParentFate] = {}
    for outpoint, spend in zip(inputs, spends, strict=True):
        txid = outpoint.txid
        if (spend.spent and spend.txid is not None) or txid in fates:
            continue
        if chain.tx_status(txid).known:
            fates[txid] = ParentFate(txid, known=True)
        else:
            fates[txid] = _conflict(chain, txid, kept.get(txid), tip_height)
    return fates


def _conflict(chain: ChainBackend, txid: str, raw: bytes | None, tip_height: int) -> ParentFate:
    """A vanished parent, with the deepest confirmed transaction spending one of its inputs."""
    gone = ParentFate(txid, known=False)
    if raw is None or _txid_of(raw) != txid:
        return gone  # no copy kept (a settlement planned before copies were kept)
    for txin in parse_transaction(raw).inputs:
        if txin.outpoint.txid == _NULL_TXID:
            continue  # a coinbase: nothing conflicts with it, it left with its block
        spend = chain.outspend(txin.outpoint)
        if not spend.confirmed or spend.txid in (None, txid) or spend.block_height is None:
            continue
        depth = tip_height - spend.block_height + 1
        if depth > gone.depth:
            gone = ParentFate(txid, False, spend.txid, depth)
    return gone


def _txid_of(raw: bytes) -> str | None:
    try:
        return parse_transaction(raw).txid
    except InvalidInput:
        return None
