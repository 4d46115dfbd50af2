"""Settlement fixtures: a regtest chain, a ledger on SQLite (or both engines), a service."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bitcache.chain.regtest import RegtestChain
from bitcache.store.ledger import LedgerStore


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[RegtestChain]:
    c = RegtestChain.open(tmp_path / "regtest")
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def ledger(make_sqlite_url: Callable[[], str]) -> Iterator[LedgerStore]:
    """A ledger on SQLite (most settlement tests are about the chain, not the engine)."""
    store = LedgerStore.open(make_sqlite_url())
    yield store
    store.close()


@pytest.fixture
def any_ledger(db_url: str) -> Iterator[LedgerStore]:
    """A ledger on each engine (SQLite, and PostgreSQL when configured)."""
    store = LedgerStore.open(db_url)
    yield store
    store.close()
