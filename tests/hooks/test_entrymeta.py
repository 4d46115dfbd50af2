"""Typed entry metadata in use: charges record it, money logic reads it, old journals upgrade.

A charge's parts, bytes served, file size and fiat rate used to be read back
from its memo (``name=value; …``); a pending transfer whose memo lacked
``size`` made ``complete_transfer`` raise ``KeyError: 'size'``, and a memo
written by any ledger caller decided what a transfer completion moved. Now
the facts are an ``EntryMeta`` covered by the entry hash; the memo is for
people. Journals written before that upgrade through migration
``0002_entry_meta`` and keep verifying.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, text

from bitcache.core.entries import Entry, EntryRequest, Posting, content_hash
from bitcache.core.entrymeta import EntryMeta, encode_meta
from bitcache.core.filehash import file_hash
from bitcache.core.journal import GENESIS_HASH, chain_hash
from bitcache.core.pricing import PriceRule
from bitcache.errors import InvalidInput
from bitcache.hooks import Hooks
from bitcache.reconciliation.journal_audit import journal_pass
from bitcache.reconciliation.report import Check, Findings
from bitcache.store.database import make_engine, upgrade
from tests.hooks.conftest import FILE, FILE2, SIZE, make_hooks, setup_file, snapshot
from tests.ledger.conftest import Clock

CAROL = "liability:payable:carol"
BOB = "liability:prepaid:bob"


@pytest.mark.parametrize("memo", ["", "parts=u", f"parts=u; size={SIZE}"])
def test_a_pending_transfer_without_typed_metadata_is_refused_not_a_key_error(
    hooks: Hooks, memo: str
) -> None:
    """Before typed metadata, ``complete_transfer`` read ``int(memo_fields(memo)["size"])``:
    the memo ``parts=u`` raised ``KeyError: 'size'``, and the memo ``parts=u; size=…``,
    which any ledger caller may write, was taken for a transfer and moved money."""
    setup_file(hooks, 10_000)
    hooks.credit_deposit("bob", 30_000, "tx1")
    fh = file_hash(FILE)
    forged = hooks.ledger.pending("xfer:forged", [Posting(BOB, 10_000, fh),
                                               Posting(CAROL, -10_000, fh)], memo=memo)
    before = snapshot(hooks)
    with pytest.raises(InvalidInput, match="metadata records the file's size"):
        hooks.complete_transfer(forged.id, SIZE // 2)
    with pytest.raises(InvalidInput, match="not a transfer reservation"):
        hooks.cancel_transfer(forged.id)
    assert snapshot(hooks) == before and hooks.ledger.open_pending() == [forged.id]


def test_charges_record_their_facts_as_metadata_and_the_same_memo(hooks: Hooks) -> None:
    setup_file(hooks, 9_999, referrer="dave")
    hooks.register_file(FILE2, "carol", PriceRule.fiat(3, "USD"), size=SIZE)
    hooks.credit_deposit("bob", 10**9, "tx1")
    whole = hooks.download(FILE, "bob", "ev1")
    part = hooks.download(FILE2, "bob", "ev2", bytes_served=SIZE // 3)
    t = hooks.begin_transfer(FILE2, "bob", "t1")
    done = hooks.complete_transfer(t, SIZE // 2)
    rate = hooks.ledger.entry(part.entry_id or 0).meta
    assert rate is not None and rate.rate is not None
    expected = {
        whole.entry_id: EntryMeta("upr", None, None, None),
        part.entry_id: EntryMeta("up", SIZE // 3, None, rate.rate),
        t.pending_id: EntryMeta("up", None, SIZE, rate.rate),
        done.entry_id: EntryMeta("up", SIZE // 2, SIZE, rate.rate),
    }
    for entry_id, meta in expected.items():
        entry = hooks.ledger.entry(entry_id or 0)
        assert (entry.meta, entry.content_version) == (meta, 2)
        assert entry.memo == meta.memo()
    assert part.memo == f"parts=up; bytes={SIZE // 3}; {rate.rate.describe()}"
    assert hooks.ledger.verify().ok


# -- a journal written before entries had metadata ----------------------------------------


def _rehash_as_v1(conn: Connection, entries: list[Entry]) -> None:
    """Store ``entries`` with the hashes bitcache wrote before metadata: content layout v1
    (their memo was the same), chained again from the genesis hash."""
    prev = GENESIS_HASH
    for e in entries:
        content = content_hash(EntryRequest(e.key, e.postings, e.kind, e.ref, e.expires_at,
                                            e.memo))
        entry_hash = chain_hash(content, e.id, e.recorded_at, prev)
        conn.execute(text("UPDATE entries SET content_hash = :c, entry_hash = :h, "
                          "prev_hash = :p WHERE id = :i"),
                     {"c": content, "h": entry_hash, "p": prev, "i": e.id})
        prev = entry_hash
    conn.execute(text("UPDATE journal_head SET last_hash = :h WHERE id = 1"), {"h": prev})


def _downgrade_to_v1(url: str, entries: list[Entry]) -> None:
    """The database as bitcache wrote it before migration 0002_entry_meta."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            sqlite = conn.dialect.name == "sqlite"
            conn.exec_driver_sql("DROP TRIGGER trg_entries_no_update" if sqlite else
                                 "ALTER TABLE entries DISABLE TRIGGER trg_entries_append_only")
            _rehash_as_v1(conn, entries)
            conn.exec_driver_sql(
                "CREATE TRIGGER trg_entries_no_update BEFORE UPDATE ON entries BEGIN SELECT "
                "RAISE(ABORT, 'bitcache: the journal is append-only (correct with a reversing "
                "entry)'); END" if sqlite else
                "ALTER TABLE entries ENABLE TRIGGER trg_entries_append_only")
            conn.exec_driver_sql("ALTER TABLE entries DROP COLUMN content_version")
            conn.exec_driver_sql("ALTER TABLE entries DROP COLUMN meta")
            conn.exec_driver_sql("DELETE FROM alembic_version WHERE version_num = "
                                 "'0002_entry_meta'")
        upgrade(engine)
    finally:
        engine.dispose()


@pytest.fixture
def upgraded(db_url: str, clock: Clock) -> Iterator[tuple[Hooks, dict[str, int]]]:
    """Charges, a completed and an open transfer written as before metadata, then upgraded."""
    hooks = make_hooks(db_url, clock)
    setup_file(hooks, 9_999, referrer="dave")
    hooks.register_file(FILE2, "carol", PriceRule.fiat(3, "USD"), size=SIZE)
    hooks.credit_deposit("bob", 10**9, "tx1")
    ids = {
        "whole": hooks.download(FILE, "bob", "ev1").entry_id or 0,
        "part": hooks.download(FILE2, "bob", "ev2", bytes_served=SIZE // 3).entry_id or 0,
        "open": hooks.begin_transfer(FILE2, "bob", "t1").pending_id or 0,
        "done": hooks.begin_transfer(FILE, "bob", "t2").pending_id or 0,
    }
    hooks.complete_transfer(ids["done"], SIZE // 4)
    entries = list(hooks.ledger.entries())
    hooks.close()
    _downgrade_to_v1(db_url, entries)
    again = make_hooks(db_url, clock)
    yield again, ids
    again.close()


def test_an_old_journal_upgrades_keeps_verifying_and_gets_its_metadata(
    upgraded: tuple[Hooks, dict[str, int]],
) -> None:
    hooks, ids = upgraded
    assert hooks.ledger.verify().ok
    findings = Findings()
    with hooks.ledger.engine.connect() as conn:
        journal_pass(conn, findings, None)
    assert findings.count[Check.HASH_CHAIN] == 0
    for entry in hooks.ledger.entries():
        assert entry.content_version == 1
        if entry.id in ids.values():
            assert entry.meta is not None and entry.meta.memo() == entry.memo
    meta = hooks.ledger.entry(ids["open"]).meta
    assert meta is not None and (meta.parts, meta.file_size) == ("up", SIZE)


def test_an_old_reservation_completes_and_old_charges_replay_after_the_upgrade(
    upgraded: tuple[Hooks, dict[str, int]],
) -> None:
    hooks, ids = upgraded
    before = hooks.prepaid_balance("bob")
    reserved = hooks.ledger.entry(ids["open"]).postings[0].amount
    done = hooks.complete_transfer(ids["open"], SIZE // 2)
    assert not done.replayed and done.price_msat == (reserved + 1) // 2
    assert hooks.prepaid_balance("bob") == before + reserved - done.price_msat
    assert hooks.ledger.entry(done.entry_id or 0).content_version == 2
    assert hooks.complete_transfer(ids["done"], SIZE // 4).replayed  # a v1 entry's retry
    assert hooks.download(FILE, "bob", "ev1").replayed
    assert hooks.download(FILE2, "bob", "ev2", bytes_served=SIZE // 3).replayed
    assert hooks.ledger.verify().ok


def test_the_migration_leaves_memos_that_no_charge_wrote_without_metadata() -> None:
    from importlib import import_module

    migration = import_module("bitcache.store.migrations.versions.0002_entry_meta")
    rate = "rate USD 50000000/3 msat per minor unit"
    assert migration.meta_of_memo(f"parts=up; bytes=5; {rate}", 3) == encode_meta(
        EntryMeta("up", 5, None, _usd()))
    for memo, legs in [("parts=up", 2), ("parts=uu", 3), ("parts=u; size=x", 2),
                       ("parts=u; note", 2), ("parts=u; rate USD 1/0 msat per minor unit", 2),
                       ("deposit", 2), ("parts=u;size=1", 2)]:
        assert migration.meta_of_memo(memo, legs) is None, memo


def _usd() -> object:
    from fractions import Fraction

    from bitcache.core.pricing import Rate

    return Rate("USD", Fraction(50_000_000, 3))
