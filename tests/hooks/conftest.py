"""Hooks fixtures: a Hooks over a fresh database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from bitcache.core.pricing import FixedRateProvider, PriceRule, SplitPolicy
from bitcache.hooks import Hooks
from tests.ledger.conftest import Clock

FILE = hashlib.sha256(b"file one").hexdigest()
FILE2 = hashlib.sha256(b"file two").hexdigest()
SIZE = 1_000_000
SPLITS = SplitPolicy(platform_bps=1_000, referrer_bps=500)
RATES = FixedRateProvider({"USD": "16666666.67"})


def make_hooks(url: str, clock: Clock, **options: object) -> Hooks:
    options.setdefault("splits", SPLITS)
    options.setdefault("rates", RATES)
    return Hooks.open(url, clock=clock, **options)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def hooks(db_url: str, clock: Clock) -> Iterator[Hooks]:
    h = make_hooks(db_url, clock)
    yield h
    h.close()


def setup_file(hooks: Hooks, price: int = 10_000, **kw: object) -> str:
    """Register FILE for uploader carol at a fixed price."""
    hooks.register_file(FILE, "carol", PriceRule.fixed(price), size=SIZE, **kw)  # type: ignore[arg-type]
    return FILE


def snapshot(hooks: Hooks) -> dict[str, int]:
    """Every account's posted balance (for 'nothing written' checks)."""
    return {name: b.posted for name, b in hooks.ledger.balances().items()}
