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
:func:`change_json` and :func:`change_from_json` are the JSON form a
statement lists changes in.

Pure: the time comes in as an argument.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from bitcache.core.checks import is_int
from bitcache.core.filehash import FileHash, file_hash
from bitcache.core.files import (
    FileRecord,
    FileTerms,
    check_terms,
    checked_cap,
    checked_price,
    checked_referrer,
    checked_size,
    party_id,
)
from bitcache.core.pricing import PriceKind, PriceRule
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
    if isinstance(changes, str | bytes) or not isinstance(changes, Iterable):
        raise InvalidInput(f"a term history must be an iterable of TermChange, got {changes!r}")
    for change in changes:
        if not isinstance(change, TermChange):
            raise InvalidInput(f"a term history holds TermChange, got {type(change).__name__}")
        if last is not None and (change.file_hash != last.file_hash or change.seq <= last.seq):
            raise InvalidInput(f"term change {change.seq} is not the next change of the file")
        if change.old != current or (change.old is None) != change.reason.first:
            raise InvalidInput(
                f"term change {change.seq} ({change.reason.value}) does not start from the "
                "terms the history had reached")
        current, last = change.new, change
    return current


# -- JSON form (as listed in statements) ---------------------------------------

_CHANGE_KEYS = frozenset({"seq", "file_hash", "changed_at", "reason", "old", "new"})
_TERMS_KEYS = frozenset({"uploader", "price", "size", "cap", "referrer"})
_PRICE_KEYS = frozenset({"kind", "amount", "currency"})


def terms_json(terms: FileTerms | None) -> dict[str, object] | None:
    """A file's terms as a JSON object (None stays None)."""
    if terms is None:
        return None
    p = terms.price
    return {
        "uploader": terms.uploader,
        "price": {"kind": p.kind.value, "amount": p.amount, "currency": p.currency},
        "size": terms.size,
        "cap": terms.cap,
        "referrer": terms.referrer,
    }


def change_json(change: TermChange) -> dict[str, object]:
    """A term change as a JSON object: ``seq``, ``file_hash``, ``changed_at``, ``reason``, terms."""
    return {
        "seq": change.seq,
        "file_hash": change.hex,
        "changed_at": change.changed_at,
        "reason": change.reason.value,
        "old": terms_json(change.old),
        "new": terms_json(change.new),
    }


def _object(value: object, keys: frozenset[str], what: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping) or set(value) != keys:
        raise InvalidInput(f"{what} must be an object with the keys {sorted(keys)}")
    return value


def _int(value: object, what: str) -> int:
    if not is_int(value) or not -(2**63) <= value < 2**63:
        raise InvalidInput(f"{what} must be a 64-bit integer")
    return value


def terms_from_json(value: object, what: str = "terms") -> FileTerms:
    """Read back :func:`terms_json` (every value validated; ``InvalidInput`` otherwise)."""
    obj = _object(value, _TERMS_KEYS, what)
    price = _object(obj["price"], _PRICE_KEYS, f"{what} price")
    kind = next((k for k in PriceKind if k.value == price["kind"]), None)
    if kind is None:
        raise InvalidInput(f"{what} price kind {price['kind']!r} is not a price kind")
    terms = FileTerms(
        party_id(obj["uploader"], "uploader id"),
        PriceRule(kind, _int(price["amount"], f"{what} price amount"),
                  price["currency"]),  # type: ignore[arg-type]  # PriceRule checks it
        checked_size(obj["size"]),
        checked_cap(obj["cap"]),
        checked_referrer(obj["referrer"]),
    )
    return terms


def change_from_json(value: object) -> TermChange:
    """Read back :func:`change_json` (every value validated; ``InvalidInput`` otherwise)."""
    obj = _object(value, _CHANGE_KEYS, "a term change")
    reason = next((r for r in TermsReason if r.value == obj["reason"]), None)
    if reason is None:
        raise InvalidInput(f"reason {obj['reason']!r} is not a reason of a term change")
    old = None if obj["old"] is None else terms_from_json(obj["old"], "old terms")
    if (old is None) != reason.first:
        raise InvalidInput(f"a change for reason {reason.value!r} must "
                           f"{'not ' if reason.first else ''}have old terms")
    return TermChange(_int(obj["seq"], "seq"), file_hash(obj["file_hash"]),
                      _int(obj["changed_at"], "changed_at"), reason, old,
                      terms_from_json(obj["new"], "new terms"))
