"""Shared validators for values that cross a public boundary.

Public entry points (``LedgerStore`` and ``Hooks`` methods, services called by
the edges) check their arguments here, once, before anything is written; the
write path behind them trusts what they pass on. Each validator returns the
value it accepted or raises an ``InvalidInput`` (the caller may name a more
precise subclass), with a message that says which value was wrong and why.

* integers: an ``int`` that is not a ``bool`` (:func:`is_int`,
  :func:`strict_int`), bounded by what a signed 64-bit column holds
  (:func:`int64`), and timestamps in µs since the epoch (:func:`timestamp_us`);
* text: a ``str`` that is valid UTF-8 — no lone surrogate, which no encoder
  can write — and holds no NUL, which PostgreSQL text cannot store
  (:func:`storable_text`);
* hex digests: 64 lower-case hex characters (:func:`is_hex_digest`).

Msat amounts are checked by :func:`bitcache.core.money.msat`, built on
:func:`strict_int`. Pure: the standard library and ``bitcache.errors`` only.
"""

from __future__ import annotations

from typing import TypeGuard

from bitcache.errors import InvalidInput

#: What a signed 64-bit column (SQLite INTEGER, PostgreSQL BIGINT) holds.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
#: The digits of lower-case hex.
HEX_DIGITS = frozenset("0123456789abcdef")


def is_int(value: object) -> TypeGuard[int]:
    """Whether ``value`` is an ``int`` and not a ``bool`` (a bool is never a number here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def strict_int(
    value: object,
    what: str,
    lo: int | None = None,
    hi: int | None = None,
    *,
    error: type[InvalidInput] = InvalidInput,
) -> int:
    """``value`` as an int within ``[lo, hi]`` (either bound optional); ``error`` otherwise."""
    if not is_int(value):
        raise error(f"{what} must be an int, got {type(value).__name__}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        low = "" if lo is None else f" from {lo}"
        high = "" if hi is None else f" to {hi}"
        shown = value if abs(value) < 10**30 else f"an int of {value.bit_length()} bits"
        raise error(f"{what} must be an int{low}{high}, got {shown}")
    return value


def int64(
    value: object, what: str, *, lo: int = INT64_MIN, error: type[InvalidInput] = InvalidInput
) -> int:
    """``value`` as an int that a signed 64-bit column holds (and at least ``lo``)."""
    return strict_int(value, what, lo, INT64_MAX, error=error)


def timestamp_us(value: object, what: str, *, error: type[InvalidInput] = InvalidInput) -> int:
    """A timestamp in µs since the epoch: an int from 0 to the 64-bit maximum."""
    return strict_int(value, f"{what} (a timestamp in µs)", 0, INT64_MAX, error=error)


def storable_text(
    value: object, what: str, *, max_len: int, error: type[InvalidInput] = InvalidInput
) -> str:
    """``value`` as text of at most ``max_len`` characters, valid UTF-8, with no NUL.

    ASCII text (the common case) is checked without encoding it.
    """
    if not isinstance(value, str):
        raise error(f"{what} must be text, got {type(value).__name__}")
    if len(value) > max_len:
        raise error(f"{what} must be at most {max_len} characters, got {len(value)}")
    if "\x00" in value:
        raise error(f"{what} must not contain a NUL character")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise error(
                f"{what} is not valid unicode text (a lone surrogate at {exc.start})"
            ) from exc
    return value


def is_hex_digest(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a 32-byte digest as 64 lower-case hex characters."""
    return isinstance(value, str) and len(value) == 64 and set(value) <= HEX_DIGITS
