"""Price rules and revenue splits: what one download costs, and who gets what.

A file's :class:`PriceRule` resolves to an integer msat *full price* per
download:

* ``FIXED``   — ``amount`` msat per download;
* ``PER_GIB`` — ``amount`` msat per GiB (2**30 bytes) of the file's size;
* ``FREE``    — nothing;
* ``FIAT``    — ``amount`` minor units of ``currency`` (e.g. US cents),
  converted at the rate a :class:`RateProvider` gives (msat per minor unit).

When only part of a file is served (a metered download or a two-step
transfer completed early), the charge is the full price prorated by bytes:
``full * served / size``. **Rounding rule: round half up**, everywhere in this
module (``floor(x + 1/2)``), in exact integer or rational arithmetic; never a
float. Prorating is monotone in the bytes served, never above the full price,
and gives the full price for the whole file.

The charge is then split between the platform (``platform_bps``), the file's
referrer (``referrer_bps``, only when the file has one; otherwise the
uploader keeps that share) and the uploader (the rest) by the largest
remainder method of :mod:`bitcache.core.splits`: the parts add up to the
charge exactly.

Pure: the rate comes in through the provider; no clock or network here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Protocol

from bitcache.core.checks import is_int
from bitcache.core.splits import BPS_TOTAL, split_bps
from bitcache.errors import InvalidAmount, InvalidInput, InvalidPolicy

GIB = 2**30
#: The most one download may cost: 1 BTC. Anything above is taken for a mistake.
MAX_PRICE_MSAT = 100_000_000_000
#: The most a fiat price may be, in minor units (10 million cents = 100,000 USD).
MAX_FIAT_MINOR = 10_000_000
#: The largest file size a price is computed for: 1 PiB.
MAX_FILE_SIZE = 2**50
#: Bounds of a fiat rate, msat per minor unit.
MAX_RATE = Fraction(MAX_PRICE_MSAT)


class PriceKind(enum.Enum):
    """How a file's price is expressed."""

    FIXED = "fixed"
    PER_GIB = "per_gib"
    FREE = "free"
    FIAT = "fiat"


def _int_in(value: object, what: str, lo: int, hi: int) -> int:
    if not is_int(value):
        raise InvalidAmount(f"{what} must be an int, got {type(value).__name__}")
    if not lo <= value <= hi:
        raise InvalidAmount(f"{what} must be between {lo} and {hi}, got {value}")
    return value


def _currency(value: object) -> str:
    if not isinstance(value, str) or len(value) != 3 or not value.isascii() or not value.isalpha():
        raise InvalidInput(f"currency must be a 3-letter ISO 4217 code, got {value!r}")
    return value.upper()


@dataclass(frozen=True, slots=True)
class PriceRule:
    """A file's price: build it with :meth:`fixed`, :meth:`per_gib`, :meth:`free`, :meth:`fiat`."""

    kind: PriceKind
    amount: int = 0
    currency: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, PriceKind):
            raise InvalidInput(f"price kind must be a PriceKind, got {self.kind!r}")
        if self.kind is PriceKind.FREE:
            _int_in(self.amount, "a free price's amount", 0, 0)
        elif self.kind is PriceKind.FIAT:
            _int_in(self.amount, "fiat price (minor units)", 0, MAX_FIAT_MINOR)
            if _currency(self.currency) != self.currency:
                raise InvalidInput(f"currency must be upper case, got {self.currency!r}")
        else:
            _int_in(self.amount, f"{self.kind.value} price (msat)", 0, MAX_PRICE_MSAT)
        if self.kind is not PriceKind.FIAT and self.currency is not None:
            raise InvalidInput(f"a {self.kind.value} price has no currency")

    @classmethod
    def fixed(cls, msat: int) -> PriceRule:
        """``msat`` per download."""
        return cls(PriceKind.FIXED, msat)

    @classmethod
    def per_gib(cls, msat: int) -> PriceRule:
        """``msat`` per GiB of the file's size, prorated by bytes."""
        return cls(PriceKind.PER_GIB, msat)

    @classmethod
    def free(cls) -> PriceRule:
        """No charge."""
        return cls(PriceKind.FREE)

    @classmethod
    def fiat(cls, minor_units: int, currency: str) -> PriceRule:
        """``minor_units`` of ``currency`` (cents for USD) per download."""
        return cls(PriceKind.FIAT, minor_units, _currency(currency))


@dataclass(frozen=True, slots=True)
class Rate:
    """How many msat one minor unit of ``currency`` buys (exact rational)."""

    currency: str
    msat_per_minor: Fraction

    def describe(self) -> str:
        """The rate as recorded on an entry's memo."""
        r = self.msat_per_minor
        shown = str(r.numerator) if r.denominator == 1 else f"{r.numerator}/{r.denominator}"
        return f"rate {self.currency} {shown} msat per minor unit"


class RateProvider(Protocol):
    """Gives the current exchange rate of a fiat currency."""

    def rate(self, currency: str) -> Rate:
        """The rate to use now; raise ``InvalidPolicy`` for an unknown currency."""
        ...


def make_rate(currency: str, msat_per_minor: int | str | Fraction) -> Rate:
    """Validate a rate given as an int, a decimal string (``"16666666.67"``) or a Fraction."""
    if not (is_int(msat_per_minor) or isinstance(msat_per_minor, str | Fraction)):
        raise InvalidPolicy(f"a rate must be an int, decimal text or Fraction, not a "
                            f"{type(msat_per_minor).__name__}")
    try:
        value = Fraction(Decimal(msat_per_minor)) if isinstance(msat_per_minor, str) else (
            Fraction(msat_per_minor))
    except (InvalidOperation, ValueError) as exc:
        raise InvalidPolicy(f"rate {msat_per_minor!r} is not a number") from exc
    if not 0 < value <= MAX_RATE:
        raise InvalidPolicy(f"rate must be above 0 and at most {MAX_RATE} msat per minor unit")
    return Rate(_currency(currency), value)


class FixedRateProvider:
    """A rate provider with fixed rates, for tests, demos and operators who set prices by hand."""

    def __init__(self, rates: Mapping[str, int | str | Fraction]):
        self._rates = {r.currency: r for r in (make_rate(c, v) for c, v in rates.items())}

    def rate(self, currency: str) -> Rate:
        """The configured rate of ``currency``."""
        found = self._rates.get(_currency(currency))
        if found is None:
            raise InvalidPolicy(f"no exchange rate configured for {currency!r}")
        return found


def round_half_up(value: Fraction) -> int:
    """The integer nearest ``value`` (≥ 0), halves rounded up."""
    return int((value + Fraction(1, 2)).__floor__())


@dataclass(frozen=True, slots=True)
class Quote:
    """The full price of one download of a file, and the rate used (fiat only)."""

    msat: int
    rate: Rate | None = None


def full_price(rule: PriceRule, size: int | None, rates: RateProvider | None) -> Quote:
    """The price of one download of the whole file."""
    if rule.kind is PriceKind.FREE:
        return Quote(0)
    if rule.kind is PriceKind.FIXED:
        return Quote(rule.amount)
    if rule.kind is PriceKind.PER_GIB:
        if size is None:
            raise InvalidInput("a per-GiB price needs the file's size")
        _int_in(size, "file size (bytes)", 0, MAX_FILE_SIZE)
        return Quote(_bounded((rule.amount * size * 2 + GIB) // (2 * GIB)))
    if rates is None:
        raise InvalidPolicy(f"a {rule.currency} price needs a rate provider")
    assert rule.currency is not None
    rate = rates.rate(rule.currency)
    return Quote(_bounded(round_half_up(rule.amount * rate.msat_per_minor)), rate)


def _bounded(price: int) -> int:
    if price > MAX_PRICE_MSAT:
        raise InvalidAmount(f"a download would cost {price} msat, above the {MAX_PRICE_MSAT} bound")
    return price


def prorate(full: int, served: int, size: int | None) -> int:
    """The charge for ``served`` bytes of a ``size``-byte file whose full price is ``full``.

    ``round_half_up(full * served / size)``; the whole file (``served ==
    size``, including an empty file) costs ``full``.
    """
    _int_in(full, "full price (msat)", 0, MAX_PRICE_MSAT)
    if size is None:
        raise InvalidInput("bytes served cannot be priced: the file's size is unknown")
    _int_in(size, "file size (bytes)", 0, MAX_FILE_SIZE)
    _int_in(served, f"bytes served (file has {size})", 0, size)
    if served == size:
        return full
    return (full * served * 2 + size) // (2 * size)


@dataclass(frozen=True, slots=True)
class SplitPolicy:
    """The platform's fee and the referrer's share, in basis points of each charge."""

    platform_bps: int = 1_000
    referrer_bps: int = 500

    def __post_init__(self) -> None:
        for name, bps in (("platform_bps", self.platform_bps), ("referrer_bps", self.referrer_bps)):
            if not is_int(bps) or not 0 <= bps <= BPS_TOTAL:
                raise InvalidPolicy(f"{name} must be an int from 0 to {BPS_TOTAL}, got {bps!r}")
        if self.platform_bps + self.referrer_bps > BPS_TOTAL:
            raise InvalidPolicy("platform_bps + referrer_bps must not exceed 10,000")


@dataclass(frozen=True, slots=True)
class Split:
    """One charge divided: ``platform + referrer + uploader == total``."""

    total: int
    platform: int
    referrer: int
    uploader: int


def split_price(total: int, policy: SplitPolicy, *, has_referrer: bool) -> Split:
    """Split a charge by largest remainder; without a referrer the uploader keeps that share."""
    referrer_bps = policy.referrer_bps if has_referrer else 0
    platform, referrer, uploader = split_bps(total, [policy.platform_bps, referrer_bps])
    return Split(total, platform, referrer, uploader)


def fit_within(part: Split, cap: Split) -> Split:
    """Adjust a smaller split so no share exceeds the same share of ``cap``.

    The largest-remainder method can give a share one msat *more* for a
    smaller total when there are three parts (the Alabama paradox). A
    two-step transfer may only post up to what it reserved on each account,
    so any excess moves to the shares with room, uploader first, then
    referrer, then platform. The total is unchanged.
    """
    if part.total > cap.total:
        raise InvalidAmount(f"charge {part.total} msat exceeds the {cap.total} msat reserved")
    shares = {"uploader": part.uploader, "referrer": part.referrer, "platform": part.platform}
    limits = {"uploader": cap.uploader, "referrer": cap.referrer, "platform": cap.platform}
    excess = 0
    for name in shares:
        over = max(shares[name] - limits[name], 0)
        shares[name] -= over
        excess += over
    for name in shares:
        room = min(limits[name] - shares[name], excess)
        shares[name] += room
        excess -= room
    return Split(part.total, shares["platform"], shares["referrer"], shares["uploader"])
