"""The memo of a payout's journal entry: the transaction that paid it, and what it paid.

The entry that makes a payout final (``post_pending`` of the reservation,
debiting ``liability:payable:<uploader>``) has the memo
``payout <txid> sent <n> sat, fee share <m> msat``: the payout went out in
transaction ``txid`` (64 lowercase hex), ``n`` whole sats reached the
uploader's output, and ``m`` msat was their share of the network fee, so
the debit is ``n × 1000 + m``. Statements read payouts, and their split,
from it; older entries have only ``payout <txid>``.

Pure: text in, values out.
"""

from __future__ import annotations

import re

from bitcache.core.checks import is_hex_digest
from bitcache.core.money import MSAT_PER_SAT

_SPLIT = re.compile(r"payout [0-9a-f]{64} sent (0|[1-9][0-9]{0,17}) sat, "
                    r"fee share (0|[1-9][0-9]{0,17}) msat")


def payout_txid(memo: str) -> str | None:
    """The txid of a ``payout <txid>`` memo (64 lowercase hex), or None."""
    parts = memo.split(" ")
    if len(parts) >= 2 and parts[0] == "payout":
        txid = parts[1]
        if is_hex_digest(txid):
            return txid
    return None


def payout_memo(txid: str, received_sat: int | None = None,
                fee_share_msat: int | None = None) -> str:
    """The memo of an entry that makes a payout final: ``payout <txid>``, and its split.

    With the split, ``payout <txid> sent <n> sat, fee share <m> msat``:
    ``n`` sats reached the uploader's output, ``m`` msat was their share of
    the network fee.
    """
    if received_sat is None or fee_share_msat is None:
        return f"payout {txid}"
    return f"payout {txid} sent {received_sat} sat, fee share {fee_share_msat} msat"


def payout_split(memo: str) -> tuple[int, int] | None:
    """``(sats received on chain, fee share msat)`` recorded in a payout memo, or None."""
    found = _SPLIT.fullmatch(memo)
    return None if found is None else (int(found[1]), int(found[2]))


def split_adds_up(debited_msat: int, received_sat: int | None, fee_share_msat: int | None) -> bool:
    """Whether a payout's split is whole: both parts or neither, summing to the debit."""
    if received_sat is None or fee_share_msat is None:
        return received_sat is None and fee_share_msat is None
    return received_sat * MSAT_PER_SAT + fee_share_msat == debited_msat
