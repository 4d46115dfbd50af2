"""Webhook signatures: HMAC-SHA256 over ``<t>.<body>``, with a replay window."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitcache.errors import InvalidInput, SignatureInvalid
from bitcache.events.signing import sign, verify

SECRET = b"0123456789abcdef-secret"
BODY = b'{"id":1,"type":"payout.final"}'


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET, b"1796190000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, 1_796_190_000, BODY) == f"t=1796190000,v1={expected}"


@given(st.binary(max_size=300), st.integers(0, 2**40))
def test_a_signature_verifies_at_its_time_and_not_for_another_body(body: bytes, t: int) -> None:
    header = sign(SECRET, t, body)
    assert verify(SECRET, header, body, now=t) == t
    with pytest.raises(SignatureInvalid):
        verify(SECRET, header, body + b" ", now=t)


@pytest.mark.parametrize(
    ("header", "now", "why"),
    [
        (sign(SECRET, 1_000, BODY), 1_000 + 301, "replay"),
        (sign(SECRET, 1_000, BODY), 1_000 - 301, "replay"),
        (sign(b"another secret of 16+ bytes", 1_000, BODY), 1_000, "does not match"),
        (sign(SECRET, 1_000, BODY).replace("t=1000", "t=1001"), 1_001, "does not match"),
        ("v1=abc", 1_000, "malformed"),
        ("t=1000", 1_000, "malformed"),
        ("t=soon,v1=abc", 1_000, "malformed"),
        ("", 1_000, "malformed"),
    ],
)
def test_a_stale_forged_or_malformed_signature_is_refused(header: str, now: int, why: str) -> None:
    with pytest.raises(SignatureInvalid, match=why):
        verify(SECRET, header, BODY, now=now)


def test_any_of_several_v1_values_may_match_and_the_window_is_inclusive() -> None:
    good = sign(SECRET, 1_000, BODY).split(",")[1]
    assert verify(SECRET, f"t=1000,v1={'0' * 64},{good}", BODY, now=1_300) == 1_000


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(InvalidInput):
        sign(b"short", 1, BODY)
