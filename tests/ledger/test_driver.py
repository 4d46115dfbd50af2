"""The driver-level helpers of the hot paths, on both engines."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from bitcache.core.accounts import default_spec
from bitcache.errors import StoreError
from bitcache.store.driver import IN_CHUNK, copy_rows, fetch_all, fetch_in
from bitcache.store.ledger import LedgerStore
from tests.ledger.conftest import ALICE, OPERATOR, fund


def test_fetch_in_returns_every_match_across_chunks(store: LedgerStore) -> None:
    names = [f"liability:prepaid:many{i}" for i in range(2 * IN_CHUNK + 7)]
    with store.write() as conn:
        store.open_accounts_in(conn, [default_spec(n) for n in names])
    asked = [*names, "liability:prepaid:nobody", names[0]]  # a miss and a repeat
    with store.write() as conn:
        found = fetch_in(conn, "SELECT name FROM accounts WHERE name IN ({})", asked)
        assert sorted(str(r[0]) for r in found) == sorted(names)
        assert fetch_in(conn, "SELECT name FROM accounts WHERE name IN ({})", []) == []


def test_a_driver_error_is_a_store_error(store: LedgerStore) -> None:
    with store.write() as conn, pytest.raises(StoreError, match="database error"):
        fetch_all(conn, "SELECT * FROM no_such_table WHERE id = ?", (1,))


@pytest.fixture
def pg_store(make_pg_url: Callable[[], str]) -> Iterator[LedgerStore]:
    """A PostgreSQL ledger (COPY is the PostgreSQL bulk path)."""
    s = LedgerStore.open(make_pg_url())
    for name in (ALICE, OPERATOR):
        s.open_account(name)
    yield s
    s.close()


def test_copy_that_the_database_refuses_writes_nothing(pg_store: LedgerStore) -> None:
    store = pg_store
    fund(store, ALICE, 1_000)
    head = store.head()
    refused = pytest.raises(StoreError, match="postings are written before their entry")
    with refused, store.write() as conn:  # a posting for an entry already in the journal
        columns = ("entry_id", "n", "account_id", "amount", "file_hash", "balance_after")
        copy_rows(conn, "postings", columns, [(head[0], 9, 1, 5, None, 0)])
    assert store.head() == head
    assert store.verify().ok
