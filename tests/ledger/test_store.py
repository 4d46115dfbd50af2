"""LedgerStore behaviour on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from bitcache.core.balances import Balance
from bitcache.core.entries import EntryKind, EntryRequest, Posting, posting
from bitcache.errors import (
    AccountConflict,
    AlreadyReversed,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidInput,
    PendingExpired,
    PendingStateError,
    UnbalancedEntry,
    UnknownAccount,
    UnknownEntry,
)
from bitcache.store.ledger import LedgerStore
from tests.ledger.conftest import (
    ALICE,
    BOB,
    FILE,
    OPERATOR,
    PLATFORM,
    UPLOADER,
    Clock,
    download_legs,
    fund,
)


def test_post_moves_money_and_balances_sum_to_zero(store: LedgerStore) -> None:
    fund(store, ALICE, 5_000)
    entry = store.post("dl:1", download_legs(ALICE))
    assert entry.id == 2 and entry.kind is EntryKind.POSTED
    assert store.balance(ALICE) == Balance(posted=-4_000)
    assert store.balance(UPLOADER).posted == -850
    assert store.balance(PLATFORM).posted == -150
    assert store.trial_balance() == 0
    assert store.verify().ok


def test_retry_with_same_key_returns_original_and_writes_nothing(store: LedgerStore) -> None:
    fund(store, ALICE, 5_000)
    first = store.post("dl:1", download_legs(ALICE))
    again = store.post("dl:1", download_legs(ALICE))
    assert again == first
    assert store.balance(ALICE).posted == -4_000
    assert store.head()[0] == 2


def test_same_key_other_content_is_a_conflict(store: LedgerStore) -> None:
    fund(store, ALICE, 5_000)
    store.post("dl:1", download_legs(ALICE))
    with pytest.raises(IdempotencyConflict, match="dl:1"):
        store.post("dl:1", download_legs(ALICE, price=2000))
    assert store.balance(ALICE).posted == -4_000


def test_limited_account_cannot_go_below_zero(store: LedgerStore) -> None:
    fund(store, ALICE, 1_500)
    store.post("dl:1", download_legs(ALICE))
    with pytest.raises(InsufficientFunds) as info:
        store.post("dl:2", download_legs(ALICE))
    assert info.value.account == ALICE and info.value.available == 500
    assert store.balance(ALICE).posted == -500
    assert store.entry_by_key("dl:2") is None


def test_unknown_account_is_refused(store: LedgerStore) -> None:
    with pytest.raises(UnknownAccount, match="liability:prepaid:nobody"):
        store.post("x", [posting(OPERATOR, 5), posting("liability:prepaid:nobody", -5)])
    assert store.head()[0] == 0


def test_account_reopen_is_idempotent_and_conflict_is_refused(store: LedgerStore) -> None:
    assert store.open_account(ALICE).limited
    with pytest.raises(AccountConflict):
        store.open_account(ALICE, limited=False)


def test_pending_counts_against_the_limit_then_posts_partially(store: LedgerStore) -> None:
    fund(store, ALICE, 1_000)
    hold = store.pending("dl:start", download_legs(ALICE))
    assert store.balance(ALICE) == Balance(posted=-1_000, pending_debits=1_000)
    with pytest.raises(InsufficientFunds):
        store.post("dl:other", download_legs(ALICE, price=10, fee=1))
    done = store.post_pending(
        hold.id,
        "dl:done",
        [posting(ALICE, 400, FILE), posting(UPLOADER, -340, FILE), posting(PLATFORM, -60, FILE)],
    )
    assert done.kind is EntryKind.POST_PENDING and done.ref == hold.id
    assert store.balance(ALICE) == Balance(posted=-600)
    assert store.balance(UPLOADER) == Balance(posted=-340)
    with pytest.raises(PendingStateError, match="already resolved"):
        store.void_pending(hold.id, "dl:void")
    assert store.open_pending() == []


def test_post_pending_cannot_exceed_the_reservation(store: LedgerStore) -> None:
    fund(store, ALICE, 5_000)
    hold = store.pending("p", download_legs(ALICE))
    with pytest.raises(InvalidInput, match="exceeds"):
        store.post_pending(hold.id, "p:post", download_legs(ALICE, price=2_000, fee=300))
    with pytest.raises(InvalidInput, match="not part of"):
        store.post_pending(hold.id, "p:post", [posting(ALICE, 10), posting(BOB, -10)])


def test_void_releases_and_expiry_voids(store: LedgerStore, clock: Clock) -> None:
    fund(store, ALICE, 2_000)
    a = store.pending("a", download_legs(ALICE))
    b = store.pending("b", download_legs(ALICE), expires_at=clock.now + 10)
    store.void_pending(a.id, "a:void")
    assert store.balance(ALICE).pending_debits == 1_000
    clock.now += 10
    with pytest.raises(PendingExpired):
        store.post_pending(b.id, "b:post")
    expired = store.expire_pending()
    assert [e.ref for e in expired] == [b.id]
    assert store.balance(ALICE) == Balance(posted=-2_000)
    assert store.expire_pending() == []


def test_reverse_negates_once(store: LedgerStore) -> None:
    fund(store, ALICE, 2_000)
    entry = store.post("dl", download_legs(ALICE))
    rev = store.reverse(entry.id, "dl:rev")
    assert rev.postings == tuple(Posting(p.account, -p.amount, p.file_hash) for p in entry.postings)
    assert store.balance(ALICE).posted == -2_000 and store.balance(UPLOADER).posted == 0
    with pytest.raises(AlreadyReversed):
        store.reverse(entry.id, "dl:rev2")
    with pytest.raises(UnknownEntry):
        store.reverse(999, "nope")


def test_reversal_that_would_overdraw_is_refused(store: LedgerStore) -> None:
    fund(store, ALICE, 1_000)
    dl = store.post("dl", download_legs(ALICE))
    store.post("spend", [posting(UPLOADER, 850), posting(OPERATOR, -850)])
    with pytest.raises(InsufficientFunds, match="carol"):
        store.reverse(dl.id, "dl:rev")


def test_balance_as_of_an_entry(store: LedgerStore) -> None:
    fund(store, ALICE, 3_000)
    first = store.post("1", download_legs(ALICE))
    store.post("2", download_legs(ALICE))
    assert store.balance_as_of(ALICE, first.id) == -2_000
    assert store.balance_as_of(ALICE, first.id + 1) == -1_000
    assert store.balance_as_of(ALICE, 0) == 0


def test_batch_refuses_one_entry_and_records_the_rest(store: LedgerStore) -> None:
    fund(store, ALICE, 2_000)
    reqs = [EntryRequest(f"b{i}", tuple(download_legs(ALICE))) for i in range(3)]
    result = store.record_many(reqs)
    assert result.written == 2 and result.refused == 1
    assert isinstance(result.results[2], InsufficientFunds)
    assert store.balance(ALICE).posted == 0
    replay = store.record_many(reqs[:2])
    assert replay.replayed == 2 and replay.written == 0


def test_atomic_batch_writes_nothing_on_refusal(store: LedgerStore) -> None:
    fund(store, ALICE, 2_000)
    reqs = [EntryRequest(f"b{i}", tuple(download_legs(ALICE))) for i in range(3)]
    with pytest.raises(InsufficientFunds):
        store.record_many(reqs, atomic=True)
    assert store.balance(ALICE).posted == -2_000 and store.head()[0] == 1


def test_bad_input_in_a_batch_refuses_the_whole_batch(store: LedgerStore) -> None:
    fund(store, ALICE, 2_000)
    good = EntryRequest("good", tuple(download_legs(ALICE)))
    bad = EntryRequest("bad", (posting(ALICE, 5), Posting(PLATFORM, -4)))
    with pytest.raises(UnbalancedEntry, match="sum to 1"):
        store.record_many([good, bad])
    assert store.entry_by_key("good") is None


def test_batch_sees_its_own_earlier_entries(store: LedgerStore) -> None:
    fund(store, ALICE, 1_000)
    hold = EntryRequest("h", tuple(download_legs(ALICE)), EntryKind.PENDING)
    first = store.record_many([hold]).entries()[0]
    post = EntryRequest("h:post", first.postings, EntryKind.POST_PENDING, first.id)
    void = EntryRequest("h:void", first.postings, EntryKind.VOID_PENDING, first.id)
    result = store.record_many([post, void])
    assert isinstance(result.results[1], PendingStateError)


def test_open_accounts_inside_a_batch(store: LedgerStore) -> None:
    from bitcache.core.accounts import default_spec

    new = "liability:prepaid:dave"
    req = EntryRequest("f", (posting(OPERATOR, 10), posting(new, -10)))
    store.record_many([req], open_accounts=[default_spec(new)])
    assert store.balance(new).posted == -10


def test_reopen_keeps_everything(db_url: str, store: LedgerStore) -> None:
    fund(store, ALICE, 2_000)
    store.post("dl", download_legs(ALICE))
    again = LedgerStore.open(db_url)
    assert again.balance(ALICE).posted == -1_000
    assert again.verify().ok and again.verify().entries == 2
    assert again.post("dl", download_legs(ALICE)).id == 2
    again.close()


def test_accounts_opened_in_a_refused_atomic_batch_do_not_exist(store: LedgerStore) -> None:
    """A rolled-back transaction must not leave a phantom account in the process's cache."""
    from bitcache.core.accounts import default_spec

    new = "liability:prepaid:phantom"
    overdraw = EntryRequest("x", (posting(new, 10), posting(OPERATOR, -10)))
    with pytest.raises(InsufficientFunds):
        store.record_many([overdraw], atomic=True, open_accounts=[default_spec(new)])
    with pytest.raises(UnknownAccount):
        store.post("y", [posting(OPERATOR, 10), posting(new, -10)])
    store.open_account(new)
    store.post("y", [posting(OPERATOR, 10), posting(new, -10)])
    assert store.balance(new).posted == -10
