"""The driver-level helpers of the hot paths, on both engines."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from bitcache.core.accounts import default_spec
from bitcache.errors import StoreError
from bitcache.store.driver import (
    IN_CHUNK,
    SQLITE_MAX_PARAMS,
    copy_rows,
    fetch_all,
    fetch_in,
    fetch_in_each,
    insert_rows,
)
from bitcache.store.ledger import LedgerStore
from tests.conftest import PG_URL
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


def _checkouts(store: LedgerStore) -> list[int]:
    """A list that grows by one at each pool checkout of ``store``'s engine."""
    seen: list[int] = []
    sa.event.listen(store.engine, "checkout", lambda *_: seen.append(1))
    return seen


def test_a_deferred_commit_syncs_on_its_own_connection(pg_store: LedgerStore) -> None:
    """The sync after a deferred commit needs no pool checkout (and so no ping): it runs on
    the connection that committed, and that connection then goes back to the pool."""
    checkouts = _checkouts(pg_store)
    with pg_store.write(defer_sync=True) as conn:
        committed_on = conn.connection.dbapi_connection
    pg_store.sync()
    assert len(checkouts) == 1
    assert pg_store.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    with pg_store.write() as conn:  # the next transaction gets it back, not in autocommit
        assert conn.connection.dbapi_connection is committed_on
        assert conn.exec_driver_sql("SHOW transaction_isolation").scalar() == "read committed"
        assert not conn.connection.dbapi_connection.autocommit  # type: ignore[attr-defined]


def test_a_sync_whose_connection_was_lost_runs_on_a_pooled_one(
    pg_store: LedgerStore, make_pg_url: Callable[[], str]
) -> None:
    """The server ended the committing connection before the sync (a restart of that
    backend): the sync runs on a fresh connection of the same server, and succeeds."""
    fund(pg_store, ALICE, 1_000)
    with pg_store.write(defer_sync=True) as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
    finally:
        admin.dispose()
    checkouts = _checkouts(pg_store)
    pg_store.sync()
    assert len(checkouts) >= 1  # the lost connection was replaced
    fund(pg_store, ALICE, 1_000)  # and the ledger goes on


def test_fetch_in_each_answers_each_query(store: LedgerStore) -> None:
    """Each query's own rows, in order (on PostgreSQL read once the pipeline is closed),
    a repeated value once, and nothing for an empty list or a miss."""
    names = [ALICE, OPERATOR, "liability:prepaid:nobody", ALICE]
    sql = "SELECT name FROM accounts WHERE name IN ({})"
    with store.write() as conn:
        found = fetch_in_each(conn, [(sql, names), (sql, []), (sql, [OPERATOR]),
                                     (sql, ["liability:prepaid:nobody"])])
    assert [sorted(str(r[0]) for r in rows) for rows in found] == [
        sorted([ALICE, OPERATOR]), [], [OPERATOR], []]


def test_fetch_in_each_error_is_a_store_error(store: LedgerStore) -> None:
    with store.write() as conn, pytest.raises(StoreError, match="database error"):
        fetch_in_each(conn, [("SELECT name FROM accounts WHERE name IN ({})", [ALICE]),
                             ("SELECT * FROM no_such_table WHERE id IN ({})", [1])])


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=600), st.sampled_from([1, 6, 14, 40]))
def test_sqlite_inserts_go_in_few_multi_row_statements(count: int, width: int) -> None:
    """Every row once, in order, in statements of power-of-two row counts within SQLite's
    historical 999-parameter limit: at most (count // largest) + popcount(rest) of them,
    so a flush's rows take a few steps of the engine, not one per row."""
    columns = tuple(f"c{i}" for i in range(width))
    rows = [tuple(r * 100 + c for c in range(width)) for r in range(count)]
    engine = sa.create_engine("sqlite://")
    seen: list[int] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cursor, sql, params, ctx, many: seen.append(len(params)))
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE t (n INTEGER PRIMARY KEY, {', '.join(columns)})")
        seen.clear()
        insert_rows(conn, "t", columns, rows)
        sizes = [p // width for p in seen]
        back = [tuple(r[1:]) for r in conn.exec_driver_sql("SELECT * FROM t ORDER BY n")]
    assert back == rows
    largest = max(s for s in (1 << k for k in range(12)) if s * width <= SQLITE_MAX_PARAMS)
    assert all(s & (s - 1) == 0 and 0 < s <= largest for s in sizes)
    assert len(sizes) == count // largest + bin(count % largest).count("1")
