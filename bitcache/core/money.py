"""Money: integer millisatoshis everywhere, Decimal only at the edges.

``Msat`` is a plain ``int`` for the type checker's benefit: arithmetic stays
exact and fast. Strings of sats or BTC are parsed with ``Decimal`` and must be
exact to the msat; nothing is ever rounded silently.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import NewType

from bitcache.core.checks import is_int
from bitcache.errors import InvalidAmount

Msat = NewType("Msat", int)
Sat = NewType("Sat", int)

MSAT_PER_SAT = 1_000
SAT_PER_BTC = 100_000_000
MSAT_PER_BTC = MSAT_PER_SAT * SAT_PER_BTC
#: Every bitcoin that will ever exist, in msat: the bound of any one amount.
MAX_MSAT = 21_000_000 * MSAT_PER_BTC


def msat(value: object, *, allow_zero: bool = False, allow_negative: bool = False) -> Msat:
    """Validate ``value`` as an msat amount and return it typed.

    Refuses bools, floats, Decimals and strings: callers convert at the edge
    with :func:`parse_sats` or :func:`parse_btc`.
    """
    if not is_int(value):
        raise InvalidAmount(f"amount must be an int of msat, got {type(value).__name__}")
    if value == 0 and not allow_zero:
        raise InvalidAmount("amount must not be zero")
    if value < 0 and not allow_negative:
        raise InvalidAmount(f"amount must not be negative, got {value}")
    if abs(value) > MAX_MSAT:
        raise InvalidAmount(f"amount {value} msat exceeds the 21M BTC bound ({MAX_MSAT} msat)")
    return Msat(value)


def _amount(value: object, unit: str = "msat") -> int:
    """``value`` if it is an int (any sign or size: the callers bound it), else InvalidAmount."""
    if not is_int(value):
        raise InvalidAmount(f"an amount in {unit} must be an int, got {type(value).__name__}")
    return value


def sats_to_msat(sats: int) -> Msat:
    """Whole sats to msat."""
    _amount(sats, "sats")
    return msat(sats * MSAT_PER_SAT, allow_zero=True, allow_negative=True)


def msat_to_sats_floor(amount: int) -> tuple[Sat, Msat]:
    """Split msat into whole sats (rounded down) and the sub-sat remainder.

    On-chain amounts are whole sats; the remainder stays on the account.
    Only defined for non-negative amounts.
    """
    if _amount(amount) < 0:
        raise InvalidAmount(f"cannot pay out a negative amount ({amount} msat)")
    sats, rest = divmod(amount, MSAT_PER_SAT)
    return Sat(sats), Msat(rest)


def _parse_decimal(text: str, what: str) -> Decimal:
    if not isinstance(text, str):
        raise InvalidAmount(f"{what} amount must be a string, got {type(text).__name__}")
    stripped = text.strip().replace("_", "")
    if not stripped or len(stripped) > 40:
        raise InvalidAmount(f"{what} amount {text!r} is empty or too long")
    try:
        value = Decimal(stripped)
    except InvalidOperation as exc:
        raise InvalidAmount(f"{what} amount {text!r} is not a number") from exc
    if not value.is_finite():
        raise InvalidAmount(f"{what} amount {text!r} is not finite")
    return value


def _exact_msat(value: Decimal, scale: int, text: str, unit: str) -> Msat:
    scaled = value * scale
    if scaled != scaled.to_integral_value():
        raise InvalidAmount(f"{text!r} {unit} is not a whole number of msat")
    return msat(int(scaled), allow_zero=True, allow_negative=True)


def parse_sats(text: str) -> Msat:
    """Parse a sats string such as ``"1500"`` or ``"0.001"`` (= 1 msat) to msat."""
    return _exact_msat(_parse_decimal(text, "sats"), MSAT_PER_SAT, text, "sats")


def parse_btc(text: str) -> Msat:
    """Parse a BTC string such as ``"0.00010000"`` to msat, exactly or not at all."""
    return _exact_msat(_parse_decimal(text, "BTC"), MSAT_PER_BTC, text, "BTC")


def format_sats(amount: int) -> str:
    """Format msat as sats, with three decimals only when there is a sub-sat part."""
    sign = "-" if _amount(amount) < 0 else ""
    sats, rest = divmod(abs(amount), MSAT_PER_SAT)
    return f"{sign}{sats}" if rest == 0 else f"{sign}{sats}.{rest:03d}"


def format_btc(amount: int) -> str:
    """Format msat as a BTC string with 11 decimals (8 for whole sats)."""
    sign = "-" if _amount(amount) < 0 else ""
    btc, rest = divmod(abs(amount), MSAT_PER_BTC)
    frac = f"{rest:011d}"
    if frac.endswith("000"):
        frac = frac[:8]
    return f"{sign}{btc}.{frac}"
