"""Typed metadata of an entry: the facts of a charge that money logic reads back.

A download charge or a transfer records, besides its postings, which role
each credit leg plays (``parts``: ``u`` uploader, ``p`` platform, ``r``
referrer, in posting order), the bytes served of a metered download, the
file's size (a transfer's reservation prorates by it) and the fiat rate the
price was converted at. They used to live only in the memo as
``name=value; …`` text and were parsed back; now they are an
:class:`EntryMeta`, validated once by :func:`check_meta` when a request
reaches the ledger, stored in the entry's ``meta`` column in the canonical
text of :func:`encode_meta`, and covered by the entry hash (content layout
v2, see :func:`bitcache.core.entries.content_bytes`). The memo stays for
people: :meth:`EntryMeta.memo` writes the same text charges always had.

Canonical text, version 1 (ASCII, ``-`` for an absent value)::

    charge/1;parts=upr;bytes=1000;size=-;rate=EUR 50/3

Pure: the standard library, :mod:`bitcache.core.checks` and the price types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from itertools import permutations

from bitcache.core.checks import strict_int
from bitcache.core.pricing import MAX_FILE_SIZE, MAX_RATE, Rate
from bitcache.errors import InvalidMetadata

#: The roles a credit leg of a charge can play, and the version tag of the text form.
ROLES = frozenset("upr")
_PARTS = frozenset("".join(p) for n in (1, 2, 3) for p in permutations("upr", n))
_TAG = "charge/1"
#: The longest canonical text (the ``meta`` column's size); a rate's text is at most
#: ``_MAX_RATE_TEXT`` characters, the other fields at most 80 together.
MAX_META_LENGTH = 500
_MAX_RATE_TEXT = 400
_NAMES = ("parts", "bytes", "size", "rate")


@dataclass(frozen=True, slots=True)
class EntryMeta:
    """What a charge entry records beyond its postings.

    ``parts``: the role of each credit leg in posting order (after the payer);
    ``bytes_served``: None for a whole-file charge; ``file_size``: the size a
    transfer's reservation prorates by; ``rate``: the fiat rate used, if any.
    Build it freely; :func:`check_meta` validates it where it enters the ledger.
    """

    parts: str
    bytes_served: int | None = None
    file_size: int | None = None
    rate: Rate | None = None
    #: The canonical text and the memo, written on first use (a charge needs them for its
    #: hash, its row and its memo; :func:`charge_meta` shares instances between charges).
    _texts: tuple[str, str] | None = field(
        default=None, init=False, repr=False, compare=False, hash=False)

    def memo(self) -> str:
        """The memo charges have always carried, written from the typed facts (for people)."""
        return _texts(self)[1]

    def _memo(self) -> str:
        fields = [f"parts={self.parts}"]
        if self.bytes_served is not None:
            fields.append(f"bytes={self.bytes_served}")
        if self.file_size is not None:
            fields.append(f"size={self.file_size}")
        if self.rate is not None:
            fields.append(self.rate.describe())
        return "; ".join(fields)


@lru_cache(maxsize=4096, typed=True)
def charge_meta(parts: str, bytes_served: int | None = None, file_size: int | None = None,
                rate: Rate | None = None) -> EntryMeta:
    """An :class:`EntryMeta`, shared between charges of the same shape (it is immutable):
    building a frozen dataclass for every download costs more than looking it up."""
    return EntryMeta(parts, bytes_served, file_size, rate)


def _size(value: object, what: str) -> None:
    if value is not None and not (type(value) is int and 0 <= value <= MAX_FILE_SIZE):
        strict_int(value, what, 0, MAX_FILE_SIZE, error=InvalidMetadata)  # raises


def _check_rate(rate: object) -> None:
    if rate is None:
        return
    if type(rate) is not Rate:
        raise InvalidMetadata(f"a charge's rate must be a Rate, got {type(rate).__name__}")
    cur, value = rate.currency, rate.msat_per_minor
    if not (isinstance(cur, str) and len(cur) == 3 and cur.isascii() and cur.isalpha()
            and cur.isupper()):
        raise InvalidMetadata(f"a rate's currency must be a 3-letter ISO 4217 code, got {cur!r}")
    if type(value) is not Fraction or not 0 < value <= MAX_RATE:
        raise InvalidMetadata(
            f"a rate must be a Fraction above 0 and at most {MAX_RATE} msat per minor unit")
    if len(_rate_text(rate)) > _MAX_RATE_TEXT:
        raise InvalidMetadata(f"a rate must be written in at most {_MAX_RATE_TEXT} characters")


def check_meta(value: object) -> EntryMeta:
    """``value`` as valid charge metadata, or :class:`~bitcache.errors.InvalidMetadata`."""
    if type(value) is not EntryMeta:
        raise InvalidMetadata(f"entry metadata must be an EntryMeta, got {type(value).__name__}")
    parts = value.parts
    if type(parts) is not str or parts not in _PARTS:
        raise InvalidMetadata(
            f"a charge's parts must name each credit leg once as u, p or r, got {parts!r}")
    _size(value.bytes_served, "bytes served")
    _size(value.file_size, "a file size")
    _check_rate(value.rate)
    return value


# -- canonical text -----------------------------------------------------------


def _num(value: int | None) -> str:
    return "-" if value is None else str(value)


def _rate_text(rate: Rate | None) -> str:
    if rate is None:
        return "-"
    r = rate.msat_per_minor
    shown = str(r.numerator) if r.denominator == 1 else f"{r.numerator}/{r.denominator}"
    return f"{rate.currency} {shown}"


def encode_meta(meta: EntryMeta) -> str:
    """The canonical text of valid metadata (what the entry hash and the ``meta`` column hold)."""
    return _texts(meta)[0]


def _texts(meta: EntryMeta) -> tuple[str, str]:
    """The canonical text and the memo of ``meta``, kept on it after the first use."""
    found = meta._texts
    if found is None:
        found = (f"{_TAG};parts={meta.parts};bytes={_num(meta.bytes_served)};"
                 f"size={_num(meta.file_size)};rate={_rate_text(meta.rate)}", meta._memo())
        object.__setattr__(meta, "_texts", found)  # a cache: not part of the value
    return found


def _parse_num(text: str) -> int | None:
    if text == "-":
        return None
    if not (text.isascii() and text.isdigit()):
        raise InvalidMetadata(f"{text[:40]!r} is not a number")
    return int(text)


def _parse_rate(text: str) -> Rate | None:
    if text == "-":
        return None
    currency, _, shown = text.partition(" ")
    num, _, den = shown.partition("/")
    numerator, denominator = _parse_num(num), _parse_num(den or "1")
    if numerator is None or not denominator:
        raise InvalidMetadata(f"rate {text[:40]!r} is not <currency> <n>[/<d>]")
    return Rate(currency, Fraction(numerator, denominator))


def decode_meta(text: object) -> EntryMeta:
    """The metadata written by :func:`encode_meta`; anything else is ``InvalidMetadata``.

    Only the canonical text is accepted (it must encode back to itself), so the
    text a hash covers and the facts read from it cannot differ.
    """
    if not isinstance(text, str) or len(text) > MAX_META_LENGTH or not text.isascii():
        raise InvalidMetadata(
            f"entry metadata must be ASCII text of at most {MAX_META_LENGTH} characters")
    tag, *fields = text.split(";")
    pairs = [f.partition("=") for f in fields]
    if tag != _TAG or tuple(name for name, _, _ in pairs) != _NAMES:
        raise InvalidMetadata(f"entry metadata {text[:80]!r} is not of the {_TAG} layout")
    parts, served, size, rate = (value for _, _, value in pairs)
    meta = check_meta(EntryMeta(parts, _parse_num(served), _parse_num(size), _parse_rate(rate)))
    if encode_meta(meta) != text:
        raise InvalidMetadata(f"entry metadata {text[:80]!r} is not in canonical form")
    return meta

