"""Queries: an uploader's earnings per file over a period, and the top files."""

from __future__ import annotations

import pytest

from bitcache.core.pricing import PriceRule
from bitcache.errors import InvalidInput
from bitcache.hooks import Hooks
from tests.hooks.conftest import FILE, FILE2, SIZE
from tests.ledger.conftest import Clock


def test_earnings_per_file_over_a_period_and_top_files(hooks: Hooks, clock: Clock) -> None:
    hooks.register_file(FILE, "carol", PriceRule.fixed(10_000), size=SIZE, referrer="dave")
    hooks.register_file(FILE2, "carol", PriceRule.fixed(2_000), size=SIZE)
    hooks.credit_deposit("bob", 10**7, "d")
    start = clock.now
    hooks.download(FILE, "bob", "1")
    clock.now += 1_000_000
    middle = clock.now
    hooks.download(FILE, "bob", "2")
    hooks.download(FILE2, "bob", "3")
    hooks.tip(FILE2, "bob", 50_000, "t")
    t = hooks.begin_transfer(FILE2, "bob", "x")
    hooks.complete_transfer(t, SIZE // 2)
    hooks.hold(FILE, "h")  # a hold move is not an earning
    by_file = {e.hex: e for e in hooks.earnings("carol")}
    assert (by_file[FILE].downloads, by_file[FILE].msat) == (2, 2 * 8_500)
    assert (by_file[FILE2].downloads, by_file[FILE2].msat) == (2, 1_800 + 50_000 + 900)
    later = {e.hex: e for e in hooks.earnings("carol", since=middle)}
    assert later[FILE].downloads == 1
    assert hooks.earnings("carol", until=start) == []
    assert hooks.earnings("nobody") == []
    assert [e.msat for e in hooks.earnings("dave")] == [1_000]
    top = hooks.top_files(limit=1)
    assert len(top) == 1 and top[0].hex == FILE2 and top[0].msat == 52_700
    assert [e.hex for e in hooks.top_files()] == [FILE2, FILE]
    with pytest.raises(InvalidInput):
        hooks.top_files(limit=0)


def test_a_period_that_ends_before_it_starts_is_refused(hooks: Hooks) -> None:
    with pytest.raises(InvalidInput, match="ends before it starts"):
        hooks.earnings("carol", since=5, until=1)
    with pytest.raises(InvalidInput, match="ends before it starts"):
        hooks.top_files(since=5, until=1)
    assert hooks.earnings("carol", since=5, until=5) == []  # an empty period is a period
