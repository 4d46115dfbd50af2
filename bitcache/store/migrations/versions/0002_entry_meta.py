"""Entries carry typed metadata: ``meta`` (canonical text) and ``content_version``.

A charge's parts, bytes served, file size and fiat rate were written only in
its memo. New entries store them in ``meta`` (see
:mod:`bitcache.core.entrymeta`) with ``content_version`` 2: their hash
covers the metadata. Entries already recorded keep ``content_version`` 1 and
their hash (issued statements and signed tree heads stay valid); their
``meta`` is filled in here from their memo, which their hash does cover.
The journal is append-only, so the update runs with the entries' update
guard lifted, inside this migration's transaction, and the guard is put back.

Revision ID: 0002_entry_meta
Revises: 0001
"""

from __future__ import annotations

from fractions import Fraction

import sqlalchemy as sa
from alembic import op

from bitcache.core.entrymeta import EntryMeta, check_meta, encode_meta
from bitcache.core.pricing import Rate
from bitcache.errors import InvalidMetadata

revision = "0002_entry_meta"
down_revision = "0001"
branch_labels = None
depends_on = None

APPEND_ONLY = "bitcache: the journal is append-only (correct with a reversing entry)"
_SQLITE_GUARD = f"""CREATE TRIGGER trg_entries_no_update BEFORE UPDATE ON entries
        BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"""
_CHARGES = (
    "SELECT e.id, e.memo, (SELECT count(*) FROM postings p WHERE p.entry_id = e.id) "
    "FROM entries e WHERE e.memo LIKE 'parts=%'"
)


def _number(fields: dict[str, str], name: str) -> int | None:
    value = fields.get(name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()):
        raise InvalidMetadata(f"{name}={value!r} is not a number")
    return int(value)


def _rate(memo: str) -> Rate | None:
    """The rate of a memo field ``rate <currency> <n>[/<d>] msat per minor unit``."""
    found = [f for f in memo.split("; ") if f.startswith("rate ")]
    if not found:
        return None
    words = found[0].split(" ")
    if len(words) != 7 or words[3:] != ["msat", "per", "minor", "unit"]:
        raise InvalidMetadata(f"{found[0]!r} is not a recorded rate")
    num, _, den = words[2].partition("/")
    if not (num.isdigit() and (den or "1").isdigit() and int(den or "1") > 0):
        raise InvalidMetadata(f"{found[0]!r} is not a recorded rate")
    return Rate(words[1], Fraction(int(num), int(den or "1")))


def meta_of_memo(memo: str, postings: int) -> str | None:
    """The canonical metadata of a charge memo (``parts=…; bytes=…; size=…; rate …``),
    or None when the memo is not one a charge wrote."""
    fields = dict(f.split("=", 1) for f in memo.split("; ") if "=" in f)
    try:
        meta = check_meta(EntryMeta(fields.get("parts", ""), _number(fields, "bytes"),
                                    _number(fields, "size"), _rate(memo)))
    except InvalidMetadata:
        return None
    if len(meta.parts) != postings - 1 or meta.memo() != memo:
        return None
    return encode_meta(meta)


def _backfill(conn: sa.Connection) -> None:
    found = conn.execute(sa.text(_CHARGES)).all()
    metas = [(meta_of_memo(str(memo), int(n)), int(eid)) for eid, memo, n in found]
    rows = [{"meta": meta, "id": eid} for meta, eid in metas if meta is not None]
    if rows:
        conn.execute(sa.text("UPDATE entries SET meta = :meta WHERE id = :id"), rows)


def upgrade() -> None:
    op.add_column("entries", sa.Column("meta", sa.String(500), nullable=True))
    op.add_column(
        "entries",
        sa.Column("content_version", sa.SmallInteger, nullable=False, server_default="1"),
    )
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        op.execute("DROP TRIGGER trg_entries_no_update")
        _backfill(conn)
        op.execute(_SQLITE_GUARD)
    else:
        op.execute("ALTER TABLE entries DISABLE TRIGGER trg_entries_append_only")
        _backfill(conn)
        op.execute("ALTER TABLE entries ENABLE TRIGGER trg_entries_append_only")


def downgrade() -> None:
    op.execute("ALTER TABLE entries DROP COLUMN content_version")
    op.execute("ALTER TABLE entries DROP COLUMN meta")
