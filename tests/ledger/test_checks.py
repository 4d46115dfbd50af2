"""The shared validators of bitcache.core.checks, against independent definitions."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitcache.core.checks import (
    INT64_MAX,
    INT64_MIN,
    int64,
    is_hex_digest,
    is_int,
    storable_text,
    strict_int,
    timestamp_us,
)
from bitcache.errors import InvalidAmount, InvalidInput

ANY = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.decimals(),
                st.fractions(), st.text(), st.binary(), st.lists(st.integers(), max_size=2))


@given(ANY, st.integers(-100, 100), st.integers(-100, 100))
def test_strict_int_takes_exactly_the_ints_in_range(value: object, lo: int, hi: int) -> None:
    wanted = type(value) is int and lo <= value <= hi
    try:
        assert strict_int(value, "x", lo, hi) == value and wanted
    except InvalidInput:
        assert not wanted


@pytest.mark.parametrize("value", [True, False, 1.0, Decimal(1), "1", None])
def test_a_bool_or_another_number_type_is_not_an_int(value: object) -> None:
    assert not is_int(value)
    with pytest.raises(InvalidAmount, match="must be an int, got"):
        strict_int(value, "amount", error=InvalidAmount)


def test_64_bit_and_timestamp_bounds() -> None:
    assert int64(INT64_MIN, "x") == INT64_MIN and int64(INT64_MAX, "x") == INT64_MAX
    for bad in (INT64_MAX + 1, INT64_MIN - 1, 2**200):
        with pytest.raises(InvalidInput, match="to 9223372036854775807"):
            int64(bad, "x")
    assert timestamp_us(0, "t") == 0
    with pytest.raises(InvalidInput, match="a timestamp in µs"):
        timestamp_us(-1, "t")


@given(st.text(st.one_of(st.characters(), st.characters(categories=["Cs"]), st.just("\x00")),
               max_size=12))
def test_storable_text_is_utf8_without_nul(value: str) -> None:
    try:
        value.encode("utf-8")
        wanted = "\x00" not in value
    except UnicodeEncodeError:
        wanted = False
    try:
        assert storable_text(value, "memo", max_len=12) == value and wanted
    except InvalidInput:
        assert not wanted


def test_storable_text_checks_type_and_length() -> None:
    with pytest.raises(InvalidInput, match="must be text"):
        storable_text(b"x", "memo", max_len=5)
    with pytest.raises(InvalidInput, match="at most 5"):
        storable_text("x" * 6, "memo", max_len=5)


@given(st.one_of(st.text("0123456789abcdefABCDEFg", min_size=63, max_size=65), ANY))
def test_hex_digest_is_64_lower_case_hex(value: object) -> None:
    wanted = isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) is not None
    assert is_hex_digest(value) == wanted
