"""Ledger fixtures: an open store with the usual accounts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from bitcache.core.entries import posting
from bitcache.store.ledger import LedgerStore

ALICE = "liability:prepaid:alice"
BOB = "liability:prepaid:bob"
UPLOADER = "liability:payable:carol"
PLATFORM = "revenue:platform"
OPERATOR = "equity:operator"
WALLET = "asset:wallet"
FILE = "ab" * 32


class Clock:
    """A settable clock in microseconds."""

    def __init__(self, start: int = 1_700_000_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(db_url: str, clock: Clock) -> Iterator[LedgerStore]:
    s = LedgerStore.open(db_url, clock=clock)
    for name in (ALICE, BOB, UPLOADER, PLATFORM, OPERATOR, WALLET):
        s.open_account(name)
    yield s
    s.close()


def fund(store: LedgerStore, who: str, amount: int, key: str = "") -> None:
    """Credit a prepaid account from the operator's equity."""
    store.post(key or f"fund:{who}:{amount}", [posting(OPERATOR, amount), posting(who, -amount)])


def download_legs(who: str, price: int = 1000, fee: int = 150) -> list:  # type: ignore[type-arg]
    return [
        posting(who, price, FILE),
        posting(UPLOADER, -(price - fee), FILE),
        posting(PLATFORM, -fee, FILE),
    ]


def all_rows(store: LedgerStore) -> dict[str, list[str]]:
    """Every row of every table, each as its repr, sorted: equal snapshots mean nothing was
    written (journal, balances, files, deposits, settlements, the schema version…)."""
    catalog = (
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        if store.engine.dialect.name == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'table'"
    )
    with store.engine.connect() as conn:
        tables = [str(t) for (t,) in conn.execute(sa.text(catalog))]
        return {
            t: sorted(repr(tuple(r)) for r in conn.execute(sa.text(f'SELECT * FROM "{t}"')))
            for t in tables
        }
