"""The file registry on the database, and the per-file queries over the journal.

Every function takes a connection: the services call them inside the
ledger's write transaction (:meth:`LedgerStore.write`) so registry rows
(download counters, hold state) commit atomically with ledger entries.

Per-file journal queries go through the postings' ``(account_id, entry_id)``
index: they start from an account (an uploader's payable, a held account)
and filter on the posting's file hash. Only entries that move money count:
a pending reservation or its void repeats postings without moving them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Connection,
    Index,
    LargeBinary,
    String,
    text,
)
from sqlmodel import Field, SQLModel

from bitcache.core.balances import Balance
from bitcache.core.filehash import FileHash
from bitcache.core.files import FileRecord
from bitcache.core.pricing import PriceKind, PriceRule
from bitcache.store import rows
from bitcache.store.driver import execute_many, fetch_in, fetch_in_each, run
from bitcache.store.rows import MOVING_SQL


class FileRow(SQLModel, table=True):
    """A registered file; ``downloads`` never exceeds ``download_cap`` (a database check too)."""

    __tablename__ = "files"
    __table_args__ = (
        CheckConstraint("downloads >= 0", name="ck_files_downloads_nonneg"),
        CheckConstraint("download_cap IS NULL OR downloads <= download_cap", name="ck_files_cap"),
        Index("ix_files_uploader", "uploader"),
    )

    file_hash: bytes = Field(sa_column=Column(LargeBinary(32), primary_key=True))
    uploader: str = Field(sa_column=Column(String(128), nullable=False))
    price_kind: str = Field(sa_column=Column(String(16), nullable=False))
    price_amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    price_currency: str | None = Field(default=None, sa_column=Column(String(3), nullable=True))
    size: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    download_cap: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    referrer: str | None = Field(default=None, sa_column=Column(String(128), nullable=True))
    downloads: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    held: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    hold_key: str | None = Field(default=None, sa_column=Column(String(200), nullable=True))
    registered_at: int = Field(sa_column=Column(BigInteger, nullable=False))


_COLUMNS = (
    "file_hash, uploader, price_kind, price_amount, price_currency, size, download_cap, "
    "referrer, downloads, held, hold_key"
)


@functools.lru_cache(maxsize=4096)
def _price(kind: str, amount: int, currency: str | None) -> PriceRule:
    """The (frozen, validated) price rule of a stored row, built once per distinct price."""
    return PriceRule(PriceKind(kind), amount, currency)


def _record(row: Sequence[Any]) -> FileRecord:
    fh, uploader, kind, amount, currency, size, cap, referrer, downloads, held, hold_key = row
    return FileRecord(
        file_hash=FileHash(bytes(fh)),
        uploader=str(uploader),
        price=_price(str(kind), int(amount), None if currency is None else str(currency)),
        size=None if size is None else int(size),
        cap=None if cap is None else int(cap),
        referrer=None if referrer is None else str(referrer),
        downloads=int(downloads),
        held=bool(held),
        hold_key=None if hold_key is None else str(hold_key),
    )


_FILES_SQL = f"SELECT {_COLUMNS} FROM files WHERE file_hash IN ({{}})"


def get_files(conn: Connection, hashes: Iterable[bytes]) -> dict[bytes, FileRecord]:
    """The registered files among ``hashes``."""
    return _file_map(fetch_in(conn, _FILES_SQL, list(hashes)))


def _file_map(found: Sequence[Sequence[Any]]) -> dict[bytes, FileRecord]:
    records = [_record(row) for row in found]
    return {r.file_hash: r for r in records}


_BALANCES_SQL = (
    "SELECT name, posted, pending_debits, pending_credits FROM accounts WHERE name IN ({})")


def charge_state(
    conn: Connection, hashes: Iterable[bytes], keys: Sequence[str], accounts: Iterable[str]
) -> tuple[dict[bytes, FileRecord], dict[str, tuple[int, bytes]], dict[str, Balance]]:
    """What admitting a batch of charges reads under the writer lock: the files, the keys
    already recorded (key -> entry id, content hash) and the balances of the existing
    accounts among ``accounts`` — on PostgreSQL in one round trip."""
    files, keys_found, balances = fetch_in_each(
        conn, [(_FILES_SQL, list(hashes)), (rows.KEYS_SQL, keys), (_BALANCES_SQL, list(accounts))])
    return _file_map(files), rows.key_map(keys_found), {
        str(n): Balance(int(p), int(d), int(c)) for n, p, d, c in balances}


def get_file(conn: Connection, fh: bytes) -> FileRecord | None:
    """One registered file, or None."""
    return get_files(conn, [fh]).get(fh)


def insert_files(conn: Connection, records: Sequence[FileRecord], now: int) -> None:
    """Register new files (the caller checked they are not registered)."""
    if not records:
        return
    conn.execute(
        text(
            "INSERT INTO files (file_hash, uploader, price_kind, price_amount, price_currency, "
            "size, download_cap, referrer, downloads, held, hold_key, registered_at) VALUES "
            "(:fh, :up, :pk, :pa, :pc, :sz, :cap, :ref, 0, :held, NULL, :now)"
        ),
        [
            {
                "fh": r.file_hash,
                "up": r.uploader,
                "pk": r.price.kind.value,
                "pa": r.price.amount,
                "pc": r.price.currency,
                "sz": r.size,
                "cap": r.cap,
                "ref": r.referrer,
                "held": False,
                "now": now,
            }
            for r in records
        ],
    )


def update_terms(conn: Connection, rec: FileRecord) -> None:
    """Store a file's owner, price, size, cap and referrer (owner update or transfer)."""
    conn.execute(
        text(
            "UPDATE files SET uploader = :up, price_kind = :pk, price_amount = :pa, "
            "price_currency = :pc, size = :sz, download_cap = :cap, referrer = :ref "
            "WHERE file_hash = :fh"
        ),
        {
            "fh": rec.file_hash,
            "up": rec.uploader,
            "pk": rec.price.kind.value,
            "pa": rec.price.amount,
            "pc": rec.price.currency,
            "sz": rec.size,
            "cap": rec.cap,
            "ref": rec.referrer,
        },
    )


def add_downloads(conn: Connection, counts: dict[bytes, int]) -> None:
    """Count downloads (the database refuses a count above the file's cap)."""
    if not counts:
        return
    if conn.dialect.name == "postgresql":  # one statement (and it can be pipelined)
        run(conn, "UPDATE files SET downloads = downloads + v.n FROM unnest(?::bytea[], "
                  "?::bigint[]) AS v(f, n) WHERE files.file_hash = v.f",
            (list(counts), list(counts.values())))
        return
    execute_many(
        conn,
        "UPDATE files SET downloads = downloads + ? WHERE file_hash = ?",
        [(n, fh) for fh, n in counts.items()],
    )


def set_hold(conn: Connection, fh: bytes, held: bool, key: str) -> None:
    """Record a hold placed or resolved, and the event key that did it."""
    conn.execute(
        text("UPDATE files SET held = :held, hold_key = :key WHERE file_hash = :fh"),
        {"fh": fh, "held": held, "key": key},
    )


def held_files(conn: Connection) -> list[tuple[FileRecord, int | None]]:
    """Files under a takedown hold, with when the hold was booked (µs; None if its entry
    is not found), oldest hold first."""
    found = conn.execute(
        text(
            f"SELECT {', '.join('f.' + c.strip() for c in _COLUMNS.split(','))}, e.recorded_at "
            "FROM files f LEFT JOIN entries e ON e.key = f.hold_key "
            "WHERE f.held ORDER BY e.recorded_at, f.file_hash"
        )
    ).all()
    return [(_record(tuple(r)[:-1]), None if r[-1] is None else int(r[-1])) for r in found]


def file_credits(conn: Connection, account_id: int, fh: bytes) -> int:
    """Net credit that entries tagged with file ``fh`` gave one (credit-normal) account."""
    total = conn.execute(
        text(
            "SELECT coalesce(sum(p.amount), 0) FROM postings p JOIN entries e ON e.id = p.entry_id "
            f"WHERE p.account_id = :a AND p.file_hash = :fh AND e.kind IN {MOVING_SQL}"
        ),
        {"a": account_id, "fh": fh},
    ).scalar_one()
    return -int(total)


def payers(conn: Connection, account_ids: Sequence[int], fh: bytes) -> list[tuple[str, int]]:
    """Downloaders' prepaid accounts and the net msat each paid for ``fh``.

    The entries are those that credited one of ``account_ids`` (the uploader's
    payable, the held account) for the file; within them, the file-tagged
    postings to prepaid accounts are what each downloader paid (refunds and
    reversals net out). Accounts in name order, positive amounts only.
    """
    marks = ", ".join(f":a{i}" for i in range(len(account_ids)))
    found = conn.execute(
        text(
            "SELECT a.name, sum(d.amount) FROM postings d "
            "JOIN accounts a ON a.id = d.account_id "
            "WHERE d.file_hash = :fh AND substr(a.name, 1, 18) = 'liability:prepaid:' "
            "AND d.entry_id IN (SELECT DISTINCT c.entry_id FROM postings c "
            "JOIN entries e ON e.id = c.entry_id "
            f"WHERE c.account_id IN ({marks}) AND c.file_hash = :fh AND e.kind IN {MOVING_SQL}) "
            "GROUP BY a.name ORDER BY a.name"
        ),
        {"fh": fh, **{f"a{i}": a for i, a in enumerate(account_ids)}},
    )
    return [(str(name), int(paid)) for name, paid in found if int(paid) > 0]


@dataclass(frozen=True, slots=True)
class FileEarnings:
    """What one file earned an account over a period."""

    file_hash: FileHash
    downloads: int
    msat: int

    @property
    def hex(self) -> str:
        return self.file_hash.hex()


_EARNING_KEYS = "(substr(e.key, 1, 3) = 'dl:' OR substr(e.key, 1, 10) = 'xfer-post:')"


def _period(since: int | None, until: int | None) -> tuple[str, dict[str, int]]:
    clauses, params = [], {}
    if since is not None:
        clauses.append("e.recorded_at >= :since")
        params["since"] = since
    if until is not None:
        clauses.append("e.recorded_at < :until")
        params["until"] = until
    return "".join(f" AND {c}" for c in clauses), params


def earnings(
    conn: Connection,
    account_ids: Sequence[int],
    *,
    since: int | None = None,
    until: int | None = None,
    limit: int | None = None,
) -> list[FileEarnings]:
    """Per file, downloads and msat credited to ``account_ids`` by downloads and tips.

    Counts download charges (one-step and completed transfers) and tips
    recorded in ``[since, until)`` (µs); hold moves are not earnings.
    Largest first, then by file hash.
    """
    if not account_ids:
        return []
    where, params = _period(since, until)
    marks = ", ".join(f":a{i}" for i in range(len(account_ids)))
    params.update({f"a{i}": a for i, a in enumerate(account_ids)})
    sql = (
        f"SELECT p.file_hash, count(DISTINCT CASE WHEN {_EARNING_KEYS} THEN e.id END), "
        "-sum(p.amount) AS earned FROM postings p JOIN entries e ON e.id = p.entry_id "
        f"WHERE p.account_id IN ({marks}) AND p.file_hash IS NOT NULL "
        f"AND e.kind IN ('posted', 'post_pending') AND p.amount < 0 "
        f"AND ({_EARNING_KEYS} OR substr(e.key, 1, 4) = 'tip:'){where} "
        "GROUP BY p.file_hash ORDER BY earned DESC, p.file_hash"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    found = conn.execute(text(sql), params)
    return [FileEarnings(FileHash(bytes(fh)), int(n), int(m)) for fh, n, m in found]


def account_ids_with_prefix(conn: Connection, prefix: str) -> list[int]:
    """Ids of the accounts whose name starts with ``prefix``."""
    found = conn.execute(
        text("SELECT id FROM accounts WHERE substr(name, 1, :n) = :p"),
        {"n": len(prefix), "p": prefix},
    )
    return [int(r[0]) for r in found]


def entry_ids_with_key_prefix(conn: Connection, prefix: str) -> list[int]:
    """Ids of the entries whose idempotency key starts with ``prefix`` (a key range scan)."""
    found = conn.execute(
        text("SELECT id FROM entries WHERE key >= :lo AND key < :hi ORDER BY id"),
        {"lo": prefix, "hi": prefix + "\U0010ffff"},
    )
    return [int(r[0]) for r in found]


def balances_after(conn: Connection, entry_ids: Sequence[int]) -> dict[int, int]:
    """The posted balance of each entry's first posting's account right after it."""
    found = fetch_in(
        conn, "SELECT entry_id, balance_after FROM postings WHERE n = 0 AND entry_id IN ({})",
        entry_ids)
    return {int(e): int(b) for e, b in found}


def balances(conn: Connection, names: Iterable[str]) -> dict[str, tuple[int, int]]:
    """``(posted, pending_debits)`` of the existing accounts among ``names``."""
    found = fetch_in(
        conn, "SELECT name, posted, pending_debits FROM accounts WHERE name IN ({})",
        list(names))
    return {str(n): (int(posted), int(pd)) for n, posted, pd in found}


def available(conn: Connection, names: Iterable[str]) -> dict[str, int]:
    """Available balance of existing credit-normal accounts (pending debits count as gone)."""
    return {n: -posted - pd for n, (posted, pd) in balances(conn, names).items()}


def account_id(conn: Connection, name: str) -> int | None:
    """The id of an account, or None when it was never opened."""
    found = conn.execute(text("SELECT id FROM accounts WHERE name = :n"), {"n": name}).first()
    return None if found is None else int(found[0])
