"""Download charging through the hooks: receipts, retries, caps, holds, batches, transfers."""

from __future__ import annotations

import pytest

from bitcache.core.files import HoldPolicy
from bitcache.core.pricing import PriceRule
from bitcache.errors import (
    DownloadCapReached,
    FileHeld,
    IdempotencyConflict,
    InsufficientFunds,
    PendingExpired,
    PendingStateError,
    UnknownFile,
)
from bitcache.hooks import DownloadReceipt, DownloadRequest, Hooks
from tests.hooks.conftest import FILE, FILE2, SIZE, make_hooks, setup_file, snapshot
from tests.ledger.conftest import Clock

CAROL = "liability:payable:carol"
DAVE = "liability:payable:dave"
BOB = "liability:prepaid:bob"


def test_download_posts_one_balanced_entry_split_exactly(hooks: Hooks) -> None:
    setup_file(hooks, 10_001, referrer="dave")
    hooks.credit_deposit("bob", 50_000, "tx1")
    r = hooks.download(FILE, "bob", "ev1")
    assert (r.price_msat, r.platform_msat, r.referrer_msat, r.uploader_msat) == (
        10_001, 1_000, 500, 8_501)
    assert r.balance_after_msat == 39_999 and r.credited == CAROL
    entry = hooks.ledger.entry(r.entry_id or 0)
    assert sum(p.amount for p in entry.postings) == 0
    assert {p.file_hash.hex() for p in entry.postings if p.file_hash} == {FILE}
    assert hooks.balance(CAROL).posted == -8_501 and hooks.balance(DAVE).posted == -500
    assert hooks.file(FILE).downloads == 1
    assert hooks.ledger.trial_balance() == 0 and hooks.ledger.verify().ok


def test_retry_is_not_charged_twice_and_other_content_conflicts(hooks: Hooks) -> None:
    setup_file(hooks)
    hooks.register_file(FILE2, "carol", PriceRule.fixed(5))
    hooks.credit_deposit("bob", 50_000, "tx1")
    first = hooks.download(FILE, "bob", "ev1")
    again = hooks.download(FILE, "bob", "ev1")
    assert again.replayed and again.entry_id == first.entry_id
    assert again.balance_after_msat == first.balance_after_msat
    before = snapshot(hooks)
    for bad in [(FILE2, "bob", None), (FILE, "eve", None), (FILE, "bob", 10)]:
        with pytest.raises(IdempotencyConflict):
            hooks.download(bad[0], bad[1], "ev1", bytes_served=bad[2])
    assert snapshot(hooks) == before and hooks.file(FILE).downloads == 1


def test_insufficient_funds_and_unknown_file_write_nothing(hooks: Hooks) -> None:
    setup_file(hooks)
    hooks.credit_deposit("bob", 9_999, "tx1")
    before = snapshot(hooks)
    with pytest.raises(InsufficientFunds) as info:
        hooks.download(FILE, "bob", "ev1")
    assert info.value.available == 9_999 and info.value.needed == 1
    with pytest.raises(InsufficientFunds):
        hooks.download(FILE, "nobody", "ev2")
    with pytest.raises(UnknownFile):
        hooks.download(FILE2, "bob", "ev3")
    assert snapshot(hooks) == before and hooks.file(FILE).downloads == 0


def test_cap_is_counted_with_the_charge(hooks: Hooks) -> None:
    setup_file(hooks, cap=2)
    hooks.credit_deposit("bob", 100_000, "tx1")
    hooks.download(FILE, "bob", "a")
    hooks.download(FILE, "bob", "b")
    with pytest.raises(DownloadCapReached):
        hooks.download(FILE, "bob", "c")
    assert hooks.download(FILE, "bob", "b").replayed  # a retry at the cap still answers
    assert hooks.file(FILE).downloads == 2
    assert hooks.prepaid_balance("bob") == 80_000


def test_batch_answers_each_request_in_one_commit(hooks: Hooks) -> None:
    setup_file(hooks, cap=3)
    hooks.register_file(FILE2, "carol", PriceRule.free())
    hooks.credit_deposit("bob", 25_000, "tx1")
    answers = hooks.download_batch([
        DownloadRequest(FILE, "bob", "1"),
        DownloadRequest(FILE, "bob", "2"),
        DownloadRequest(FILE, "bob", "3"),      # 5,000 left: refused
        DownloadRequest(FILE2, "bob", "4"),     # free
        DownloadRequest(FILE, "bob", "1"),      # duplicate of the first
        DownloadRequest(FILE2, "bob", "1"),     # same key, other file
        DownloadRequest("00" * 32, "bob", "5"),
    ])
    kinds = [type(a).__name__ for a in answers]
    assert kinds == ["DownloadReceipt", "DownloadReceipt", "InsufficientFunds",
                     "DownloadReceipt", "DownloadReceipt", "IdempotencyConflict", "UnknownFile"]
    assert isinstance(answers[4], DownloadReceipt) and answers[4].replayed
    assert isinstance(answers[3], DownloadReceipt) and answers[3].entry_id is None
    assert hooks.file(FILE).downloads == 2 and hooks.file(FILE2).downloads == 1
    assert hooks.prepaid_balance("bob") == 5_000
    # the refused request did not take a cap slot: one more download fits
    hooks.credit_deposit("bob", 10_000, "tx2")
    hooks.download(FILE, "bob", "6")
    with pytest.raises(DownloadCapReached):
        hooks.download(FILE, "bob", "7")


def test_fiat_price_records_the_rate_on_the_entry(hooks: Hooks) -> None:
    hooks.register_file(FILE, "carol", PriceRule.fiat(1, "USD"))
    hooks.credit_deposit("bob", 10**9, "tx1")
    r = hooks.download(FILE, "bob", "ev1")
    assert r.price_msat == 16_666_667
    assert "rate USD 1666666667/100 msat per minor unit" in hooks.ledger.entry(r.entry_id or 0).memo


@pytest.mark.parametrize("policy", list(HoldPolicy))
def test_held_file_downloads_follow_the_hold_policy(db_url: str, clock: Clock,
                                                    policy: HoldPolicy) -> None:
    hooks = make_hooks(db_url, clock, hold_policy=policy)
    setup_file(hooks)
    hooks.credit_deposit("bob", 100_000, "tx1")
    hooks.hold(FILE, "h1")
    if policy is HoldPolicy.REFUSE:
        with pytest.raises(FileHeld):
            hooks.download(FILE, "bob", "ev1")
        assert hooks.prepaid_balance("bob") == 100_000
    else:
        r = hooks.download(FILE, "bob", "ev1")
        assert r.credited == f"liability:held:{FILE}"
        assert hooks.balance(r.credited).posted == -9_000
    hooks.close()


def test_two_step_transfer_posts_only_the_bytes_served(hooks: Hooks) -> None:
    setup_file(hooks, 9_999, referrer="dave")
    hooks.credit_deposit("bob", 30_000, "tx1")
    t = hooks.begin_transfer(FILE, "bob", "t1")
    assert t.reserved_msat == 9_999 and hooks.prepaid_balance("bob") == 20_001
    r = hooks.complete_transfer(t, SIZE // 4)
    assert r.price_msat == 2_500  # 9,999 / 4 = 2,499.75 -> 2,500
    assert r.platform_msat + r.referrer_msat + r.uploader_msat == 2_500
    assert hooks.prepaid_balance("bob") == 27_500
    assert hooks.complete_transfer(t, SIZE // 4).replayed
    with pytest.raises(IdempotencyConflict):
        hooks.complete_transfer(t, SIZE // 2)
    with pytest.raises(PendingStateError):
        hooks.cancel_transfer(t)
    assert hooks.ledger.open_pending() == [] and hooks.ledger.trial_balance() == 0


def test_transfer_cancel_and_expiry_release_the_reservation(hooks: Hooks, clock: Clock) -> None:
    setup_file(hooks)
    hooks.credit_deposit("bob", 30_000, "tx1")
    t1 = hooks.begin_transfer(FILE, "bob", "t1")
    t2 = hooks.begin_transfer(FILE, "bob", "t2", ttl_us=1_000)
    assert hooks.prepaid_balance("bob") == 10_000
    cancelled = hooks.cancel_transfer(t1)
    assert cancelled is not None and cancelled.amount_msat == 10_000
    clock.now += 2_000
    with pytest.raises(PendingExpired):
        hooks.complete_transfer(t2, SIZE)
    assert hooks.expire_transfers() == 1
    assert hooks.prepaid_balance("bob") == 30_000 and hooks.ledger.open_pending() == []
    assert hooks.balance(CAROL).posted == 0
    assert hooks.file(FILE).downloads == 2  # a cap counts authorized transfers


def test_transfer_with_nothing_served_voids(hooks: Hooks) -> None:
    setup_file(hooks)
    hooks.credit_deposit("bob", 30_000, "tx1")
    t = hooks.begin_transfer(FILE, "bob", "t1")
    r = hooks.complete_transfer(t, 0)
    assert r.price_msat == 0 and r.balance_after_msat == 30_000
    assert hooks.prepaid_balance("bob") == 30_000


def test_tip_and_promotional_credit(hooks: Hooks) -> None:
    setup_file(hooks)
    promo = hooks.promo_credit("bob", 5_000, "welcome")
    assert promo.credits == ((BOB, 5_000),)
    assert hooks.balance("expense:promotions").posted == 5_000
    tip = hooks.tip(FILE, "bob", 1_234, "tip1")
    assert tip.credits == ((CAROL, 1_234),)
    assert hooks.tip(FILE, "bob", 1_234, "tip1").replayed
    with pytest.raises(IdempotencyConflict):
        hooks.tip(FILE, "bob", 1_235, "tip1")
    with pytest.raises(InsufficientFunds):
        hooks.tip(FILE, "bob", 5_000, "tip2")
    assert hooks.prepaid_balance("bob") == 3_766
