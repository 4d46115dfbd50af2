"""The history of file terms on the database: one append-only row per change.

Every change of a file's owner, price, size, cap or referrer is a row with
its time, reason, and the terms before and after (the columns ``old_*`` are
NULL for the change that starts a file's history). The registry writes a
row in the same transaction as the change itself; triggers refuse UPDATE
and DELETE, so the history can only grow.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Column, Connection, Index, LargeBinary, String
from sqlmodel import Field, SQLModel

from bitcache.core.filehash import FileHash
from bitcache.core.files import FileTerms
from bitcache.core.pricing import PriceKind, PriceRule
from bitcache.core.terms import TermChange, TermsReason
from bitcache.store.driver import execute_many, fetch_all

REASONS_SQL = "(" + ", ".join(f"'{r.value}'" for r in TermsReason) + ")"
FIRST_SQL = "(" + ", ".join(f"'{r.value}'" for r in TermsReason if r.first) + ")"


class FileTermChangeRow(SQLModel, table=True):
    """One change of a file's terms. Append-only: triggers refuse UPDATE and DELETE."""

    __tablename__ = "file_term_changes"
    __table_args__ = (
        CheckConstraint(f"reason IN {REASONS_SQL}", name="ck_term_change_reason"),
        CheckConstraint(
            f"(old_uploader IS NULL) = (reason IN {FIRST_SQL})", name="ck_term_change_first"),
        Index("ix_file_term_changes_file", "file_hash", "id"),
        Index("ix_file_term_changes_time", "changed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    file_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    changed_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    reason: str = Field(sa_column=Column(String(16), nullable=False))
    old_uploader: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    old_price_kind: str | None = Field(default=None, sa_column=Column(String(16), nullable=True))
    old_price_amount: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    old_price_currency: str | None = Field(default=None, sa_column=Column(String(3), nullable=True))
    old_size: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    old_cap: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    old_referrer: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    new_uploader: str = Field(sa_column=Column(String(128), nullable=False))
    new_price_kind: str = Field(sa_column=Column(String(16), nullable=False))
    new_price_amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    new_price_currency: str | None = Field(default=None, sa_column=Column(String(3), nullable=True))
    new_size: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    new_cap: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    new_referrer: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))


_SIDE = ("uploader", "price_kind", "price_amount", "price_currency", "size", "cap", "referrer")
_COLUMNS = ", ".join(
    ["id", "file_hash", "changed_at", "reason"]
    + [f"{side}_{c}" for side in ("old", "new") for c in _SIDE]
)


def _values(terms: FileTerms | None) -> tuple[object, ...]:
    if terms is None:
        return (None,) * len(_SIDE)
    p = terms.price
    return (terms.uploader, p.kind.value, p.amount, p.currency, terms.size, terms.cap,
            terms.referrer)


def record_changes(
    conn: Connection,
    changes: Sequence[tuple[bytes, TermsReason, FileTerms | None, FileTerms]],
    now: int,
) -> None:
    """Append ``(file hash, reason, old terms, new terms)`` changes made at ``now`` (µs)."""
    if not changes:
        return
    marks = ", ".join("?" * (3 + 2 * len(_SIDE)))
    execute_many(
        conn,
        f"INSERT INTO file_term_changes ({_COLUMNS.removeprefix('id, ')}) VALUES ({marks})",
        [(fh, now, reason.value, *_values(old), *_values(new))
         for fh, reason, old, new in changes],
    )


def _terms(row: Sequence[Any]) -> FileTerms | None:
    uploader, kind, amount, currency, size, cap, referrer = row
    if uploader is None:
        return None
    currency = None if currency is None else str(currency)
    price = PriceRule(PriceKind(str(kind)), int(amount), currency)
    return FileTerms(
        str(uploader), price, None if size is None else int(size),
        None if cap is None else int(cap), None if referrer is None else str(referrer))


def _change(row: Sequence[Any]) -> TermChange:
    n = len(_SIDE)
    new = _terms(row[4 + n:])
    assert new is not None  # the column is NOT NULL
    return TermChange(int(row[0]), FileHash(bytes(row[1])), int(row[2]), TermsReason(row[3]),
                      _terms(row[4:4 + n]), new)


def history(conn: Connection, fh: bytes) -> list[TermChange]:
    """Every change of one file's terms, oldest first."""
    found = fetch_all(
        conn, f"SELECT {_COLUMNS} FROM file_term_changes WHERE file_hash = ? ORDER BY id", (fh,))
    return [_change(row) for row in found]


def changes_of_party(
    conn: Connection, party: str, since: int | None = None, until: int | None = None
) -> list[TermChange]:
    """Changes in ``[since, until)`` µs of files ``party`` owned or referred before or after."""
    clauses = ["(old_uploader = ? OR new_uploader = ? OR old_referrer = ? OR new_referrer = ?)"]
    params: list[object] = [party] * 4
    if since is not None:
        clauses.append("changed_at >= ?")
        params.append(since)
    if until is not None:
        clauses.append("changed_at < ?")
        params.append(until)
    found = fetch_all(
        conn,
        f"SELECT {_COLUMNS} FROM file_term_changes WHERE {' AND '.join(clauses)} ORDER BY id",
        params,
    )
    return [_change(row) for row in found]
