"""The database itself refuses unbalanced entries and edits of the journal."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import DBAPIError

from bitcache.store.ledger import LedgerStore
from tests.ledger.conftest import ALICE, download_legs, fund


def _raw(store: LedgerStore, *statements: str) -> None:
    with store.engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def _ids(store: LedgerStore) -> tuple[int, int]:
    with store.engine.connect() as conn:
        op = conn.exec_driver_sql("SELECT id FROM accounts WHERE name = 'equity:operator'")
        al = conn.exec_driver_sql(f"SELECT id FROM accounts WHERE name = '{ALICE}'")
        return int(op.scalar_one()), int(al.scalar_one())


def _insert_entry(store: LedgerStore, entry_id: int, amounts: list[int]) -> list[str]:
    op, al = _ids(store)
    blob = (
        "x'" + "00" * 32 + "'"
        if store.engine.dialect.name == "sqlite"
        else "'\\x" + "00" * 32 + "'"
    )
    rows = [
        f"INSERT INTO postings (entry_id, n, account_id, amount, file_hash, balance_after) "
        f"VALUES ({entry_id}, {n}, {op if n == 0 else al}, {amt}, NULL, 0)"
        for n, amt in enumerate(amounts)
    ]
    return [
        *rows,
        (
            "INSERT INTO entries (id, key, kind, ref, resolves, reverses, expires_at, memo, "
            "recorded_at, content_hash, prev_hash, entry_hash) VALUES "
            f"({entry_id}, 'raw{entry_id}', 'posted', NULL, NULL, NULL, NULL, '', 0, "
            f"{blob}, {blob}, {blob})"
        ),
    ]


def test_unbalanced_entry_inserted_with_raw_sql_is_refused(store: LedgerStore) -> None:
    with pytest.raises(DBAPIError, match="unbalanced entry"):
        _raw(store, *_insert_entry(store, 1, [500, -400]))
    with pytest.raises(DBAPIError, match="unbalanced entry"):
        _raw(store, *_insert_entry(store, 1, [500]))
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM entries").scalar_one() == 0


def test_balanced_raw_entry_passes_the_trigger(store: LedgerStore) -> None:
    """The trigger is not a blanket refusal: a balanced entry gets through it."""
    _raw(store, *_insert_entry(store, 1, [500, -500]))
    report = store.verify()
    assert not report.ok  # but the hash chain exposes a hand-written entry
    assert report.first_broken == 1


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE postings SET amount = amount + 1",
        "DELETE FROM postings",
        "UPDATE entries SET memo = 'edited'",
        "DELETE FROM entries",
        "UPDATE journal_head SET last_id = 0",
        "DELETE FROM journal_head",
    ],
)
def test_journal_rows_cannot_be_updated_or_deleted(store: LedgerStore, statement: str) -> None:
    fund(store, ALICE, 2_000)
    store.post("dl", download_legs(ALICE))
    with pytest.raises(DBAPIError, match="append-only"):
        _raw(store, statement)
    assert store.verify().ok


def test_postings_cannot_be_added_to_a_recorded_entry(store: LedgerStore) -> None:
    fund(store, ALICE, 2_000)
    op, _ = _ids(store)
    with pytest.raises(DBAPIError, match="cannot gain postings"):
        _raw(
            store,
            "INSERT INTO postings (entry_id, n, account_id, amount, file_hash, balance_after) "
            f"VALUES (1, 7, {op}, 5, NULL, 0)",
        )


def test_limit_is_a_database_constraint_too(store: LedgerStore) -> None:
    fund(store, ALICE, 2_000)
    with pytest.raises(DBAPIError, match="ck_limit"):
        _raw(store, f"UPDATE accounts SET posted = 1 WHERE name = '{ALICE}'")


def _drop_guards(store: LedgerStore) -> None:
    """What an attacker with DDL rights would do before editing the journal."""
    if store.engine.dialect.name == "sqlite":
        _raw(store, "DROP TRIGGER trg_postings_no_update", "DROP TRIGGER trg_entries_no_update")
    else:
        _raw(
            store,
            "DROP TRIGGER trg_postings_append_only ON postings",
            "DROP TRIGGER trg_entries_append_only ON entries",
        )


def test_tampered_row_is_named_by_verify(store: LedgerStore) -> None:
    fund(store, ALICE, 10_000)
    for i in range(5):
        store.post(f"dl{i}", download_legs(ALICE))
    assert store.verify().ok
    _drop_guards(store)
    _raw(store, "UPDATE postings SET amount = 999 WHERE entry_id = 4 AND n = 0")
    _raw(store, "UPDATE postings SET amount = -999 WHERE entry_id = 4 AND n = 2")
    report = store.verify()
    assert not report.ok and report.first_broken == 4
    assert "content" in report.reason


def test_tampered_memo_and_hash_are_named(store: LedgerStore) -> None:
    fund(store, ALICE, 10_000)
    for i in range(4):
        store.post(f"dl{i}", download_legs(ALICE))
    _drop_guards(store)
    _raw(store, "UPDATE entries SET recorded_at = recorded_at + 1 WHERE id = 3")
    report = store.verify()
    assert (report.ok, report.first_broken) == (False, 3)


def test_schema_matches_the_table_models(store: LedgerStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from bitcache.store.tables import metadata

    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
