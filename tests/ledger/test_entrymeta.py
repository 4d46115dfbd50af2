"""EntryMeta: validated once, a canonical text that round-trips, and covered by the entry hash."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given

from bitcache.core.entries import (
    EntryRequest,
    Posting,
    content_bytes,
    content_hash,
    validate_request,
)
from bitcache.core.entrymeta import (
    MAX_META_LENGTH,
    EntryMeta,
    check_meta,
    decode_meta,
    encode_meta,
)
from bitcache.core.pricing import MAX_FILE_SIZE, Rate
from bitcache.errors import InvalidMetadata
from tests.reconcile.test_content_encoder import METAS

RATE = Rate("EUR", Fraction(50, 3))
LEGS = (Posting("liability:prepaid:bob", 30), Posting("liability:payable:carol", -20),
        Posting("revenue:platform", -10))


@given(METAS.filter(lambda m: m is not None))
def test_the_canonical_text_round_trips(meta: EntryMeta) -> None:
    text = encode_meta(check_meta(meta))
    assert text.isascii() and decode_meta(text) == meta


@pytest.mark.parametrize("text", [
    "charge/1;parts=up;bytes=07;size=-;rate=-",        # leading zero
    "charge/1;parts=up;bytes=-;size=-;rate=EUR 100/6",  # fraction not in lowest terms
    "charge/1;parts=up;bytes=-;size=-;rate=EUR 0",      # rate of zero
    "charge/1;parts=up;bytes=-;size=-;rate=eur 5",      # currency not upper case
    "charge/1;parts=up;size=-;bytes=-;rate=-",          # fields reordered
    "charge/2;parts=up;bytes=-;size=-;rate=-",          # unknown version
    "charge/1;parts=uu;bytes=-;size=-;rate=-",          # a role twice
    "charge/1;parts=;bytes=-;size=-;rate=-",            # no parts
    f"charge/1;parts=u;bytes={MAX_FILE_SIZE + 1};size=-;rate=-",
    "charge/1;parts=u;bytes=-;size=-;rate=-;x=1",
    "parts=u; size=5",                                  # a memo is not metadata
])
def test_only_canonical_text_decodes(text: str) -> None:
    with pytest.raises(InvalidMetadata):
        decode_meta(text)


@pytest.mark.parametrize("meta", [
    EntryMeta("x"), EntryMeta("uu"), EntryMeta(""), EntryMeta("upru"),
    EntryMeta("u", True), EntryMeta("u", -1), EntryMeta("u", None, MAX_FILE_SIZE + 1),
    EntryMeta("u", None, None, Rate("EUR", 1.5)),  # type: ignore[arg-type]
    EntryMeta("u", None, None, Rate("EUR", Fraction(0))),
    EntryMeta("u", None, None, Rate("EUR", Fraction(1, 10**400))),  # beyond the column
    EntryMeta(b"u"),  # type: ignore[arg-type]
])
def test_check_meta_refuses_malformed_facts(meta: EntryMeta) -> None:
    with pytest.raises(InvalidMetadata):
        check_meta(meta)


def test_the_longest_valid_metadata_fits_its_column() -> None:
    digits = Fraction(10**197 - 1, 10**196)  # "EUR " and 197 + 1 + 197 characters: 399
    meta = check_meta(EntryMeta("upr", MAX_FILE_SIZE, MAX_FILE_SIZE, Rate("EUR", digits)))
    text = encode_meta(meta)
    assert len(text) <= MAX_META_LENGTH and decode_meta(text) == meta


def test_the_ledger_refuses_metadata_that_does_not_name_each_credit_leg() -> None:
    validate_request(EntryRequest("k", LEGS, meta=EntryMeta("up")))
    for parts in ("u", "upr"):
        with pytest.raises(InvalidMetadata, match="credit leg"):
            validate_request(EntryRequest("k", LEGS, meta=EntryMeta(parts)))
    with pytest.raises(InvalidMetadata):
        validate_request(EntryRequest("k", LEGS, meta="parts=up"))  # type: ignore[arg-type]


def test_without_metadata_the_content_is_layout_v1_as_before() -> None:
    legs = (Posting("liability:prepaid:bob", 30), Posting("liability:payable:carol", -30))
    request = EntryRequest("k", legs, memo="m")
    assert content_bytes(request) == (
        b"v1|1:k|posted|-|-|1:m|21:liability:prepaid:bob,30,-;23:liability:payable:carol,-30,-;"
    )


def test_the_hash_covers_every_fact_of_the_metadata() -> None:
    base = EntryMeta("up", 10, 100, RATE)
    variants = [base, EntryMeta("pu", 10, 100, RATE), EntryMeta("up", 11, 100, RATE),
                EntryMeta("up", 10, None, RATE), EntryMeta("up", 10, 100, None),
                EntryMeta("up", 10, 100, Rate("USD", RATE.msat_per_minor)), None]
    hashes = {content_hash(EntryRequest("k", LEGS, memo="m", meta=m)) for m in variants}
    assert len(hashes) == len(variants)
    assert content_bytes(EntryRequest("k", LEGS, meta=base)).startswith(b"v2|")
