"""The kinds of event and the JSON data each carries (pure: built from core objects).

Every event is written in the transaction that makes the state change it
reports, so an event exists if and only if its change was committed.
"""

from __future__ import annotations

import enum
from typing import Any

from bitcache.settlement.model import Settlement
from bitcache.settlement.states import SettlementState


class EventKind(enum.Enum):
    """What happened."""

    DEPOSIT_CREDITED = "deposit.credited"
    PAYOUT_PLANNED = "payout.planned"
    PAYOUT_BROADCAST = "payout.broadcast"
    PAYOUT_CONFIRMED = "payout.confirmed"
    PAYOUT_FINAL = "payout.final"
    PAYOUT_VOIDED = "payout.voided"
    RECONCILE_FAILED = "reconcile.failed"


_BY_STATE = {
    SettlementState.PLANNED: EventKind.PAYOUT_PLANNED,
    SettlementState.BROADCAST: EventKind.PAYOUT_BROADCAST,
    SettlementState.CONFIRMED: EventKind.PAYOUT_CONFIRMED,
    SettlementState.FINAL: EventKind.PAYOUT_FINAL,
    SettlementState.VOID: EventKind.PAYOUT_VOIDED,
}


def payout_kind(previous: SettlementState | None, state: SettlementState) -> EventKind | None:
    """The event a settlement moving ``previous`` → ``state`` raises, if any.

    ``signed`` raises none (nothing left the node); one more confirmation
    raises none (``payout.confirmed`` is sent once, when the first arrives);
    a fee bump (broadcast → broadcast) and a reorg (confirmed → broadcast)
    raise ``payout.broadcast`` again, with the txid now in flight.
    """
    if previous is SettlementState.CONFIRMED and state is SettlementState.CONFIRMED:
        return None
    return _BY_STATE.get(state)


def payout_data(s: Settlement, previous: SettlementState | None) -> dict[str, Any]:
    """The data of a payout event: the settlement, its txid in flight, its payees."""
    latest = s.latest
    txid = s.confirmed_txid or (None if latest is None else latest.txid)
    return {
        "settlement": s.id,
        "state": s.state.value,
        "previous_state": None if previous is None else previous.value,
        "txid": txid,
        "version": None if latest is None else latest.n,
        "fee_sat": None if latest is None else latest.fee_sat,
        "confirmations": s.confirmations,
        "reason": s.reason,
        "payouts": [
            {
                "uploader": p.uploader,
                "amount_sat": p.payout_sat,
                "fee_share_msat": p.fee_share_msat,
                "script_pubkey": p.script_pubkey.hex(),
            }
            for p in s.payouts
        ],
    }


def payout_subject(settlement_id: int) -> str:
    return f"settlement:{settlement_id}"


def deposit_data(
    *,
    txid: str,
    vout: int,
    account: str,
    value_sat: int,
    block_hash: str,
    block_height: int,
    entry_id: int,
) -> dict[str, Any]:
    """The data of ``deposit.credited``: the outpoint, the account credited, the amount."""
    return {
        "txid": txid,
        "vout": vout,
        "account": account,
        "amount_sat": value_sat,
        "amount_msat": value_sat * 1000,
        "block_hash": block_hash,
        "block_height": block_height,
        "entry_id": entry_id,
    }


def deposit_subject(txid: str, vout: int) -> str:
    return f"deposit:{txid}:{vout}"


def reconcile_data(
    entries: int, failed: list[str], discrepancies: list[tuple[str, str, str]]
) -> dict[str, Any]:
    """The data of ``reconcile.failed``: the checks that failed and what they found."""
    return {
        "entries": entries,
        "failed_checks": failed,
        "discrepancies": [
            {"check": check, "subject": subject, "detail": detail}
            for check, subject, detail in discrepancies
        ],
    }
