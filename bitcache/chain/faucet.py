"""The embedded regtest chain's faucet: real regtest coins for the demo and the tests.

Blocks mined on :class:`~bitcache.chain.regtest.RegtestChain` pay their
coinbase to an anyone-can-spend script by default; once mature, such an
output can be spent to any scripts without a key. The demo funds its
downloaders this way, and the tests that need coins on the chain do the same.
"""

from __future__ import annotations

from collections.abc import Sequence

from bitcache.bitcoin.transaction import Transaction, TxIn, TxOut
from bitcache.chain.regtest import (
    ANYONE_CAN_SPEND_SCRIPT,
    ANYONE_CAN_SPEND_WITNESS_SCRIPT,
    RegtestChain,
)
from bitcache.core.utxo import COINBASE_MATURITY, OutPoint
from bitcache.errors import BitcacheError

#: The faucet's fee rate, in sat/vB, on a size estimate.
FAUCET_FEE_SAT_PER_VB = 2


def faucet_transaction(
    coin: OutPoint, value_sat: int, outputs: Sequence[tuple[bytes, int]]
) -> bytes:
    """Spend an anyone-can-spend coinbase output of the regtest chain to ``outputs``.

    The change goes back to the anyone-can-spend script; the fee is
    ``FAUCET_FEE_SAT_PER_VB`` on a size estimate.
    """
    vbytes = 60 + 43 * (len(outputs) + 1)
    change = value_sat - sum(v for _, v in outputs) - vbytes * FAUCET_FEE_SAT_PER_VB
    outs = [TxOut(v, s) for s, v in outputs] + [TxOut(change, ANYONE_CAN_SPEND_SCRIPT)]
    tx = Transaction(
        2,
        (TxIn(coin, 0xFFFFFFFD),),
        tuple(outs),
        0,
        ((ANYONE_CAN_SPEND_WITNESS_SCRIPT,),),
    )
    return tx.serialize()


def mature_coin(chain: RegtestChain) -> tuple[OutPoint, int]:
    """A mature anyone-can-spend coinbase output (the default destination of mined blocks)."""
    tip = chain.tip().height
    for u in chain.utxos([ANYONE_CAN_SPEND_SCRIPT]):
        if u.height is not None and tip - u.height >= COINBASE_MATURITY:
            return u.outpoint, u.value_sat
    raise BitcacheError("no mature coinbase output on the regtest chain: mine more blocks")
