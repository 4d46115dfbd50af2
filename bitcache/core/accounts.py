"""Accounts: a name, a kind (its normal side) and whether it may go below zero.

Names are ``family:part[:part…]`` — ``liability:prepaid:alice``,
``revenue:platform``. The family is the account kind. Balances are signed
msat with debits positive; an account's *normal* balance is its balance on
its normal side (debit for assets and expenses, credit for the rest).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from functools import lru_cache

from bitcache.errors import InvalidAccountName, InvalidInput

MAX_ACCOUNT_NAME = 200
_PART = re.compile(r"[A-Za-z0-9_.@+\-]{1,128}")


class AccountKind(enum.Enum):
    """The five families of double-entry accounting."""

    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    REVENUE = "revenue"
    EXPENSE = "expense"

    @property
    def debit_normal(self) -> bool:
        """Assets and expenses grow with debits; the others with credits."""
        return self in (AccountKind.ASSET, AccountKind.EXPENSE)


#: Families whose accounts are opened with a no-overdraft limit by default.
LIMITED_BY_DEFAULT = (
    "asset:wallet",
    "liability:prepaid:",
    "liability:payable:",
    "liability:settling",
    "liability:held:",
)


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """An account's identity: its name, kind, and balance limit.

    ``limited`` accounts may never have a negative normal balance, pending
    reservations included (TigerBeetle's ``debits_must_not_exceed_credits``).
    """

    name: str
    kind: AccountKind
    limited: bool


def account_name(value: object) -> str:
    """Validate an account name and return it."""
    if not isinstance(value, str):
        raise InvalidAccountName(f"account name must be text, got {type(value).__name__}")
    return _checked_name(value)


_FAMILIES = frozenset(k.value for k in AccountKind)


@lru_cache(maxsize=65536)
def _checked_name(value: str) -> str:
    if not value or len(value) > MAX_ACCOUNT_NAME:
        raise InvalidAccountName(
            f"account name must be 1 to {MAX_ACCOUNT_NAME} characters, got {len(value)}"
        )
    parts = value.split(":")
    if parts[0] not in _FAMILIES:
        raise InvalidAccountName(
            f"account {value[:80]!r} must start with one of "
            "asset:, liability:, equity:, revenue:, expense:"
        )
    if len(parts) < 2 or not all(_PART.fullmatch(p) for p in parts[1:]):
        raise InvalidAccountName(
            f"account {value[:80]!r}: each part after the family must be "
            "1-128 characters of A-Z a-z 0-9 _ . @ + -"
        )
    return value


def kind_of(name: str) -> AccountKind:
    """The kind named by an account's family."""
    return AccountKind(account_name(name).split(":", 1)[0])


def default_spec(name: str, *, limited: bool | None = None) -> AccountSpec:
    """The spec an account gets when opened without an explicit limit."""
    name = account_name(name)
    if limited is not None and not isinstance(limited, bool):
        raise InvalidInput(f"limited must be True, False or None, got {limited!r}")
    if limited is None:
        limited = any(
            name == prefix or (prefix.endswith(":") and name.startswith(prefix))
            for prefix in LIMITED_BY_DEFAULT
        )
    return AccountSpec(name=name, kind=kind_of(name), limited=limited)


def prepaid(downloader: str) -> str:
    """The prepaid account of a downloader."""
    return account_name(f"liability:prepaid:{downloader}")


def payable(uploader: str) -> str:
    """The payable (earned, not yet paid) account of an uploader."""
    return account_name(f"liability:payable:{uploader}")


def held(file_hex: str) -> str:
    """The account holding a file's earnings under a takedown hold."""
    return account_name(f"liability:held:{file_hex}")


WALLET = "asset:wallet"
SETTLING = "liability:settling"
PLATFORM_REVENUE = "revenue:platform"
NETWORK_FEES = "expense:network_fees"
OPERATOR_EQUITY = "equity:operator"
