"""The gap-limit rule for handing out deposit addresses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitcache.errors import GapLimitExceeded, InvalidInput
from bitcache.wallet.gaplimit import DEFAULT_GAP_LIMIT, highest_allowed_index, next_deposit_index


def test_fresh_wallet_hands_out_gap_limit_addresses_then_stops() -> None:
    issued: set[int] = set()
    for expected in range(DEFAULT_GAP_LIMIT):
        index = next_deposit_index(issued, set())
        assert index == expected
        issued.add(index)
    with pytest.raises(GapLimitExceeded, match="next deposit index 20"):
        next_deposit_index(issued, set())


def test_a_deposit_moves_the_window() -> None:
    issued = set(range(20))
    assert next_deposit_index(issued, {5}) == 20
    assert highest_allowed_index({5}) == 25
    with pytest.raises(GapLimitExceeded):
        next_deposit_index(set(range(26)), {5})


def test_holes_are_filled_first() -> None:
    assert next_deposit_index({0, 2, 3}, set()) == 1


def test_custom_gap_limit() -> None:
    assert next_deposit_index({0, 1}, set(), gap_limit=3) == 2
    with pytest.raises(GapLimitExceeded):
        next_deposit_index({0, 1, 2}, set(), gap_limit=3)


@pytest.mark.parametrize(
    ("issued", "funded", "gap"),
    [({-1}, set(), 20), (set(), {True}, 20), (set(), set(), 0), (set(), set(), True)],
)
def test_bad_arguments(issued: set[int], funded: set[int], gap: int) -> None:
    with pytest.raises(InvalidInput):
        next_deposit_index(issued, funded, gap_limit=gap)


@settings(max_examples=150, deadline=None)
@given(
    st.sets(st.integers(min_value=0, max_value=60), max_size=40),
    st.sets(st.integers(min_value=0, max_value=60), max_size=5),
    st.integers(min_value=1, max_value=25),
)
def test_rule_holds(issued: set[int], funded: set[int], gap: int) -> None:
    smallest_free = min(set(range(62)) - issued)
    limit = max(funded, default=-1) + gap
    if smallest_free > limit:
        with pytest.raises(GapLimitExceeded):
            next_deposit_index(issued, funded, gap_limit=gap)
    else:
        assert next_deposit_index(issued, funded, gap_limit=gap) == smallest_free
