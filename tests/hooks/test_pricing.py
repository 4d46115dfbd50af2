"""Price rules and splits: exact, monotone, never negative (pure, Hypothesis)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitcache.core.pricing import (
    GIB,
    MAX_FILE_SIZE,
    MAX_PRICE_MSAT,
    FixedRateProvider,
    PriceRule,
    Split,
    SplitPolicy,
    fit_within,
    full_price,
    make_rate,
    prorate,
    round_half_up,
    split_price,
)
from bitcache.errors import InvalidAmount, InvalidInput, InvalidPolicy

prices = st.integers(0, MAX_PRICE_MSAT)
sizes = st.integers(1, MAX_FILE_SIZE)
@st.composite
def policy(draw: st.DrawFn) -> SplitPolicy:
    platform = draw(st.integers(0, 10_000))
    return SplitPolicy(platform, draw(st.integers(0, 10_000 - platform)))


@settings(max_examples=200, deadline=None)
@given(prices, policy(), st.booleans())
def test_split_parts_sum_exactly_and_are_never_negative(total: int, pol: SplitPolicy,
                                                        ref: bool) -> None:
    s = split_price(total, pol, has_referrer=ref)
    assert s.platform + s.referrer + s.uploader == total
    assert min(s.platform, s.referrer, s.uploader) >= 0
    assert ref or s.referrer == 0
    # each part is within one msat of its exact share
    assert abs(s.platform - Fraction(total * pol.platform_bps, 10_000)) < 1


@settings(max_examples=200, deadline=None)
@given(prices, sizes, st.data())
def test_prorate_is_monotone_bounded_and_full_at_size(full: int, size: int,
                                                      data: st.DataObject) -> None:
    a = data.draw(st.integers(0, size))
    b = data.draw(st.integers(a, size))
    assert 0 <= prorate(full, a, size) <= prorate(full, b, size) <= full
    assert prorate(full, size, size) == full
    assert prorate(full, 0, size) == 0
    assert prorate(full, a, size) == round_half_up(Fraction(full * a, size))


@settings(max_examples=200, deadline=None)
@given(prices, st.data(), policy(), st.booleans())
def test_partial_split_fits_within_the_reserved_split(full: int, data: st.DataObject,
                                                      pol: SplitPolicy, ref: bool) -> None:
    charge = data.draw(st.integers(0, full))
    cap = split_price(full, pol, has_referrer=ref)
    fitted = fit_within(split_price(charge, pol, has_referrer=ref), cap)
    assert fitted.platform + fitted.referrer + fitted.uploader == charge
    assert 0 <= fitted.platform <= cap.platform
    assert 0 <= fitted.referrer <= cap.referrer
    assert 0 <= fitted.uploader <= cap.uploader


def test_largest_remainder_can_favour_a_smaller_total_and_fit_within_corrects_it() -> None:
    pol = SplitPolicy(1_500, 500)
    small, big = split_price(9, pol, has_referrer=True), split_price(10, pol, has_referrer=True)
    assert small.referrer > big.referrer  # the Alabama paradox
    fitted = fit_within(small, big)
    assert fitted == Split(9, 1, 0, 8)  # the excess msat goes to the uploader


@pytest.mark.parametrize(
    ("per_gib", "size", "expected"),
    [
        (1_000, GIB, 1_000),
        (1_000, GIB // 2, 500),
        (1, GIB // 2, 1),          # exactly half rounds up
        (1, GIB // 2 - 1, 0),      # just below half rounds down
        (3, GIB // 2, 2),          # 1.5 -> 2
        (1_000, 0, 0),
    ],
)
def test_per_gib_price_rounds_half_up(per_gib: int, size: int, expected: int) -> None:
    assert full_price(PriceRule.per_gib(per_gib), size, None).msat == expected


def test_fiat_price_converts_at_the_provider_rate_and_keeps_the_rate() -> None:
    rates = FixedRateProvider({"usd": "16666666.67"})
    quote = full_price(PriceRule.fiat(25, "usd"), None, rates)
    assert quote.msat == 416_666_667  # 25 * 16,666,666.67 = 416,666,666.75 -> up
    assert quote.rate is not None
    assert quote.rate.describe() == "rate USD 1666666667/100 msat per minor unit"
    with pytest.raises(InvalidPolicy, match="EUR"):
        full_price(PriceRule.fiat(1, "EUR"), None, rates)
    with pytest.raises(InvalidPolicy):
        full_price(PriceRule.fiat(1, "USD"), None, None)


@pytest.mark.parametrize(
    "build",
    [
        lambda: PriceRule.fixed(-1),
        lambda: PriceRule.fixed(MAX_PRICE_MSAT + 1),
        lambda: PriceRule.fixed(1.5),  # type: ignore[arg-type]
        lambda: PriceRule.fixed(True),
        lambda: PriceRule.per_gib(-5),
        lambda: PriceRule.fiat(-1, "USD"),
        lambda: PriceRule.fiat(10**12, "USD"),
        lambda: PriceRule.fiat(1, "US"),
        lambda: PriceRule.fiat(1, "€€€"),
    ],
)
def test_negative_or_absurd_prices_are_refused(build: object) -> None:
    with pytest.raises(InvalidInput):
        build()  # type: ignore[operator]


def test_bad_rates_and_policies_are_refused() -> None:
    for bad in ("0", "-1", "abc", 0, 10**12):
        with pytest.raises(InvalidPolicy):
            make_rate("USD", bad)
    with pytest.raises(InvalidPolicy):
        SplitPolicy(6_000, 5_000)
    with pytest.raises(InvalidPolicy):
        SplitPolicy(-1, 0)


def test_prorate_refuses_bytes_outside_the_file() -> None:
    with pytest.raises(InvalidAmount):
        prorate(1_000, -1, 10)
    with pytest.raises(InvalidAmount):
        prorate(1_000, 11, 10)
    with pytest.raises(InvalidInput):
        prorate(1_000, 5, None)
    assert prorate(1_000, 0, 0) == 1_000  # an empty file served whole costs the full price
