"""The ledger entries of a settlement (pure): reserve, finalize, void.

* **reservation** (committed with the planned settlement, before anything is
  signed or broadcast): one PENDING entry per payee,
  ``debit liability:payable:<u> / credit liability:settling`` of
  ``payout × 1000 + fee share`` msat;
* **final** (N confirmations of version *v*): POST_PENDING of every
  reservation with memo ``payout <txid> sent <payout> sat, fee share <m> msat``
  (what reached the uploader's output, and their share of the fee: the
  reservation is their sum), then one POSTED entry
  ``debit liability:settling`` (payouts + uploaders' fee shares),
  ``debit expense:network_fees`` (the rest of *v*'s fee, the platform's
  share) and ``credit asset:wallet`` (payouts + *v*'s fee: all that left the
  wallet; the change stays), memo ``payout <txid>``;
* **void**: VOID_PENDING of every reservation: the credit is back.

Keys are derived from the settlement id and uploader, so a retried step
replays instead of writing twice.
"""

from __future__ import annotations

from bitcache.core.accounts import NETWORK_FEES, SETTLING, WALLET, payable
from bitcache.core.entries import EntryKind, EntryRequest, Posting
from bitcache.core.money import MSAT_PER_SAT
from bitcache.core.payoutmemo import payout_memo
from bitcache.errors import InvalidInput
from bitcache.settlement.model import ReservedPayout, Settlement, Version


def reservation_postings(uploader: str, reserved_msat: int) -> tuple[Posting, ...]:
    """The legs of a payee's reservation (and of its post / void)."""
    return (Posting(payable(uploader), reserved_msat), Posting(SETTLING, -reserved_msat))


def reservation_key(settlement_id: int, uploader: str) -> str:
    return f"settlement:{settlement_id}:reserve:{uploader}"


def reservation(settlement_id: int, uploader: str, reserved_msat: int) -> EntryRequest:
    """The PENDING entry reserving a payee's payout and fee share."""
    return EntryRequest(
        reservation_key(settlement_id, uploader),
        reservation_postings(uploader, reserved_msat),
        EntryKind.PENDING,
        memo=f"settlement {settlement_id} reserve",
    )


def _post(settlement_id: int, payee: ReservedPayout, txid: str) -> EntryRequest:
    return EntryRequest(
        f"settlement:{settlement_id}:post:{payee.uploader}",
        reservation_postings(payee.uploader, payee.reserved_msat),
        EntryKind.POST_PENDING,
        payee.pending_entry_id,
        memo=payout_memo(txid, payee.payout_sat, payee.fee_share_msat),
    )


def final_entries(settlement: Settlement, version: Version) -> list[EntryRequest]:
    """Post every reservation, then book what left the wallet for ``version``."""
    platform_fee = version.fee_sat * MSAT_PER_SAT - settlement.fee_share_msat
    if platform_fee < 0:
        raise InvalidInput(
            f"settlement {settlement.id}: fee {version.fee_sat} sats is below the uploaders' "
            f"fee shares of {settlement.fee_share_msat} msat"
        )
    reserved = sum(p.reserved_msat for p in settlement.payouts)
    outflow = (settlement.payout_sat + version.fee_sat) * MSAT_PER_SAT
    legs = [Posting(SETTLING, reserved), Posting(WALLET, -outflow)]
    if platform_fee:
        legs.insert(1, Posting(NETWORK_FEES, platform_fee))
    requests = [_post(settlement.id, p, version.txid) for p in settlement.payouts]
    requests.append(
        EntryRequest(
            f"settlement:{settlement.id}:final",
            tuple(legs),
            EntryKind.POSTED,
            memo=payout_memo(version.txid),
        )
    )
    return requests


def void_entries(settlement: Settlement, reason: str) -> list[EntryRequest]:
    """Release every reservation of a settlement."""
    memo = f"settlement {settlement.id} void: {reason}"[:500]
    return [
        EntryRequest(
            f"settlement:{settlement.id}:void:{p.uploader}",
            reservation_postings(p.uploader, p.reserved_msat),
            EntryKind.VOID_PENDING,
            p.pending_entry_id,
            memo=memo,
        )
        for p in settlement.payouts
    ]
