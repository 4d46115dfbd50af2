"""The HTTP service's own rows: API keys, idempotent requests, and the ranges a link paid for.

* ``serve_api_keys``: one row per API key — its public id, the SHA-256 of
  the whole key (never the key itself), its scopes, a label, and when it was
  created and revoked. Revoking sets ``revoked_at``; rows are never deleted,
  so a key id is never reused.
* ``serve_requests``: the answer to each money-moving POST, by API key and
  ``Idempotency-Key``, with the fingerprint of its method, path and body. A
  row without a status is a request still running (or one whose process
  died: a later retry takes it over).
* ``serve_link_ranges``: the byte ranges the first charged use of a signed
  download link asked for, when that was a Range request. A whole-file
  charge needs no row: the ledger entry of the link says it.

Every function takes a connection; callers open the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, Integer, LargeBinary, String, Text
from sqlmodel import Field, SQLModel

from bitcache.store.driver import driver_sql, fetch_all


class ApiKeyRow(SQLModel, table=True):
    """An API key: its id, the SHA-256 of the key, its scopes (space separated)."""

    __tablename__ = "serve_api_keys"

    key_id: str = Field(sa_column=Column(String(32), primary_key=True))
    key_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    scopes: str = Field(sa_column=Column(String(1000), nullable=False))
    label: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    revoked_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class IdempotentRequestRow(SQLModel, table=True):
    """A money-moving request and, once it finished, its answer."""

    __tablename__ = "serve_requests"

    key_id: str = Field(sa_column=Column(String(32), primary_key=True))
    idempotency_key: str = Field(sa_column=Column(String(200), primary_key=True))
    fingerprint: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    started_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class LinkRangesRow(SQLModel, table=True):
    """The byte ranges a signed link's charge paid for (Range requests only)."""

    __tablename__ = "serve_link_ranges"

    link_id: str = Field(sa_column=Column(String(64), primary_key=True))
    file_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    downloader: str = Field(sa_column=Column(String(128), nullable=False))
    ranges: str = Field(sa_column=Column(String(2000), nullable=False))
    recorded_at: int = Field(sa_column=Column(BigInteger, nullable=False))


# -- API keys ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredKey:
    """An API key as stored: never the key, only its hash."""

    key_id: str
    key_hash: bytes
    scopes: tuple[str, ...]
    label: str
    created_at: int
    revoked_at: int | None


def _stored_key(row: Any) -> StoredKey:
    key_id, key_hash, scopes, label, created, revoked = row
    return StoredKey(str(key_id), bytes(key_hash), tuple(str(scopes).split()), str(label),
                     int(created), None if revoked is None else int(revoked))


_KEY_COLUMNS = "key_id, key_hash, scopes, label, created_at, revoked_at"


def insert_key(conn: Connection, key: StoredKey) -> None:
    """Store a new key (its id must be new)."""
    conn.exec_driver_sql(
        driver_sql(conn, f"INSERT INTO serve_api_keys ({_KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"),
        (key.key_id, key.key_hash, " ".join(key.scopes), key.label, key.created_at,
         key.revoked_at))


def key_by_id(conn: Connection, key_id: str) -> StoredKey | None:
    """The key with this id, revoked or not."""
    found = fetch_all(conn, f"SELECT {_KEY_COLUMNS} FROM serve_api_keys WHERE key_id = ?",
                      (key_id,))
    return _stored_key(found[0]) if found else None


def all_keys(conn: Connection) -> list[StoredKey]:
    """Every key, oldest first."""
    rows = fetch_all(conn, f"SELECT {_KEY_COLUMNS} FROM serve_api_keys "
                           "ORDER BY created_at, key_id")
    return [_stored_key(r) for r in rows]


def revoke_key(conn: Connection, key_id: str, now: int) -> bool:
    """Mark a key revoked at ``now`` (a revoked key stays revoked); False if unknown."""
    result = conn.exec_driver_sql(
        driver_sql(conn, "UPDATE serve_api_keys SET revoked_at = COALESCE(revoked_at, ?) "
                   "WHERE key_id = ?"), (now, key_id))
    return bool(result.rowcount)


# -- idempotent requests --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """A claimed request: its fingerprint, when it started, and its answer once done."""

    fingerprint: bytes
    started_at: int
    status: int | None
    body: str | None


def request_by_key(conn: Connection, key_id: str, idempotency_key: str) -> StoredRequest | None:
    """The request an API key sent with this ``Idempotency-Key``, if any."""
    found = fetch_all(
        conn, "SELECT fingerprint, started_at, status, body FROM serve_requests "
              "WHERE key_id = ? AND idempotency_key = ?", (key_id, idempotency_key))
    if not found:
        return None
    fingerprint, started, status, body = found[0]
    return StoredRequest(bytes(fingerprint), int(started),
                         None if status is None else int(status), body)


def start_request(
    conn: Connection, key_id: str, idempotency_key: str, fingerprint: bytes, now: int
) -> None:
    """Claim an ``Idempotency-Key`` for a running request (or take over a stale claim)."""
    conn.exec_driver_sql(
        driver_sql(conn, "DELETE FROM serve_requests WHERE key_id = ? AND idempotency_key = ? "
                   "AND status IS NULL"), (key_id, idempotency_key))
    conn.exec_driver_sql(
        driver_sql(conn, "INSERT INTO serve_requests (key_id, idempotency_key, fingerprint, "
                   "started_at) VALUES (?, ?, ?, ?)"),
        (key_id, idempotency_key, fingerprint, now))


def finish_request(
    conn: Connection, key_id: str, idempotency_key: str, status: int, body: str
) -> None:
    """Record the answer of a claimed request."""
    conn.exec_driver_sql(
        driver_sql(conn, "UPDATE serve_requests SET status = ?, body = ? "
                   "WHERE key_id = ? AND idempotency_key = ?"),
        (status, body, key_id, idempotency_key))


def drop_request(conn: Connection, key_id: str, idempotency_key: str) -> None:
    """Release the claim of a request that failed without an answer worth keeping."""
    conn.exec_driver_sql(
        driver_sql(conn, "DELETE FROM serve_requests WHERE key_id = ? AND idempotency_key = ? "
                   "AND status IS NULL"), (key_id, idempotency_key))


# -- link ranges ----------------------------------------------------------------------


def link_ranges(conn: Connection, link_id: str) -> str | None:
    """The ranges recorded for a link (``"0-99,200-299"``), if any."""
    found = fetch_all(conn, "SELECT ranges FROM serve_link_ranges WHERE link_id = ?",
                      (link_id,))
    return str(found[0][0]) if found else None


def record_link_ranges(
    conn: Connection, link_id: str, file_hash: bytes, downloader: str, ranges: str, now: int
) -> None:
    """Record a link's paid ranges unless some are recorded already (the first stays)."""
    if link_ranges(conn, link_id) is None:
        conn.exec_driver_sql(
            driver_sql(conn, "INSERT INTO serve_link_ranges (link_id, file_hash, downloader, "
                             "ranges, recorded_at) VALUES (?, ?, ?, ?, ?)"),
            (link_id, file_hash, downloader, ranges, now))
