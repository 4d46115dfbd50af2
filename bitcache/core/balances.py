"""Balances and their limits, TigerBeetle style.

An account's balance is kept as the signed posted sum (debits positive) and
the pending debits and credits reserved by open two-phase entries. A limited
account may never have a negative *available* normal balance, where pending
amounts leaving the account count as already gone:

* credit-normal (liabilities, revenue, equity): ``-posted - pending_debits >= 0``
* debit-normal (assets, expenses):            ``posted - pending_credits >= 0``

Pending amounts coming in are not available until posted.

Every balance must also fit the database's signed 64-bit columns, together
with the limit check the database evaluates over them: an entry that would
take ``|posted| + pending_debits + pending_credits`` past 2**63 - 1 is
refused with ``BalanceOutOfRange`` (an account this large is a mistake, not
business).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import NamedTuple

from bitcache.core.accounts import AccountSpec
from bitcache.core.checks import INT64_MAX
from bitcache.core.entries import Posting
from bitcache.errors import BalanceOutOfRange, InsufficientFunds, UnknownAccount


class Balance(NamedTuple):
    """The state of one account, in msat (a NamedTuple: immutable and cheap on the hot path)."""

    posted: int = 0
    pending_debits: int = 0
    pending_credits: int = 0

    def normal(self, debit_normal: bool) -> int:
        """Posted balance on the account's normal side."""
        return self.posted if debit_normal else -self.posted

    def available(self, debit_normal: bool) -> int:
        """Normal balance less the pending amounts reserved to leave the account."""
        if debit_normal:
            return self.posted - self.pending_credits
        return -self.posted - self.pending_debits


def storable(b: Balance) -> bool:
    """Whether the database can hold ``b`` and evaluate its limit check in 64 bits."""
    return abs(b.posted) + b.pending_debits + b.pending_credits <= INT64_MAX


def refuse_out_of_range(name: str, b: Balance) -> None:
    """Raise ``BalanceOutOfRange`` unless ``b`` is :func:`storable`."""
    if not storable(b):
        raise BalanceOutOfRange(
            f"{name} would hold {b.posted} msat posted and {b.pending_debits + b.pending_credits}"
            " msat pending, beyond the 64-bit range the ledger stores"
        )


def post(b: Balance, amount: int) -> Balance:
    """Apply a posted amount."""
    return Balance(b.posted + amount, b.pending_debits, b.pending_credits)


def reserve(b: Balance, amount: int) -> Balance:
    """Apply a pending amount (reserve it)."""
    if amount > 0:
        return Balance(b.posted, b.pending_debits + amount, b.pending_credits)
    return Balance(b.posted, b.pending_debits, b.pending_credits - amount)


def release(b: Balance, amount: int) -> Balance:
    """Undo :func:`reserve` (when a pending entry is posted or voided)."""
    if amount > 0:
        return Balance(b.posted, b.pending_debits - amount, b.pending_credits)
    return Balance(b.posted, b.pending_debits, b.pending_credits + amount)


def check_limits(
    touched: Iterable[str],
    balances: Mapping[str, Balance],
    specs: Mapping[str, AccountSpec],
    before: Mapping[str, Balance],
) -> None:
    """Refuse if a limited account's available balance went below zero, or any balance
    left the range the database stores.

    A limited account already below zero (impossible unless the database was
    edited) is allowed to move up only.
    """
    for name in touched:
        spec = specs.get(name)
        if spec is None:
            raise UnknownAccount(f"account {name!r} does not exist")
        refuse_out_of_range(name, balances[name])
        if not spec.limited:
            continue
        debit_normal = spec.kind.debit_normal
        after = balances[name].available(debit_normal)
        if after >= 0:
            continue
        prior = before[name].available(debit_normal)
        if after < prior:
            raise InsufficientFunds(
                f"{name} would go {-after} msat below zero (available {max(prior, 0)} msat)",
                account=name,
                available=max(prior, 0),
                needed=prior - after,
            )


def apply_postings(
    balances: MutableMapping[str, Balance], postings: Iterable[Posting], *, pending: bool
) -> None:
    """Apply postings in place, as posted amounts or as reservations."""
    step = reserve if pending else post
    for p in postings:
        balances[p.account] = step(balances[p.account], p.amount)


def release_postings(balances: MutableMapping[str, Balance], postings: Iterable[Posting]) -> None:
    """Release the reservations of a pending entry's postings, in place."""
    for p in postings:
        balances[p.account] = release(balances[p.account], p.amount)
