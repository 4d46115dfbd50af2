"""Reliability suite settings: a short run by default, the long one with BITCACHE_RELIABILITY=long.

``make reliability-long`` sets ``BITCACHE_RELIABILITY=long``: more crash
trials, longer concurrent runs and more Hypothesis examples. The fake chain
servers of ``tests/chain/fakes`` are imported as the top-level package
``fakes``, as the chain tests do.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bitcache.store.ledger import LedgerStore

LONG = os.environ.get("BITCACHE_RELIABILITY", "").lower() == "long"

_CHAIN_TESTS = str(Path(__file__).resolve().parents[1] / "chain")
if _CHAIN_TESTS not in sys.path:
    sys.path.insert(0, _CHAIN_TESTS)


def scale(short: int, long: int) -> int:
    """``short`` in the CI run, ``long`` under BITCACHE_RELIABILITY=long."""
    return long if LONG else short


@pytest.fixture
def ledger(make_sqlite_url: Callable[[], str]) -> Iterator[LedgerStore]:
    """A ledger on a fresh SQLite file."""
    store = LedgerStore.open(make_sqlite_url())
    yield store
    store.close()
