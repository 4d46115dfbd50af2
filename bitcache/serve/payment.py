"""402 Payment Required: what a downloader must pay, where, and a BIP21 URI to pay it.

The problem body of a refused charge carries ``price_msat``,
``available_msat``, ``missing_msat`` (price minus available), and — when
the service has the wallet's public key — the downloader's
``deposit_address`` and ``payment_uri``, ``bitcoin:<address>?amount=<BTC>``
(BIP21) for the missing amount rounded up to a whole satoshi, since a
transaction cannot pay less than one.
"""

from __future__ import annotations

import threading

from bitcache.core.money import MSAT_PER_SAT, SAT_PER_BTC
from bitcache.errors import GapLimitExceeded, InsufficientFunds
from bitcache.serve.problems import Problem
from bitcache.services.deposits import DepositService


def btc_amount(sats: int) -> str:
    """Sats as a BIP21 amount: decimal BTC, no exponent, no trailing zeros."""
    whole, frac = divmod(sats, SAT_PER_BTC)
    digits = f"{frac:08d}".rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def payment_uri(address: str, missing_msat: int) -> str:
    """The BIP21 URI paying ``missing_msat`` (rounded up to whole sats) to ``address``."""
    sats = -(-missing_msat // MSAT_PER_SAT)
    return f"bitcoin:{address}?amount={btc_amount(sats)}"


def payment_problem(exc: InsufficientFunds, address: str | None) -> Problem:
    """The 402 problem of a refused charge."""
    missing = exc.needed
    extra: dict[str, object] = {"price_msat": exc.available + missing,
                                "available_msat": exc.available, "missing_msat": missing}
    if address is not None:
        extra["deposit_address"] = address
        extra["payment_uri"] = payment_uri(address, missing)
    return Problem("insufficient-funds",
                   f"the balance covers {exc.available} msat of the {exc.available + missing} "
                   f"msat price: deposit at least {missing} msat", extra)


class DepositAddresses:
    """Downloaders' deposit addresses, remembered once assigned (they never change)."""

    def __init__(self, deposits: DepositService | None):
        self._deposits = deposits
        self._known: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """Whether the service can hand out addresses (it has the wallet's public key)."""
        return self._deposits is not None

    def address(self, downloader: str) -> str | None:
        """The downloader's deposit address; None without a wallet or past the gap limit.

        Blocking (it may assign the address): call it from a worker thread.
        """
        found = self._known.get(downloader)
        if found is not None or self._deposits is None:
            return found
        with self._lock:
            try:
                found = self._deposits.deposit_address(downloader)
            except GapLimitExceeded:
                return None
            self._known[downloader] = found
        return found
