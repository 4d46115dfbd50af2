"""Journal entries: balanced sets of postings, with an idempotency key.

An entry has two or more postings whose signed msat amounts (debit positive,
credit negative) sum to zero. Entries are append-only; two-phase transfers
and corrections are themselves entries that refer to an earlier one:

* ``POSTED``        — final movement of money;
* ``PENDING``       — reserves amounts against balance limits (TigerBeetle's
  pending transfer), optionally expiring;
* ``POST_PENDING``  — makes (part of) a pending entry final, releasing all of it;
* ``VOID_PENDING``  — releases a pending entry; its postings repeat the
  pending ones as a record and move nothing;
* ``REVERSAL``      — negates a posted entry: the only way to correct one.

The *content* of an entry (what the caller asked for) has a canonical byte
form; its SHA-256 decides whether a retried key carries the same request.
A charge also carries typed metadata (:class:`~bitcache.core.entrymeta.EntryMeta`):
its content layout is then version 2, which covers the metadata; an entry
without metadata keeps layout version 1, byte for byte as before.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from bitcache.core.accounts import account_name
from bitcache.core.checks import INT64_MAX, is_int, storable_text, timestamp_us
from bitcache.core.entrymeta import EntryMeta, check_meta, encode_meta
from bitcache.core.filehash import FileHash, file_hash
from bitcache.core.money import MAX_MSAT
from bitcache.errors import (
    InvalidAmount,
    InvalidIdempotencyKey,
    InvalidInput,
    InvalidMetadata,
    UnbalancedEntry,
)

MAX_KEY_LENGTH = 200
MAX_MEMO_LENGTH = 500
MAX_POSTINGS = 64


class EntryKind(enum.Enum):
    """What an entry does to balances."""

    POSTED = "posted"
    PENDING = "pending"
    POST_PENDING = "post_pending"
    VOID_PENDING = "void_pending"
    REVERSAL = "reversal"

    @property
    def needs_ref(self) -> bool:
        return self in (EntryKind.POST_PENDING, EntryKind.VOID_PENDING, EntryKind.REVERSAL)


#: Kinds whose postings move posted balances (a pending entry only reserves, a void
#: only repeats the pending postings as a record).
MOVING_KINDS = frozenset({EntryKind.POSTED, EntryKind.POST_PENDING, EntryKind.REVERSAL})


class Posting(NamedTuple):
    """One leg of an entry: ``amount`` msat to ``account`` (debit > 0 > credit).

    NamedTuples (like :class:`EntryRequest` and :class:`Entry`): immutable, and
    several times cheaper to build than frozen dataclasses on the write path.
    """

    account: str
    amount: int
    file_hash: FileHash | None = None


class EntryRequest(NamedTuple):
    """What a caller asks the ledger to record. Validated by :func:`validate_request`.

    ``memo`` is for people; ``meta`` holds the typed facts code reads back.
    """

    key: str
    postings: tuple[Posting, ...]
    kind: EntryKind = EntryKind.POSTED
    ref: int | None = None
    expires_at: int | None = None
    memo: str = ""
    meta: EntryMeta | None = None


class Entry(NamedTuple):
    """A recorded entry: the request plus its place in the hash-chained journal.

    A NamedTuple rather than a frozen dataclass: the write path builds one per
    entry, and tuple construction is several times cheaper. ``content_version``
    says which content layout its hash covers: 2 when it was recorded with
    ``meta``; 1 otherwise, including entries recorded before entries had
    metadata, whose ``meta`` was filled in later from their memo and is not
    covered by their hash.
    """

    id: int
    key: str
    kind: EntryKind
    postings: tuple[Posting, ...]
    ref: int | None
    expires_at: int | None
    memo: str
    recorded_at: int
    content_hash: bytes
    prev_hash: bytes
    entry_hash: bytes
    meta: EntryMeta | None = None
    content_version: int = 1

    def hashed_request(self) -> EntryRequest:
        """The request whose content hash this entry stores (its metadata only if covered)."""
        return EntryRequest(self.key, self.postings, self.kind, self.ref, self.expires_at,
                            self.memo, self.meta if self.content_version == 2 else None)


def idempotency_key(value: object) -> str:
    """Validate an idempotency key: 1-200 characters of text, no control characters."""
    if (
        isinstance(value, str)
        and 0 < len(value) <= MAX_KEY_LENGTH
        and value.isascii()
        and value.isprintable()
        and value[0] != " "
        and value[-1] != " "
    ):
        return value
    if not isinstance(value, str):
        raise InvalidIdempotencyKey(f"idempotency key must be text, got {type(value).__name__}")
    if not value or len(value) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey(
            f"idempotency key must be 1 to {MAX_KEY_LENGTH} characters, got {len(value)}"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidIdempotencyKey("idempotency key is not valid unicode text") from exc
    if not value.isprintable() or value != value.strip():
        raise InvalidIdempotencyKey(
            "idempotency key must not contain control characters or surrounding spaces"
        )
    return value


def posting(account: str, amount: int, file: object = None) -> Posting:
    """Build a validated posting (``file`` as 32 bytes or 64 hex characters)."""
    name = account_name(account)
    if not is_int(amount):
        raise InvalidAmount(f"posting amount must be an int of msat, got {type(amount).__name__}")
    if amount == 0:
        raise InvalidAmount(f"posting to {name} has a zero amount")
    if abs(amount) > MAX_MSAT:
        raise InvalidAmount(f"posting of {amount} msat to {name} exceeds the 21M BTC bound")
    return Posting(name, amount, None if file is None else file_hash(file))


def _valid_posting(p: object) -> Posting:
    if type(p) is not Posting:
        raise InvalidInput(f"postings must be Posting objects, got {type(p).__name__}")
    amount, fh = p.amount, p.file_hash
    if (
        type(amount) is int
        and amount != 0
        and -MAX_MSAT <= amount <= MAX_MSAT
        and (fh is None or (type(fh) is bytes and len(fh) == 32))
    ):
        account_name(p.account)
        return p
    return posting(p.account, amount, fh)  # raises the precise error (or normalises)


def _check_postings(postings: Sequence[Posting]) -> tuple[Posting, ...]:
    kind = type(postings)  # tuple and list first: the ABC check costs microseconds a call
    if kind is not tuple and kind is not list and (
        not isinstance(postings, Sequence) or isinstance(postings, str | bytes)
    ):
        raise UnbalancedEntry("postings must be a sequence of Posting")
    if len(postings) < 2:
        raise UnbalancedEntry(f"an entry needs at least two postings, got {len(postings)}")
    if len(postings) > MAX_POSTINGS:
        raise UnbalancedEntry(f"an entry may have at most {MAX_POSTINGS} postings")
    checked = tuple(map(_valid_posting, postings))
    total = sum(p.amount for p in checked)
    if total != 0:
        raise UnbalancedEntry(f"postings sum to {total} msat, not zero")
    if len(checked) > _SAFE_POSTINGS:
        _check_sum_range(checked)
    return checked


#: An entry's debits equal its credits, so n postings each within 21M BTC move at most
#: n/2 × 21M BTC: up to this many postings that fits 64 bits, and only a longer entry
#: needs :func:`_check_sum_range`.
_SAFE_POSTINGS = 2 * (INT64_MAX // MAX_MSAT)


def _check_sum_range(postings: Sequence[Posting]) -> None:
    """Refuse an entry whose debits (and so credits) total more than a 64-bit column holds:
    the database sums an entry's postings, in any order, to check that it balances."""
    moved = sum(p.amount for p in postings if p.amount > 0)
    if moved > INT64_MAX:
        raise InvalidAmount(
            f"an entry's debits total {moved} msat, beyond the 64-bit range the database sums in"
        )


def _check_ref_fields(req: EntryRequest) -> None:
    if not isinstance(req.kind, EntryKind):
        raise InvalidInput(f"entry kind must be an EntryKind, got {req.kind!r}")
    if req.kind.needs_ref:
        if not is_int(req.ref) or not 0 < req.ref <= INT64_MAX:
            raise InvalidInput(f"a {req.kind.value} entry needs the id of the entry it refers to "
                               f"(an int from 1 to {INT64_MAX})")
    elif req.ref is not None:
        raise InvalidInput(f"a {req.kind.value} entry does not refer to another entry")
    if req.expires_at is not None:
        if req.kind is not EntryKind.PENDING:
            raise InvalidInput("only a pending entry can expire")
        timestamp_us(req.expires_at, "expires_at")
    storable_text(req.memo, "memo", max_len=MAX_MEMO_LENGTH)


def _check_meta(req: EntryRequest) -> None:
    meta = check_meta(req.meta)
    if len(meta.parts) != len(req.postings) - 1:
        raise InvalidMetadata(
            f"the metadata names {len(meta.parts)} credit leg(s) ({meta.parts!r}), "
            f"the entry has {len(req.postings) - 1} after the payer")


def validate_request(req: EntryRequest) -> EntryRequest:
    """Check every field of a request; return it with normalised postings."""
    if type(req) is not EntryRequest:
        raise InvalidInput(f"expected an EntryRequest, got {type(req).__name__}")
    idempotency_key(req.key)
    plain = req.kind is EntryKind.POSTED and req.ref is None and req.expires_at is None
    memo = req.memo
    if (not plain or type(memo) is not str or len(memo) > MAX_MEMO_LENGTH
            or not memo.isascii() or "\x00" in memo):
        _check_ref_fields(req)  # checks the memo too
    postings = _check_postings(req.postings)
    if req.meta is not None:
        _check_meta(req)
    if postings == req.postings and type(req.postings) is tuple:
        return req
    return EntryRequest(req.key, postings, req.kind, req.ref, req.expires_at, req.memo, req.meta)


def _text(value: str) -> str:
    return f"{len(value)}:{value}"


def content_bytes(req: EntryRequest) -> bytes:
    """Canonical bytes of what the caller asked for (not where or when it was recorded).

    Version 1 layout, UTF-8: ``v1|key|kind|ref|expires_at|memo|`` followed by
    ``account,amount,file;`` per posting, where free text is written as
    ``<length>:<text>`` (so no separator inside it can be ambiguous), absent
    numbers as ``-`` and the file hash as 64 hex characters or ``-``. A
    request with ``meta`` uses version 2: ``v2|key|kind|ref|expires_at|memo|meta|``
    and the same postings, the metadata as ``<length>:<canonical text>``
    (:func:`~bitcache.core.entrymeta.encode_meta`). A request without metadata
    is written in version 1, so entries recorded before metadata existed, and
    their retries, hash as they always did.
    Reconcile writes the same bytes from stored rows
    (:class:`bitcache.reconciliation.journal_audit.ContentEncoder`): change
    the layout in both.
    """
    legs = "".join(
        [
            f"{len(p.account)}:{p.account},{p.amount},{p.file_hash.hex() if p.file_hash else '-'};"
            for p in req.postings
        ]
    )
    ref = "-" if req.ref is None else req.ref
    exp = "-" if req.expires_at is None else req.expires_at
    if req.meta is None:
        head = f"v1|{_text(req.key)}|{req.kind.value}|{ref}|{exp}|{_text(req.memo)}|"
    else:
        meta = _text(encode_meta(req.meta))
        head = f"v2|{_text(req.key)}|{req.kind.value}|{ref}|{exp}|{_text(req.memo)}|{meta}|"
    return (head + legs).encode("utf-8")


def content_hash(req: EntryRequest) -> bytes:
    """SHA-256 of the canonical content: equal for a faithful retry, different otherwise."""
    return hashlib.sha256(content_bytes(req)).digest()


def negate(postings: Iterable[Posting]) -> tuple[Posting, ...]:
    """The postings of a reversing entry."""
    return tuple(Posting(p.account, -p.amount, p.file_hash) for p in postings)
