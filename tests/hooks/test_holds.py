"""Takedown holds conserve money: hold then release or refund (Hypothesis, both engines)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bitcache.core.entries import posting
from bitcache.core.pricing import PriceRule
from bitcache.errors import FileHeld, FileNotHeld, IdempotencyConflict
from bitcache.hooks import Hooks
from tests.hooks.conftest import FILE, FILE2, SIZE, make_hooks
from tests.ledger.conftest import Clock

CAROL = "liability:payable:carol"
HELD = f"liability:held:{FILE}"
PEOPLE = ["ann", "bob", "cat", "dan"]

events = st.lists(
    st.tuples(st.sampled_from(["dl", "dl", "tip", "other"]), st.sampled_from(PEOPLE),
              st.integers(1, 5_000)),
    min_size=1, max_size=12,
)


def _posted(h: Hooks, name: str) -> int:
    found = h.ledger.balances(name).get(name)
    return 0 if found is None else found.posted


def _replay(h: Hooks, seq: list[tuple[str, str, int]], tag: str) -> None:
    for n, (what, who, amount) in enumerate(seq):
        key = f"{tag}{n}"
        if what == "tip":
            h.tip(FILE, who, amount, key)
        else:
            h.download(FILE if what == "dl" else FILE2, who, key,
                       bytes_served=None if amount % 2 else amount)


def _run(h: Hooks, before: list[tuple[str, str, int]], during: list[tuple[str, str, int]],
         resolve: str) -> None:
    h.register_file(FILE, "carol", PriceRule.fixed(7_777), size=SIZE, referrer="ref")
    h.register_file(FILE2, "carol", PriceRule.fixed(1_001), size=SIZE)
    for who in PEOPLE:
        h.credit_deposit(who, 10**9, f"dep-{who}")
    _replay(h, before, "a")
    payable_before = _posted(h, CAROL)
    moved = h.hold(FILE, "h").amount_msat
    assert _posted(h, CAROL) + _posted(h, HELD) == payable_before  # the hold moves, never makes
    _replay(h, during, "b")
    held_now = -_posted(h, HELD)
    prepaid_before = {w: h.prepaid_balance(w) for w in PEOPLE}
    carol_before = _posted(h, CAROL)
    receipt = (h.release if resolve == "release" else h.refund)(FILE, "r")
    assert receipt.amount_msat == held_now and _posted(h, HELD) == 0
    if resolve == "release":
        assert _posted(h, CAROL) == carol_before - held_now
    else:
        gained = {w: h.prepaid_balance(w) - prepaid_before[w] for w in PEOPLE}
        assert sum(gained.values()) == held_now and min(gained.values()) >= 0
        assert _posted(h, CAROL) == carol_before
        paid = {w: 0 for w in PEOPLE}
        for e in h.ledger.entries():
            p = e.postings[0]
            if p.file_hash is not None and p.file_hash.hex() == FILE and p.amount > 0 and \
                    p.account.startswith("liability:prepaid:") and e.kind.value != "pending":
                paid[p.account.rsplit(":", 1)[1]] += p.amount
        total = sum(paid.values())
        assert total > 0 or held_now == 0
        for w in PEOPLE if total else []:  # pro rata to what each paid, to the msat
            assert abs(gained[w] - Fraction(held_now * paid[w], total)) < 1
    assert h.ledger.trial_balance() == 0 and h.ledger.verify().ok
    assert moved >= 0


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=events, during=events, resolve=st.sampled_from(["release", "refund"]))
def test_hold_then_release_or_refund_conserves_money(
    make_db_url: Callable[[], str], before: list[tuple[str, str, int]],
    during: list[tuple[str, str, int]], resolve: str,
) -> None:
    h = make_hooks(make_db_url(), Clock())
    try:
        _run(h, before, during, resolve)
    finally:
        h.close()


def test_hold_moves_only_unpaid_earnings_and_retries_replay(hooks: Hooks) -> None:
    hooks.register_file(FILE, "carol", PriceRule.fixed(10_000), size=SIZE)
    hooks.register_file(FILE2, "carol", PriceRule.fixed(10_000), size=SIZE)
    hooks.credit_deposit("bob", 100_000, "d")
    hooks.download(FILE, "bob", "1")
    hooks.download(FILE2, "bob", "2")
    # a payout of part of carol's balance: only what is left can be held
    hooks.ledger.open_account("liability:settling")
    hooks.ledger.post("payout", [posting(CAROL, 12_000), posting("liability:settling", -12_000)])
    first = hooks.hold(FILE, "h1")
    assert first.amount_msat == 6_000  # min(9,000 earned by FILE, 6,000 left)
    assert hooks.hold(FILE, "h1") == dataclasses.replace(first, replayed=True)
    with pytest.raises(FileHeld):
        hooks.hold(FILE, "h2")
    with pytest.raises(FileNotHeld):
        hooks.release(FILE2, "x")
    hooks.release(FILE, "r1")
    assert hooks.release(FILE, "r1").replayed
    with pytest.raises(IdempotencyConflict):
        hooks.hold(FILE, "h1")  # a new hold cannot reuse the first hold's key
    hooks.register_file("cd" * 32, "carol", PriceRule.fixed(1))
    empty = hooks.hold("cd" * 32, "h3")
    assert empty.amount_msat == 0 and empty.entry_ids == ()
    assert hooks.hold("cd" * 32, "h3").replayed
    assert hooks.refund("cd" * 32, "r3").amount_msat == 0
