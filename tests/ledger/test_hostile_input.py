"""Hostile input to LedgerStore: a typed refusal, and not one row written (both engines).

Each case here escaped ``BitcacheError`` before (``OverflowError``,
``UnicodeEncodeError``, ``TypeError``, a driver error) or did harm: a text
``now`` voided every reservation, because SQLite sorts text above every
integer.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

import pytest

from bitcache.core.accounts import AccountKind, AccountSpec
from bitcache.core.checks import INT64_MAX
from bitcache.core.entries import Entry, EntryKind, EntryRequest, Posting, posting
from bitcache.core.money import MAX_MSAT
from bitcache.errors import (
    BalanceOutOfRange,
    InvalidAmount,
    InvalidIdempotencyKey,
    InvalidInput,
    UnbalancedEntry,
)
from bitcache.store.ledger import LedgerStore
from tests.ledger.conftest import ALICE, OPERATOR, PLATFORM, Clock, all_rows, fund

LEGS = [posting(OPERATOR, 1_000), posting(ALICE, -1_000)]
REFUSED_MEMOS = ["\ud800", "ok \udfff", "a\x00b", "\x00"]


def _refused(store: LedgerStore, error: type[Exception], call: Callable[[], object]) -> None:
    """``call`` raises ``error`` and leaves every table as it was."""
    before = all_rows(store)
    with pytest.raises(error):
        call()
    assert all_rows(store) == before


@pytest.fixture
def reservation(store: LedgerStore, clock: Clock) -> Entry:
    """An open reservation of 1,000 msat of Alice's, expiring in a minute."""
    fund(store, ALICE, 5_000)
    return store.pending("hold:1", [posting(ALICE, 1_000), posting(PLATFORM, -1_000)],
                         expires_at=clock.now + 60_000_000)


@pytest.mark.parametrize("now", ["now", "", "abc", 1.5, True, Decimal(10**20), Fraction(1, 2),
                                 -1, 2**63, 2**70, b"1"])
def test_expire_pending_refuses_a_now_that_is_not_a_timestamp(
    store: LedgerStore, reservation: Entry, now: object
) -> None:
    _refused(store, InvalidInput, lambda: store.expire_pending(now))  # type: ignore[arg-type]
    assert store.open_pending() == [reservation.id]
    assert store.post_pending(reservation.id, "take:1").kind is EntryKind.POST_PENDING


def test_expire_pending_takes_any_timestamp_in_range(
    store: LedgerStore, reservation: Entry
) -> None:
    assert store.expire_pending(0) == []
    assert [e.ref for e in store.expire_pending(INT64_MAX)] == [reservation.id]


@pytest.mark.parametrize("memo", REFUSED_MEMOS)
def test_a_memo_must_be_valid_unicode_without_nul(
    store: LedgerStore, reservation: Entry, memo: str
) -> None:
    posted = store.post("paid:1", LEGS)
    calls: list[Callable[[], object]] = [
        lambda: store.post("m:1", LEGS, memo=memo),
        lambda: store.pending("m:2", LEGS, memo=memo),
        lambda: store.post_pending(reservation.id, "m:3", memo=memo),
        lambda: store.void_pending(reservation.id, "m:4", memo=memo),
        lambda: store.reverse(posted.id, "m:5", memo=memo),
        lambda: store.record(EntryRequest("m:6", tuple(LEGS), memo=memo)),
        lambda: store.record_many([EntryRequest("m:7", tuple(LEGS)),  # the whole batch
                                   EntryRequest("m:8", tuple(LEGS), memo=memo)]),
    ]
    for call in calls:
        _refused(store, InvalidInput, call)


def test_a_memo_in_any_script_is_kept(store: LedgerStore) -> None:
    memo = "ünïcødé 🙂 \u202e\n"
    entry = store.post("m:ok", LEGS, memo=memo)
    assert store.entry(entry.id).memo == memo


@pytest.mark.parametrize("key", ["\ud800", "k\x00", 2**64, None, b"dl:1", ""])
def test_entry_by_key_refuses_what_cannot_be_a_key(store: LedgerStore, key: object) -> None:
    _refused(store, InvalidIdempotencyKey, lambda: store.entry_by_key(key))  # type: ignore[arg-type]


def test_numbers_past_64_bits_are_refused(store: LedgerStore, reservation: Entry) -> None:
    posted = store.post("paid:1", LEGS)
    reversal = tuple(Posting(p.account, -p.amount, p.file_hash) for p in posted.postings)
    for call in (
        lambda: store.pending("x:1", LEGS, expires_at=2**63),
        lambda: store.pending("x:2", LEGS, expires_at=-1),
        lambda: store.post_pending(2**63, "x:3", LEGS),
        lambda: store.post_pending(2**63, "x:4"),
        lambda: store.void_pending(2**63, "x:5"),
        lambda: store.reverse(2**63, "x:6"),
        lambda: store.record(EntryRequest("x:7", reversal, EntryKind.REVERSAL, 2**63)),
        lambda: store.entry(2**64),
        lambda: store.balance_as_of(ALICE, 2**63),
    ):
        _refused(store, InvalidInput, call)
    assert store.pending("x:8", LEGS, expires_at=INT64_MAX).expires_at == INT64_MAX


@pytest.mark.parametrize("postings", [5, None, 1.5, "ab", b"ab", {"a": 1}])
def test_postings_that_are_not_a_sequence_are_refused(
    store: LedgerStore, reservation: Entry, postings: object
) -> None:
    calls: list[Callable[[], object]] = [
        lambda: store.post("p:1", postings),  # type: ignore[arg-type]
        lambda: store.pending("p:2", postings),  # type: ignore[arg-type]
    ]
    if postings is not None:  # None posts the whole reservation
        calls.append(lambda: store.post_pending(reservation.id, "p:3", postings))  # type: ignore[arg-type]
    for call in calls:
        _refused(store, UnbalancedEntry, call)


@pytest.mark.parametrize("requests", [None, 5, "abc", EntryRequest("r:1", tuple(LEGS))])
def test_a_batch_that_is_not_a_sequence_is_refused(store: LedgerStore, requests: object) -> None:
    _refused(store, InvalidInput, lambda: store.record_many(requests))  # type: ignore[arg-type]


@pytest.mark.parametrize("specs", [
    5, "asset:x", [None], [AccountSpec("asset:x", AccountKind.LIABILITY, False)],
    [AccountSpec("asset:x", AccountKind.ASSET, "yes")],  # type: ignore[arg-type]
    [AccountSpec("asset:x:\ud800", AccountKind.ASSET, False)],
])
def test_accounts_to_open_must_be_well_formed_specs(store: LedgerStore, specs: object) -> None:
    request = EntryRequest("r:1", tuple(LEGS))
    _refused(store, InvalidInput,
             lambda: store.record_many([request], open_accounts=specs))  # type: ignore[arg-type]


@pytest.mark.parametrize("limited", ["yes", 1, 0, "", [], 1.0])
def test_open_account_limited_must_be_a_bool(store: LedgerStore, limited: object) -> None:
    _refused(store, InvalidInput,
             lambda: store.open_account("asset:fresh", limited=limited))  # type: ignore[arg-type]
    assert store.open_account("asset:fresh", limited=True).limited is True


def test_an_entry_moves_no_more_than_64_bits_hold(store: LedgerStore) -> None:
    """The database sums an entry's postings to check it balances; the sum must fit."""
    for name in ("asset:a", "asset:b", "asset:c", "asset:d", "asset:e"):
        store.open_account(name)
    debits = [Posting(f"asset:{c}", MAX_MSAT) for c in "abcde"]
    five = [*debits, *[Posting(OPERATOR, -MAX_MSAT)] * 5]  # 5 × 21M BTC > 2**63 - 1
    _refused(store, InvalidAmount, lambda: store.post("big:1", five))
    four = [*debits[:4], *[Posting(OPERATOR, -MAX_MSAT)] * 4]  # 4 × 21M BTC fits
    assert store.post("big:2", four).postings == tuple(four)


def test_a_balance_never_leaves_64_bits(store: LedgerStore) -> None:
    store.open_account("asset:a")
    legs = [Posting("asset:a", MAX_MSAT), Posting(OPERATOR, -MAX_MSAT)]
    fits = INT64_MAX // MAX_MSAT  # 4: a fifth 21M BTC would leave the signed 64-bit range
    for i in range(fits):
        store.post(f"grow:{i}", legs)
    _refused(store, BalanceOutOfRange, lambda: store.post("grow:over", legs))
    _refused(store, BalanceOutOfRange, lambda: store.pending("grow:pending", legs))
    # In a batch that is not atomic, the refusal takes that request's place alone.
    small = EntryRequest("grow:small", (Posting("asset:a", 1), Posting(OPERATOR, -1)))
    done = store.record_many([EntryRequest("grow:over", tuple(legs)), small])
    assert isinstance(done.results[0], BalanceOutOfRange) and done.written == 1
    assert store.balance("asset:a").posted == fits * MAX_MSAT + 1
    assert store.trial_balance() == 0 and store.verify().ok


def test_pending_amounts_never_leave_64_bits(store: LedgerStore) -> None:
    store.open_account("asset:a")
    legs = [Posting("asset:a", MAX_MSAT), Posting(OPERATOR, -MAX_MSAT)]
    for i in range(INT64_MAX // MAX_MSAT):
        store.pending(f"res:{i}", legs)
    _refused(store, BalanceOutOfRange, lambda: store.pending("res:over", legs))
    _refused(store, BalanceOutOfRange, lambda: store.post("res:post", legs))
