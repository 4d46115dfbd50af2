"""SQLModel table classes of the ledger.

Table models are separate from the core's frozen dataclasses; the store
modules turn rows into core objects and back. The schema itself is created
by the alembic migrations in ``bitcache/store/migrations``; a test checks
that the migrated schema and these models agree.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, LargeBinary, SmallInteger, text
from sqlmodel import Field, SQLModel

#: One metadata for every bitcache table.
metadata = SQLModel.metadata


class AccountRow(SQLModel, table=True):
    """An account and its maintained balance (so a balance read is one row)."""

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("pending_debits >= 0 AND pending_credits >= 0", name="ck_pending_nonneg"),
        CheckConstraint(
            "NOT limited OR (CASE WHEN debit_normal THEN posted - pending_credits "
            "ELSE -posted - pending_debits END) >= 0",
            name="ck_limit",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    kind: str = Field(max_length=16)
    debit_normal: bool
    limited: bool
    posted: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    pending_debits: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    pending_credits: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class EntryRow(SQLModel, table=True):
    """A journal entry header. Append-only: triggers refuse UPDATE and DELETE."""

    __tablename__ = "entries"
    __table_args__ = (
        *(
            Index(
                f"ux_entries_{col}",
                col,
                unique=True,
                sqlite_where=text(f"{col} IS NOT NULL"),
                postgresql_where=text(f"{col} IS NOT NULL"),
            )
            for col in ("resolves", "reverses")
        ),
        Index(
            "ix_entries_open_pending",
            "expires_at",
            sqlite_where=text("kind = 'pending'"),
            postgresql_where=text("kind = 'pending'"),
        ),
    )

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    key: str = Field(max_length=200, unique=True)
    kind: str = Field(max_length=16)
    ref: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    resolves: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    reverses: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    expires_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    memo: str = Field(default="", max_length=500)
    recorded_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    content_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    prev_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    entry_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    #: A charge's typed metadata, canonical text (``bitcache.core.entrymeta``), or NULL.
    meta: str | None = Field(default=None, max_length=500)
    #: The content layout the hash covers: 2 includes ``meta``, 1 does not.
    content_version: int = Field(
        sa_column=Column(SmallInteger, nullable=False, server_default=text("1"))
    )


class PostingRow(SQLModel, table=True):
    """One posting, with the account's posted balance after it (for as-of queries)."""

    __tablename__ = "postings"
    __table_args__ = (
        Index("ix_postings_account_entry", "account_id", "entry_id"),
        {"sqlite_with_rowid": False},
    )

    entry_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    n: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    account_id: int = Field(nullable=False)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    file_hash: bytes | None = Field(default=None, sa_column=Column(LargeBinary(32), nullable=True))
    balance_after: int = Field(sa_column=Column(BigInteger, nullable=False))


class JournalHeadRow(SQLModel, table=True):
    """The single row holding the chain head; writers lock it to serialise the chain."""

    __tablename__ = "journal_head"

    id: int = Field(default=1, primary_key=True)
    last_id: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    last_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))


from bitcache.store import deposits as _deposits  # noqa: E402,F401
from bitcache.store import files as _files  # noqa: E402,F401
from bitcache.store import outbox as _outbox  # noqa: E402,F401
from bitcache.store import serve as _serve  # noqa: E402,F401
from bitcache.store import settlement as _settlement  # noqa: E402,F401
from bitcache.store import terms as _terms  # noqa: E402,F401
