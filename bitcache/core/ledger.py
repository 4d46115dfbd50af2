"""Ledger rules: what an entry may do, given the entry it refers to.

Pure functions shared by every store. The store loads the balances of the
touched accounts and the referenced entry inside its transaction, calls
:func:`check_reference` and :func:`apply_entry`, then writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass

from bitcache.core.accounts import AccountSpec
from bitcache.core.balances import (
    Balance,
    apply_postings,
    check_limits,
    refuse_out_of_range,
    release_postings,
)
from bitcache.core.checks import INT64_MAX
from bitcache.core.entries import Entry, EntryKind, EntryRequest, Posting, negate
from bitcache.errors import (
    AlreadyReversed,
    InvalidInput,
    PendingExpired,
    PendingStateError,
    UnknownEntry,
)


@dataclass(frozen=True, slots=True)
class RefState:
    """What the store knows about the entry a request refers to."""

    entry: Entry
    resolved_by: int | None = None
    reversed_by: int | None = None


def _per_account(postings: Iterable[Posting]) -> dict[str, int]:
    sums: dict[str, int] = defaultdict(int)
    for p in postings:
        sums[p.account] += p.amount
    return dict(sums)


def _same_legs(a: Iterable[Posting], b: Iterable[Posting]) -> bool:
    key = lambda p: (p.account, p.amount, p.file_hash or b"")  # noqa: E731
    return sorted(a, key=key) == sorted(b, key=key)


def _check_partial_post(req: EntryRequest, pending: Entry) -> None:
    reserved = _per_account(pending.postings)
    for account, amount in _per_account(req.postings).items():
        limit = reserved.get(account)
        if limit is None:
            raise InvalidInput(f"posting to {account} is not part of pending entry {pending.id}")
        if (amount > 0) != (limit > 0) or abs(amount) > abs(limit):
            raise InvalidInput(
                f"posting of {amount} msat to {account} exceeds the {limit} msat "
                f"reserved by pending entry {pending.id}"
            )


def _check_pending_ref(req: EntryRequest, ref: RefState, now: int) -> None:
    pending = ref.entry
    if pending.kind is not EntryKind.PENDING:
        raise PendingStateError(f"entry {pending.id} is {pending.kind.value}, not pending")
    if ref.resolved_by is not None:
        raise PendingStateError(
            f"pending entry {pending.id} was already resolved by entry {ref.resolved_by}"
        )
    if req.kind is EntryKind.VOID_PENDING:
        if not _same_legs(req.postings, pending.postings):
            raise InvalidInput(f"a void must repeat the postings of pending entry {pending.id}")
        return
    if pending.expires_at is not None and now >= pending.expires_at:
        raise PendingExpired(f"pending entry {pending.id} expired; it can only be voided")
    _check_partial_post(req, pending)


def check_reference(req: EntryRequest, ref: RefState | None, *, now: int) -> None:
    """Refuse a request whose reference is missing or in the wrong state."""
    if not req.kind.needs_ref:
        return
    if ref is None:
        raise UnknownEntry(f"entry {req.ref} does not exist")
    if req.kind is EntryKind.REVERSAL:
        target = ref.entry
        if target.kind not in (EntryKind.POSTED, EntryKind.POST_PENDING):
            raise InvalidInput(
                f"entry {target.id} is {target.kind.value}; only posted entries reverse"
            )
        if ref.reversed_by is not None:
            raise AlreadyReversed(f"entry {target.id} was already reversed by {ref.reversed_by}")
        if not _same_legs(req.postings, negate(target.postings)):
            raise InvalidInput(f"a reversal must negate every posting of entry {target.id}")
        return
    _check_pending_ref(req, ref, now)


def apply_entry(
    balances: MutableMapping[str, Balance],
    req: EntryRequest,
    ref: RefState | None,
    specs: Mapping[str, AccountSpec],
) -> None:
    """Apply an already-checked request to ``balances`` in place, enforcing limits.

    On refusal ``balances`` is left as it was.
    """
    if ref is None and req.kind is EntryKind.POSTED:
        apply_posted(balances, req.postings, specs)
        return
    touched = {p.account for p in req.postings}
    if ref is not None and req.kind in (EntryKind.POST_PENDING, EntryKind.VOID_PENDING):
        touched |= {p.account for p in ref.entry.postings}
    before = {name: balances[name] for name in touched}
    if req.kind in (EntryKind.POST_PENDING, EntryKind.VOID_PENDING):
        assert ref is not None
        release_postings(balances, ref.entry.postings)
    if req.kind is not EntryKind.VOID_PENDING:
        apply_postings(balances, req.postings, pending=req.kind is EntryKind.PENDING)
    try:
        check_limits(touched, balances, specs, before)
    except Exception:
        balances.update(before)
        raise


def apply_posted(
    balances: MutableMapping[str, Balance],
    postings: Iterable[Posting],
    specs: Mapping[str, AccountSpec],
) -> None:
    """The hot path of :func:`apply_entry` for a plain posted entry (no reference)."""
    updated: dict[str, Balance] = {}
    for p in postings:
        posted, pd, pc = updated.get(p.account) or balances[p.account]
        posted += p.amount
        b = updated[p.account] = Balance(posted, pd, pc)
        if (posted if posted >= 0 else -posted) + pd + pc > INT64_MAX:  # balances.storable
            refuse_out_of_range(p.account, b)
    for name, b in updated.items():
        spec = specs[name]
        if spec.limited and b.available(spec.kind.debit_normal) < 0:
            check_limits(list(updated), updated, specs, balances)
    balances.update(updated)
