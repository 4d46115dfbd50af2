"""A statement shows what a payout put on chain and the fee share, and the verifier checks both."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bitcache.bitcoin.transaction import parse_transaction
from bitcache.chain.regtest import RegtestChain
from bitcache.core.accounts import payable
from bitcache.errors import StatementInvalid
from bitcache.services.statements import issue_statement
from bitcache.statements.verify import verify_statement
from bitcache.store.ledger import LedgerStore
from tests.settlement.support import config, earn, fund_wallet, register, service
from tests.settlement.test_cycle import run_to_final

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = KEY.public_key().public_bytes_raw()
BALANCE = 2_250_000_456  # msat: 2,250,000 sat and a sub-sat remainder


def _settled_statement(ledger: LedgerStore, chain: RegtestChain) -> tuple[bytes, int, str]:
    """Pay alice in a real regtest settlement (she pays her output's fee); her statement."""
    fund_wallet(chain, ledger)
    svc = service(ledger, chain, config())  # the default policy: the uploader pays a fee share
    script = register(svc, ["alice"])["alice"]
    earn(ledger, {"alice": BALANCE})
    (sid,) = svc.run_cycle().created
    run_to_final(svc, chain, sid)
    txid = svc.settlement(sid).confirmed_txid
    assert txid is not None
    raw = chain.raw_transaction(txid)
    assert raw is not None
    (on_chain,) = [o.value_sat for o in parse_transaction(raw).outputs if o.script_pubkey == script]
    document = issue_statement(ledger, "alice", 0, 2**62, KEY)
    return document, on_chain, txid


def test_a_payout_shows_the_sats_received_on_chain_and_the_fee_share(
    any_ledger: LedgerStore, chain: RegtestChain
) -> None:
    document, on_chain, txid = _settled_statement(any_ledger, chain)
    debited = BALANCE + any_ledger.balance(payable("alice")).posted  # what left her balance
    verified = verify_statement(document, PUBLIC)
    (payout,) = verified.summary.payouts
    assert payout.txid == txid and payout.amount_msat == debited
    assert payout.received_sat == on_chain  # what the chain says arrived
    assert payout.fee_share_msat == debited - on_chain * 1000
    assert payout.fee_share_msat > 0 and on_chain < BALANCE // 1000
    doc = json.loads(document)
    (line,) = [x for x in doc["lines"] if x["kind"] == "payout"]
    assert (line["amount_msat"], line["received_sat"], line["fee_share_msat"]) == (
        -debited, on_chain, payout.fee_share_msat)
    assert doc["payouts"] == [{"entry_id": payout.entry_id, "txid": txid,
                               "amount_msat": debited, "received_sat": on_chain,
                               "fee_share_msat": payout.fee_share_msat}]
    downloads = [x for x in doc["lines"] if x["kind"] != "payout"]
    assert all(x["received_sat"] is None and x["fee_share_msat"] is None for x in downloads)


def _payout_line(doc: dict[str, Any]) -> dict[str, Any]:
    return next(x for x in doc["lines"] if x["kind"] == "payout")


def _received_as_paid(doc: dict[str, Any]) -> None:
    """The old mistake: the whole debit shown as received on chain."""
    line = _payout_line(doc)
    line["received_sat"] = -line["amount_msat"] // 1000


def _moved_between_parts(doc: dict[str, Any]) -> None:
    line = _payout_line(doc)
    line["received_sat"] += 1
    line["fee_share_msat"] -= 1000


def _summary_received(doc: dict[str, Any]) -> None:
    doc["payouts"][0]["received_sat"] += 1


def _fee_share_dropped(doc: dict[str, Any]) -> None:
    _payout_line(doc)["fee_share_msat"] = None


def _memo_rewritten(doc: dict[str, Any]) -> None:
    entry = _payout_line(doc)["entry"]
    entry["memo"] = entry["memo"].replace(" sent ", " sent 1")


TAMPERING: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "received shown as the whole debit": (_received_as_paid, "do not add up to the"),
    "sats moved between the parts": (_moved_between_parts, "received_sat says"),
    "summary received changed": (_summary_received, r"payouts: item 1 says"),
    "fee share dropped": (_fee_share_dropped, "do not add up"),
    "memo of the disclosed entry rewritten": (_memo_rewritten, "does not hash to its entry hash"),
}


@pytest.mark.parametrize("name", list(TAMPERING))
def test_a_statement_whose_payout_parts_were_changed_is_refused(
    ledger: LedgerStore, chain: RegtestChain, name: str
) -> None:
    document, _, _ = _settled_statement(ledger, chain)
    change, message = TAMPERING[name]
    doc = json.loads(document)
    change(doc)
    with pytest.raises(StatementInvalid, match=message):
        verify_statement(json.dumps(doc).encode(), PUBLIC)
