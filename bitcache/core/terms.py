"""Changes of a file's terms: explicit updates, and the history that explains them.

A file's terms (:class:`~bitcache.core.files.FileTerms`: owner, price, size,
cap, referrer) change only when a call says so. A term left out of a call
is :data:`KEEP`, which is not ``None``: ``None`` removes a cap or a
referrer, ``KEEP`` leaves the term as it is. So re-registering a file (a
re-upload) without ``cap=`` or ``referrer=`` keeps its cap and its
referrer's share.

Every change is recorded as a :class:`TermChange` with its time and its old
and new terms, written in the same transaction as the change itself, so an
uploader's earnings can be explained by the terms in force at each
download. :func:`replay` folds a file's history back into its current
terms, checking that each change starts where the previous one ended.

Pure: the time comes in as an argument.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, TypeVar

from bitcache.core.filehash import FileHash
from bitcache.core.files import (
    FileRecord,
    FileTerms,
    check_terms,
    checked_cap,
    checked_price,
    checked_referrer,
    checked_size,
)
from bitcache.core.pricing import PriceRule
from bitcache.errors import InvalidInput


class Keep(enum.Enum):
    """The type of :data:`KEEP` (an enum, so type checkers can tell it from a value)."""

    KEEP = "keep"


#: A term left out of a call: keep its current value (``None`` removes a cap or a referrer).
KEEP: Final = Keep.KEEP

T = TypeVar("T")

#: The terms a change can touch, in the order they are shown.
TERM_FIELDS = ("uploader", "price", "size", "cap", "referrer")


class TermsReason(enum.Enum):
    """Why a file's terms changed."""

    #: The file's first registration by its uploader.
    REGISTERED = "registered"
    #: The file's first registration, from a legacy catalog.
    IMPORTED = "imported"
    #: The owner changed its price, size, cap or referrer.
    UPDATED = "updated"
    #: The platform gave the file to another uploader.
    TRANSFERRED = "transferred"
    #: The terms found when the history began (a database upgraded from before it).
    RECORDED = "recorded"

    @property
    def first(self) -> bool:
        """Whether a change for this reason starts a file's history (it has no old terms)."""
        return self in (TermsReason.REGISTERED, TermsReason.IMPORTED, TermsReason.RECORDED)


@dataclass(frozen=True, slots=True)
class TermsUpdate:
    """A change of terms asked for: each term a new value, or :data:`KEEP`.

    Build it with :meth:`of`, which validates each given value on its own;
    the rules between terms (a per-GiB price needs a size, a cap not below
    the downloads counted, no self-referral) are checked against the file
    when the update is applied.
    """

    price: PriceRule | Keep = KEEP
    size: int | Keep | None = KEEP
    cap: int | Keep | None = KEEP
    referrer: str | Keep | None = KEEP

    @classmethod
    def of(
        cls, *, price: object = KEEP, size: object = KEEP, cap: object = KEEP,
        referrer: object = KEEP,
    ) -> TermsUpdate:
        """Validate the given terms (``InvalidInput`` subclasses name the bad one)."""
        return cls(
            KEEP if price is KEEP else checked_price(price),
            KEEP if size is KEEP else checked_size(size),
            KEEP if cap is KEEP else checked_cap(cap),
            KEEP if referrer is KEEP else checked_referrer(referrer),
        )

    def first(self, fh: FileHash, uploader: str) -> FileRecord:
        """The record of a first registration: a price is needed; terms left out are unset."""
        if isinstance(self.price, Keep):
            raise InvalidInput("the first registration of a file needs a price")
        rec = FileRecord(fh, uploader, self.price, _or(self.size, None), _or(self.cap, None),
                         _or(self.referrer, None))
        check_terms(rec)
        return rec

    def applied_to(self, rec: FileRecord) -> FileRecord:
        """``rec`` with the given terms set and the others kept (rules between terms checked)."""
        updated = dataclasses.replace(
            rec, price=_or(self.price, rec.price), size=_or(self.size, rec.size),
            cap=_or(self.cap, rec.cap), referrer=_or(self.referrer, rec.referrer))
        check_terms(updated)
        return updated


def _or(value: T | Keep, current: T) -> T:
    """``value``, or ``current`` when the value was left out."""
    return current if isinstance(value, Keep) else value


@dataclass(frozen=True, slots=True)
class TermChange:
    """One recorded change of a file's terms; ``old`` is None when it starts the history.

    ``seq`` orders changes (it grows with every change recorded, across
    files); ``changed_at`` is the time in µs.
    """

    seq: int
    file_hash: FileHash
    changed_at: int
    reason: TermsReason
    old: FileTerms | None
    new: FileTerms

    @property
    def hex(self) -> str:
        """The file hash as 64 lower-case hex characters."""
        return self.file_hash.hex()

    @property
    def changed(self) -> tuple[str, ...]:
        """The names of the terms that changed (all of them when the history starts here)."""
        if self.old is None:
            return TERM_FIELDS
        return tuple(n for n in TERM_FIELDS if getattr(self.old, n) != getattr(self.new, n))


def replay(changes: Iterable[TermChange]) -> FileTerms | None:
    """The terms one file's history arrives at (None for an empty history).

    The history must be one chain, in order: it starts with a change
    without old terms, and each later change starts from the terms the
    previous one ended with. Anything else raises ``InvalidInput``.
    """
    current: FileTerms | None = None
    last: TermChange | None = None
    for change in changes:
        if last is not None and (change.file_hash != last.file_hash or change.seq <= last.seq):
            raise InvalidInput(f"term change {change.seq} is not the next change of the file")
        if change.old != current or (change.old is None) != change.reason.first:
            raise InvalidInput(
                f"term change {change.seq} ({change.reason.value}) does not start from the "
                "terms the history had reached")
        current, last = change.new, change
    return current
