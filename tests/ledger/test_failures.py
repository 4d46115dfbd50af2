"""Database failures are classified: retryable or permanent, and "outcome unknown" at COMMIT.

Real failures where the test can cause them (a read-only database as a
standby is after a failover, a backend terminated by the server, a trigger's
refusal, SQLite's busy writer lock), the rest of the SQLSTATE table with
driver-shaped exceptions.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from bitcache.core.entries import posting
from bitcache.errors import (
    ConstraintViolation,
    DeadlineExceeded,
    OutcomeUnknown,
    StoreError,
    StoreUnavailable,
)
from bitcache.store.database import sqlite_url
from bitcache.store.failures import Attempt, retryable, store_error
from bitcache.store.ledger import LedgerStore
from tests.conftest import PG_URL
from tests.ledger.conftest import ALICE, OPERATOR, fund


class DriverError(Exception):
    """Shaped like a psycopg error: a PEP 249 class name and a SQLSTATE."""

    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


class OperationalDriverError(DriverError):
    """psycopg's OperationalError: a broken connection has no SQLSTATE."""


OperationalDriverError.__name__ = "OperationalError"


def wrapped(orig: Exception) -> OperationalError:
    return OperationalError("SELECT 1", {}, orig)


RETRYABLE = ["08000", "08003", "08006", "08001", "57P01", "57P02", "57P03", "25006",
             "40001", "40P01", "57014", "53300"]
PERMANENT = ["42P01", "42703", "22003", "XX000", "P0001"]


@pytest.mark.parametrize("code", RETRYABLE)
def test_transient_sqlstates_are_store_unavailable(code: str) -> None:
    error = store_error(wrapped(DriverError(code)), "charging")
    assert type(error) is StoreUnavailable and retryable(wrapped(DriverError(code)))
    assert "charging" in str(error)


@pytest.mark.parametrize("code", PERMANENT)
def test_other_sqlstates_are_permanent(code: str) -> None:
    error = store_error(wrapped(DriverError(code)), "charging")
    assert type(error) is StoreError and not retryable(wrapped(DriverError(code)))


@pytest.mark.parametrize("code", ["23505", "23514", "23000"])
def test_constraint_sqlstates_are_constraint_violations(code: str) -> None:
    assert type(store_error(wrapped(DriverError(code)), "x")) is ConstraintViolation


def test_a_lost_connection_without_sqlstate_is_unavailable_and_unknown_at_commit() -> None:
    lost = wrapped(OperationalDriverError(None))
    assert type(store_error(lost, "x")) is StoreUnavailable
    assert type(store_error(lost, "x", Attempt(committing=True))) is OutcomeUnknown


@pytest.mark.parametrize("code", ["08006", "57P01", "57014"])
def test_commit_cut_short_is_outcome_unknown(code: str) -> None:
    error = store_error(wrapped(DriverError(code)), "x", Attempt(committing=True))
    assert isinstance(error, OutcomeUnknown) and "same key" in str(error)


@pytest.mark.parametrize(
    ("code", "kind"),
    [("40001", StoreUnavailable), ("40P01", StoreUnavailable),
     ("23514", ConstraintViolation), ("42P01", StoreError)],
)
def test_a_commit_refused_by_the_server_is_not_outcome_unknown(code: str, kind: type) -> None:
    """The server answered: the transaction did not commit, the outcome is known."""
    assert type(store_error(wrapped(DriverError(code)), "x", Attempt(committing=True))) is kind


def test_an_expired_call_is_deadline_exceeded_or_unknown_at_commit() -> None:
    lost = wrapped(OperationalDriverError(None))
    assert type(store_error(lost, "x", Attempt(expired=True))) is DeadlineExceeded
    assert type(store_error(lost, "x", Attempt(expired=True, committing=True))) is OutcomeUnknown


def test_sqlite_busy_is_unavailable_and_a_missing_table_is_not(tmp_path: Path) -> None:
    path = tmp_path / "busy.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError) as busy:
        other.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError) as missing:
        other.execute("SELECT * FROM nowhere")
    holder.close()
    other.close()
    assert type(store_error(busy.value, "x")) is StoreUnavailable
    assert type(store_error(missing.value, "x")) is StoreError


def test_a_trigger_refusal_is_a_constraint_violation(store: LedgerStore) -> None:
    fund(store, ALICE, 5_000)
    with pytest.raises(ConstraintViolation, match="append-only"), store.write() as conn:
        conn.execute(sa.text("DELETE FROM postings"))
    assert store.balance(ALICE).posted == -5_000


def test_sqlite_writer_waits_no_longer_than_its_deadline(tmp_path: Path) -> None:
    """Another process holds the writer lock: the call gives up at its deadline (not 60 s)."""
    url = sqlite_url(tmp_path / "ledger.sqlite")
    store = LedgerStore.open(url, deadline_s=0.5)
    store.open_account(ALICE)
    holder = sqlite3.connect(tmp_path / "ledger.sqlite", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        store.open_account(OPERATOR)
    assert time.monotonic() - started < 2.0
    holder.execute("ROLLBACK")
    holder.close()
    store.open_account(OPERATOR)  # the busy wait is back to normal afterwards
    store.close()


pg = pytest.mark.skipif(not PG_URL, reason="needs BITCACHE_TEST_PG_URL")


@pg
@pytest.mark.postgres
def test_a_read_only_database_refuses_writes_as_unavailable(make_pg_url) -> None:  # type: ignore[no-untyped-def]
    """A standby (or a demoted primary) answers 25006: retryable, not a permanent error."""
    url = make_pg_url()
    store = LedgerStore.open(url)
    store.open_account(ALICE)
    name = sa.make_url(url).database
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    store.engine.dispose()
    with pytest.raises(StoreUnavailable, match="read-only"):
        store.open_account(OPERATOR)
    assert store.balance(ALICE).posted == 0  # reads still work
    with admin.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
    store.engine.dispose()
    store.open_account(OPERATOR)
    store.close()
    admin.dispose()


@pg
@pytest.mark.postgres
def test_a_backend_terminated_mid_transaction_is_unavailable_then_the_pool_recovers(
    make_pg_url,  # type: ignore[no-untyped-def]
) -> None:
    url = make_pg_url()
    store = LedgerStore.open(url)
    store.open_account(ALICE)
    store.open_account(OPERATOR)
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with pytest.raises(StoreUnavailable), store.write() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with admin.connect() as other:
            other.exec_driver_sql(f"SELECT pg_terminate_backend({pid})")
        conn.exec_driver_sql("SELECT 1")
    # every pooled connection killed (as after a failover): the next call reconnects by itself
    name = sa.make_url(url).database
    with admin.connect() as other:
        other.exec_driver_sql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        )
    store.post("after", [posting(OPERATOR, 10), posting(ALICE, -10)])
    assert store.balance(ALICE).posted == -10
    store.close()
    admin.dispose()
