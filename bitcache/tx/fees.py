"""Integer fee arithmetic: fee rates are sat per 1000 vbytes (sat/kvB), fees are sats.

Bitcoin Core computes a fee as ``ceil(rate × vsize / 1000)`` with ``vsize =
ceil(weight / 4)``; doing the same here means a transaction built at a rate
pays at least that rate in the eyes of every node. No floats anywhere.
"""

from __future__ import annotations

from bitcache.errors import InvalidAmount, InvalidPolicy
from bitcache.tx.sizes import vsize_of

MAX_FEE_RATE = 100_000_000
"""1 BTC per kvB: no sane estimate or configuration goes beyond this."""


def check_fee_rate(rate: object, what: str = "fee rate") -> int:
    """Return ``rate`` if it is an int sat/kvB in 0..MAX_FEE_RATE, else raise InvalidAmount."""
    if not isinstance(rate, int) or isinstance(rate, bool):
        raise InvalidAmount(f"{what} must be an int of sat/kvB, got {type(rate).__name__}")
    if not 0 <= rate <= MAX_FEE_RATE:
        raise InvalidAmount(f"{what} must be within 0..{MAX_FEE_RATE} sat/kvB, got {rate}")
    return rate


def fee_for_weight(weight: int, rate_sat_per_kvb: int) -> int:
    """Fee in sats for a transaction of ``weight`` WU at ``rate_sat_per_kvb``, rounded up."""
    check_fee_rate(rate_sat_per_kvb)
    return -(-vsize_of(weight) * rate_sat_per_kvb // 1000)


def fee_rate_of(fee_sat: int, vsize: int) -> int:
    """The rate (sat/kvB, rounded down) that ``fee_sat`` pays for ``vsize`` vbytes."""
    if vsize <= 0:
        raise InvalidAmount(f"vsize must be positive, got {vsize}")
    return fee_sat * 1000 // vsize


def clamp_fee_rate(estimate: int, floor: int, ceiling: int) -> int:
    """The backend's ``estimate`` kept within ``floor``..``ceiling`` (all sat/kvB).

    A floor above the ceiling is a configuration error, not something to
    resolve silently.
    """
    check_fee_rate(estimate, "fee rate estimate")
    check_fee_rate(floor, "fee rate floor")
    check_fee_rate(ceiling, "fee rate ceiling")
    if floor > ceiling:
        raise InvalidPolicy(f"fee rate floor {floor} is above the ceiling {ceiling} sat/kvB")
    return min(max(estimate, floor), ceiling)
