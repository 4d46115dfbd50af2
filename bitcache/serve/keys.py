"""API keys and their scopes: made once, shown once, stored as a SHA-256 hash.

A key reads ``bck_<id>_<secret>``: ``id`` is 12 hex digits, public, the
row to look up; ``secret`` is 32 random bytes (base64url). The database
keeps ``sha256(key)`` only: a key has 256 bits of randomness, so a fast
hash cannot be searched backwards and no slow password hash is needed.
Checking a presented key compares hashes with :func:`hmac.compare_digest`
(constant time).

Scopes, any number per key:

* ``storage`` — the storage server: registers files, charges downloads,
  tips, makes download links, reads balances and earnings;
* ``operator`` — holds, releases, refunds, ownership transfers,
  promotional credit, settlement and reconcile status, and every read;
* ``uploader:<id>`` — reads that uploader's earnings, statement and payout
  address, nothing else;
* ``downloader:<id>`` — reads that downloader's balance and deposit
  address, nothing else.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bitcache.core.files import party_id
from bitcache.errors import AuthenticationFailed, InvalidInput
from bitcache.store import serve as serve_rows
from bitcache.store.ledger import LedgerStore
from bitcache.store.serve import StoredKey

PREFIX = "bck_"
_KEY = re.compile(r"bck_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_LABEL_MAX = 200


class ScopeKind(enum.Enum):
    """What a scope lets a key do."""

    STORAGE = "storage"
    OPERATOR = "operator"
    UPLOADER = "uploader"
    DOWNLOADER = "downloader"


@dataclass(frozen=True, slots=True)
class Scope:
    """One scope: a kind, and for uploader and downloader scopes the party it is bound to."""

    kind: ScopeKind
    party: str | None = None

    def __str__(self) -> str:
        return self.kind.value if self.party is None else f"{self.kind.value}:{self.party}"

    @classmethod
    def parse(cls, text: object) -> Scope:
        """``storage``, ``operator``, ``uploader:<id>`` or ``downloader:<id>``."""
        if not isinstance(text, str):
            raise InvalidInput(f"a scope must be text, got {type(text).__name__}")
        kind_text, _, party = text.partition(":")
        try:
            kind = ScopeKind(kind_text)
        except ValueError:
            raise InvalidInput(
                f"unknown scope {text[:40]!r}: storage, operator, uploader:<id> or "
                "downloader:<id>") from None
        bound = kind in (ScopeKind.UPLOADER, ScopeKind.DOWNLOADER)
        if bound != bool(party) or (not bound and ":" in text):
            raise InvalidInput(f"scope {text[:40]!r}: only uploader and downloader scopes "
                               "name a party, and they must")
        return cls(kind, party_id(party, f"{kind.value} id") if bound else None)


STORAGE = Scope(ScopeKind.STORAGE)
OPERATOR = Scope(ScopeKind.OPERATOR)


def uploader(party: str) -> Scope:
    """The read-only scope of one uploader."""
    return Scope(ScopeKind.UPLOADER, party)


def downloader(party: str) -> Scope:
    """The read-only scope of one downloader."""
    return Scope(ScopeKind.DOWNLOADER, party)


def key_hash(key: str) -> bytes:
    """The stored form of a key."""
    return hashlib.sha256(key.encode("ascii")).digest()


def key_id_of(presented: str) -> str:
    """The id part of a presented key (AuthenticationFailed when it is not a key's shape)."""
    found = _KEY.fullmatch(presented)
    if found is None:
        raise AuthenticationFailed("the API key is malformed")
    return found.group(1)


def matches(presented: str, stored: StoredKey | None) -> bool:
    """Whether a presented key is the stored, unrevoked key (compared in constant time)."""
    expected = stored.key_hash if stored is not None else b"\0" * 32
    same = hmac.compare_digest(key_hash(presented), expected)
    return same and stored is not None and stored.revoked_at is None


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just made: the only time the whole key exists outside its holder."""

    key: str
    key_id: str
    scopes: tuple[Scope, ...]
    label: str

    def __repr__(self) -> str:  # never show the secret in a traceback or a log
        return f"NewKey(key_id={self.key_id!r}, scopes={[str(s) for s in self.scopes]})"


def _check_label(label: object) -> str:
    if not isinstance(label, str) or len(label) > _LABEL_MAX or not label.isprintable():
        raise InvalidInput(f"a key's label is at most {_LABEL_MAX} printable characters")
    return label


def create_key(
    ledger: LedgerStore, scopes: Iterable[str], label: str, now: int,
    token: Callable[[int], bytes] = secrets.token_bytes,
) -> NewKey:
    """Make a key with these scopes, store its hash, and return the key (shown once)."""
    parsed = tuple(dict.fromkeys(Scope.parse(s) for s in scopes))
    if not parsed:
        raise InvalidInput("a key needs at least one scope")
    _check_label(label)
    key_id = token(6).hex()
    secret = base64.urlsafe_b64encode(token(32)).rstrip(b"=").decode("ascii")
    key = f"{PREFIX}{key_id}_{secret}"
    stored = StoredKey(key_id, key_hash(key), tuple(str(s) for s in parsed), label, now, None)
    with ledger.write() as conn:
        serve_rows.insert_key(conn, stored)
    return NewKey(key, key_id, parsed, label)


def list_keys(ledger: LedgerStore) -> list[StoredKey]:
    """Every key ever made (hashes only), revoked ones included."""
    with ledger.read() as conn:
        return serve_rows.all_keys(conn)


def revoke_key(ledger: LedgerStore, key_id: str, now: int) -> None:
    """Revoke a key for good (revoking it again changes nothing)."""
    if not isinstance(key_id, str) or not re.fullmatch(r"[0-9a-f]{12}", key_id):
        raise InvalidInput("a key id is 12 hex digits (the part after bck_)")
    with ledger.write() as conn:
        if not serve_rows.revoke_key(conn, key_id, now):
            raise InvalidInput(f"no API key has the id {key_id}")


def load_key(ledger: LedgerStore, key_id: str) -> StoredKey | None:
    """The stored key with this id, if any."""
    with ledger.read() as conn:
        return serve_rows.key_by_id(conn, key_id)
