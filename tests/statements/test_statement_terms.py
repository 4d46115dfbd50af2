"""Statements list the period's changes of terms, and payout splits that add up (or none)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bitcache.core.entries import posting
from bitcache.core.pricing import PriceRule
from bitcache.core.terms import TermsReason
from bitcache.errors import StatementInvalid
from bitcache.hooks import Hooks
from bitcache.services import statements as service
from bitcache.statements.verify import verify_statement
from bitcache.store.ledger import LedgerStore
from tests.statements.conftest import CAROL, TXID, Clock, Journal

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = KEY.public_key().public_bytes_raw()
FILE_X = "ee" * 32
FILE_Y = "ff" * 32


@pytest.fixture
def hooks(db_url: str) -> Any:
    clock = Clock()
    h = Hooks(LedgerStore.open(db_url, clock=clock), clock=clock)
    yield h
    h.close()


def _changes(hooks: Hooks) -> tuple[int, int]:
    """carol's file: registered, then (in the period) repriced and given to erin; dave refers."""
    hooks.register_file(FILE_X, "carol", PriceRule.fixed(1_000), referrer="dave")
    hooks.register_file(FILE_Y, "mallory", PriceRule.fixed(5))  # nobody here
    start = hooks.ctx.clock()
    hooks.update_terms(FILE_X, "carol", price=PriceRule.fixed(2_000))
    hooks.transfer_ownership(FILE_X, "erin")
    end = hooks.ctx.clock()
    hooks.update_terms(FILE_X, "erin", cap=9)  # after the period
    return start, end


def test_a_statement_lists_the_term_changes_of_the_period(hooks: Hooks) -> None:
    start, end = _changes(hooks)
    history = hooks.term_history(FILE_X)
    for party in ("carol", "dave"):
        document = service.issue_statement(hooks.ledger, party, start, end, KEY)
        listed = verify_statement(document, PUBLIC).statement.term_changes
        assert listed == tuple(history[1:3])
        assert [c.reason for c in listed] == [TermsReason.UPDATED, TermsReason.TRANSFERRED]
        assert [c.changed for c in listed] == [("price",), ("uploader",)]
    erin = verify_statement(service.issue_statement(hooks.ledger, "erin", start, end + 10**9, KEY),
                            PUBLIC).statement.term_changes
    assert erin == tuple(history[2:])  # from the transfer on
    doc = json.loads(service.issue_statement(hooks.ledger, "carol", start, end, KEY))
    assert doc["terms"][0]["old"]["price"] == {"kind": "fixed", "amount": 1_000, "currency": None}
    assert doc["terms"][0]["new"]["referrer"] == "dave"


def _not_carols(change: dict[str, Any]) -> None:
    for side in ("old", "new"):
        change[side].update(uploader="zed", referrer=None)


def _set_item(n: int, change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        change(doc["terms"][n])
    return apply


TAMPERING: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "price changed": (_set_item(0, lambda c: c["new"]["price"].update(amount=3_000)),
                      "statement's signature does not verify"),
    "change dropped": (lambda d: d["terms"].pop(0), "statement's signature does not verify"),
    "moved out of the period": (_set_item(0, lambda c: c.update(changed_at=0)),
                                r"terms item 1: changed at 0, outside the period"),
    "another uploader's file": (_set_item(1, _not_carols),
                                "terms item 2: .* neither owned nor referred by carol"),
    "unknown price kind": (_set_item(0, lambda c: c["old"]["price"].update(kind="barter")),
                           "terms item 1: old terms price kind 'barter'"),
    "first change with old terms": (_set_item(0, lambda c: c.update(reason="registered")),
                                    "terms item 1: a change for reason 'registered' must not"),
    "out of order": (lambda d: d["terms"].reverse(), "terms item 2: changes must be listed in"),
    "float cap": (_set_item(0, lambda c: c["new"].update(cap=1.5)), "non-integer"),
}


@pytest.mark.parametrize("name", list(TAMPERING))
def test_tampered_term_changes_are_refused(hooks: Hooks, name: str) -> None:
    start, end = _changes(hooks)
    doc = json.loads(service.issue_statement(hooks.ledger, "carol", start, end, KEY))
    change, message = TAMPERING[name]
    change(doc)
    with pytest.raises(StatementInvalid, match=message):
        verify_statement(json.dumps(doc).encode(), PUBLIC)


def test_a_payout_booked_without_its_split_shows_none(journal: Journal) -> None:
    document = service.issue_statement(journal.store, "carol", *journal.period, journal.key)
    public = journal.key.public_key()
    (payout,) = verify_statement(document, public).summary.payouts
    assert (payout.txid, payout.amount_msat) == (TXID, 3_000)
    assert (payout.received_sat, payout.fee_share_msat) == (None, None)
    doc = json.loads(document)
    next(x for x in doc["lines"] if x["kind"] == "payout")["received_sat"] = 3
    with pytest.raises(StatementInvalid, match="do not add up"):
        verify_statement(json.dumps(doc).encode(), public)


@pytest.mark.parametrize(("memo", "verifies"), [
    (f"payout {TXID} sent 2 sat, fee share 1000 msat", True),
    (f"payout {TXID} sent 2 sat, fee share 999 msat", False),
    (f"payout {TXID} sent 3 sat, fee share 1000 msat", False),
])
def test_the_verifier_checks_the_split_the_platform_booked(
    make_db_url: Callable[[], str], memo: str, verifies: bool
) -> None:
    store = LedgerStore.open(make_db_url(), clock=Clock())
    try:
        for name in (CAROL, "liability:settling", "equity:operator"):
            store.open_account(name)
        store.post("earn", [posting(CAROL, -3_000), posting("equity:operator", 3_000)])
        reserve = store.pending("pay", [posting(CAROL, 3_000),
                                        posting("liability:settling", -3_000)])
        store.post_pending(reserve.id, "pay-final", memo=memo)
        document = service.issue_statement(store, "carol", 0, 2**62, KEY)
    finally:
        store.close()
    if verifies:
        (payout,) = verify_statement(document, PUBLIC).summary.payouts
        assert (payout.received_sat, payout.fee_share_msat) == (2, 1_000)
    else:
        with pytest.raises(StatementInvalid, match="do not add up to the 3000 msat"):
            verify_statement(document, PUBLIC)
