"""Outputs on the chain, as every layer sees them: an outpoint, an unspent (or
received) output, and whether an output is spent.

Pure value types shared by the transaction builder, the store, the settlement
model and the chain adapters; they live in the core so that no layer below the
chain adapters imports an adapter's package to name an output.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Confirmations a coinbase output needs before a transaction may spend it
#: (consensus: ``bad-txns-premature-spend-of-coinbase`` below that).
COINBASE_MATURITY = 100


@dataclass(frozen=True, slots=True)
class OutPoint:
    """A transaction output reference."""

    txid: str
    vout: int

    def __str__(self) -> str:
        return f"{self.txid}:{self.vout}"


@dataclass(frozen=True, slots=True)
class Utxo:
    """An output paying one of the scripts asked about: unspent when
    :meth:`ChainBackend.utxos` lists it, spent or not when
    :meth:`ChainBackend.received` does.

    ``height`` is None while unconfirmed (in the mempool). ``coinbase`` is
    True for an output of a block's coinbase transaction (never in the mempool).
    """

    outpoint: OutPoint
    value_sat: int
    script_pubkey: bytes
    height: int | None
    block_hash: str | None = None
    coinbase: bool = False

    def confirmations(self, tip_height: int) -> int:
        return 0 if self.height is None else tip_height - self.height + 1

    def mature(self, tip_height: int) -> bool:
        """Whether a transaction in the next block may spend it (coinbase maturity)."""
        return not self.coinbase or self.confirmations(tip_height) >= COINBASE_MATURITY


@dataclass(frozen=True, slots=True)
class OutSpend:
    """Whether an output is spent, and by which transaction (mempool or chain)."""

    spent: bool
    txid: str | None = None
    vin: int | None = None
    confirmed: bool = False
    block_height: int | None = None
