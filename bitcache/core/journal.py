"""The hash-chained journal.

Each entry's hash is ``sha256(tag ‖ content_hash ‖ id ‖ recorded_at ‖
prev_hash)`` where ``content_hash`` is the SHA-256 of the entry's canonical
content (see :mod:`bitcache.core.entries`) and ``prev_hash`` the previous
entry's hash (32 zero bytes for the first). Changing any stored field of
any entry, or removing or reordering entries, breaks the chain from that
entry on; :func:`verify_chain` names the first entry that does not verify.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from bitcache.core.entries import Entry, content_hash

GENESIS_HASH = bytes(32)
_TAG = b"bitcache:entry:v1"


def chain_hash(content: bytes, entry_id: int, recorded_at: int, prev_hash: bytes) -> bytes:
    """The hash of an entry given its content hash and its place in the chain."""
    return hashlib.sha256(
        _TAG
        + content
        + entry_id.to_bytes(8, "big")
        + recorded_at.to_bytes(8, "big", signed=True)
        + prev_hash
    ).digest()


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Result of verifying the journal: ``ok`` or the first broken entry and why."""

    ok: bool
    entries: int
    head_hash: bytes
    first_broken: int | None = None
    reason: str = ""


def _problem(entry: Entry, expected_id: int, prev: bytes) -> str:
    if entry.id != expected_id:
        return f"expected entry id {expected_id}, found {entry.id} (missing or reordered entry)"
    if entry.prev_hash != prev:
        return "prev_hash does not match the previous entry's hash"
    meta = entry.meta
    if entry.content_version == 1 and meta is not None and meta.memo() != entry.memo:
        return "metadata filled in from the memo does not match the memo"
    content = content_hash(entry.hashed_request())
    if content != entry.content_hash:
        return "content does not match its stored content hash (postings or fields changed)"
    if chain_hash(content, entry.id, entry.recorded_at, prev) != entry.entry_hash:
        return "entry hash does not verify"
    return ""


def verify_chain(
    entries: Iterable[Entry], *, start_id: int = 1, start_hash: bytes = GENESIS_HASH
) -> ChainReport:
    """Walk entries in id order, recomputing every hash; stop at the first broken one."""
    prev, expected, count = start_hash, start_id, 0
    for entry in entries:
        reason = _problem(entry, expected, prev)
        if reason:
            return ChainReport(False, count, prev, entry.id, f"entry {entry.id}: {reason}")
        prev, expected, count = entry.entry_hash, expected + 1, count + 1
    return ChainReport(True, count, prev)
