"""Build the unsigned batch transaction from payments and a coin selection.

Choices, each for a reason:

* **version 2**, every input with nSequence ``0xfffffffd``: signals BIP125
  replaceability (so a stuck batch can be fee-bumped with the same inputs)
  and makes nLockTime enforced.
* **anti-fee-sniping locktime**: nLockTime is the current tip height (minus
  an optional offset the caller may randomise, as Bitcoin Core sometimes
  does), so the transaction can only be mined on top of the current chain,
  and looks like any wallet's.
* **BIP69 ordering**: inputs by (txid, vout), outputs by (value, script). A
  deterministic order that depends only on the contents, so the position of
  the change output or of any payee reveals nothing about how the batch was
  planned, and the same plan always gives the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bitcache.bitcoin.script import null_data_script, script_type_of
from bitcache.bitcoin.transaction import Transaction, TxIn, TxOut
from bitcache.errors import InvalidInput
from bitcache.tx.coinselect import CoinSelection, SpendableCoin
from bitcache.tx.outputs import Payment
from bitcache.tx.policy import check_dust
from bitcache.tx.sizes import tx_weight

TX_VERSION = 2
RBF_SEQUENCE = 0xFFFF_FFFD
LOCKTIME_THRESHOLD = 500_000_000
"""nLockTime values from here on are timestamps, not heights."""


@dataclass(frozen=True, slots=True)
class UnsignedTransaction:
    """A transaction ready to sign, with the coins its inputs spend (in input order).

    ``change_index`` is the position of the change output, or None.
    ``estimated_weight`` is the upper bound the fee was computed from.
    """

    tx: Transaction
    coins: tuple[SpendableCoin, ...]
    change_index: int | None
    fee_sat: int
    estimated_weight: int

    @property
    def change_sat(self) -> int:
        if self.change_index is None:
            return 0
        return self.tx.outputs[self.change_index].value_sat


def anti_fee_sniping_locktime(tip_height: int, offset: int = 0) -> int:
    """nLockTime for a transaction built at ``tip_height``: the height, ``offset`` blocks back."""
    for name, value in (("tip height", tip_height), ("locktime offset", offset)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidInput(f"{name} must be an int >= 0, got {value!r}")
    if tip_height >= LOCKTIME_THRESHOLD:
        raise InvalidInput(f"tip height {tip_height} is not a block height")
    if offset > tip_height:
        raise InvalidInput(f"locktime offset {offset} is above the tip height {tip_height}")
    return tip_height - offset


def build_transaction(
    payments: Sequence[Payment],
    selection: CoinSelection,
    *,
    change_script: bytes,
    tip_height: int,
    locktime_offset: int = 0,
) -> UnsignedTransaction:
    """The unsigned transaction paying ``payments`` from ``selection``.

    ``selection`` must have been made for exactly these payments and a change
    output of ``change_script``'s type (checked through the size estimate).
    Raises PolicyViolation if a payment or the change is dust. An anchor the
    selection was sized for (``selection.anchor``) becomes an OP_RETURN output
    of value 0.
    """
    locktime = anti_fee_sniping_locktime(tip_height, locktime_offset)
    change_type = script_type_of(change_script)
    if change_type is None:
        raise InvalidInput(f"change script {change_script.hex()} is not a standard script")
    if selection.payments_sat != sum(p.value_sat for p in payments):
        raise InvalidInput("the coin selection was made for other payments (amounts differ)")
    types = [p.script_type for p in payments] + ([change_type] if selection.has_change else [])
    extras = [] if selection.anchor is None else [null_data_script(selection.anchor)]
    estimate = tx_weight(len(selection.coins), types, extras)
    if estimate != selection.weight:
        raise InvalidInput("the coin selection was made for other outputs or another change type")
    tagged = [(TxOut(p.value_sat, p.script_pubkey), False) for p in payments]
    if selection.has_change:
        tagged.append((TxOut(selection.change_sat, change_script), True))
    tagged.extend((TxOut(0, script), False) for script in extras)
    tagged.sort(key=lambda item: (item[0].value_sat, item[0].script_pubkey))
    outputs = tuple(out for out, _ in tagged)
    check_dust(outputs)
    coins = tuple(sorted(selection.coins, key=lambda c: (c.outpoint.txid.lower(), c.outpoint.vout)))
    inputs = tuple(TxIn(c.outpoint, RBF_SEQUENCE) for c in coins)
    change_index = next((i for i, (_, is_change) in enumerate(tagged) if is_change), None)
    tx = Transaction(TX_VERSION, inputs, outputs, locktime)
    return UnsignedTransaction(tx, coins, change_index, selection.fee_sat, estimate)
