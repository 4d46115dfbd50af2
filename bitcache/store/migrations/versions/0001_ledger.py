"""Ledger: accounts, entries, postings, journal head, and the invariant triggers.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = "bitcache: the journal is append-only (correct with a reversing entry)"
UNBALANCED = "bitcache: unbalanced entry (postings must sum to zero, at least two)"
LATE_POSTING = "bitcache: postings are written before their entry; an entry cannot gain postings"

_SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER trg_entries_balanced BEFORE INSERT ON entries
    WHEN (SELECT count(*) < 2 OR coalesce(sum(amount), 0) <> 0
          FROM postings WHERE entry_id = NEW.id)
    BEGIN SELECT RAISE(ABORT, '{UNBALANCED}'); END""",
    f"""CREATE TRIGGER trg_postings_early BEFORE INSERT ON postings
    WHEN NEW.entry_id <= (SELECT last_id FROM journal_head WHERE id = 1)
    BEGIN SELECT RAISE(ABORT, '{LATE_POSTING}'); END""",
    f"""CREATE TRIGGER trg_entries_after_head BEFORE INSERT ON entries
    WHEN NEW.id <= (SELECT last_id FROM journal_head WHERE id = 1)
    BEGIN SELECT RAISE(ABORT, '{LATE_POSTING}'); END""",
    f"""CREATE TRIGGER trg_head_forward BEFORE UPDATE ON journal_head
    WHEN NEW.last_id < OLD.last_id OR NEW.id <> OLD.id
    BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END""",
    f"""CREATE TRIGGER trg_head_no_delete BEFORE DELETE ON journal_head
    BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END""",
    *[
        f"""CREATE TRIGGER trg_{table}_no_{verb.lower()} BEFORE {verb} ON {table}
        BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"""
        for table in ("entries", "postings")
        for verb in ("UPDATE", "DELETE")
    ],
]

_PG_TRIGGERS = [
    f"""CREATE FUNCTION bitcache_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '{APPEND_ONLY}' USING ERRCODE = 'integrity_constraint_violation';
    END $$""",
    """CREATE TRIGGER trg_entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION bitcache_append_only()""",
    """CREATE TRIGGER trg_postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION bitcache_append_only()""",
    """CREATE TRIGGER trg_entries_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION bitcache_append_only()""",
    """CREATE TRIGGER trg_postings_truncate BEFORE TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION bitcache_append_only()""",
    f"""CREATE FUNCTION bitcache_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE n integer; total numeric;
    BEGIN
      SELECT count(*), coalesce(sum(amount), 0) INTO n, total
        FROM postings WHERE entry_id = NEW.id;
      IF n < 2 OR total <> 0 THEN
        RAISE EXCEPTION '{UNBALANCED}: entry %', NEW.id USING ERRCODE = 'check_violation';
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE CONSTRAINT TRIGGER trg_entries_balanced AFTER INSERT ON entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bitcache_entry_balanced()""",
    # statement-level, over the transition table: one check per bulk insert
    f"""CREATE FUNCTION bitcache_posting_early() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM new_rows
                 WHERE entry_id <= (SELECT last_id FROM journal_head WHERE id = 1)) THEN
        RAISE EXCEPTION '{LATE_POSTING}' USING ERRCODE = 'check_violation';
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER trg_postings_early AFTER INSERT ON postings
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bitcache_posting_early()""",
    f"""CREATE FUNCTION bitcache_posting_early_entry() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM new_rows
                 WHERE id <= (SELECT last_id FROM journal_head WHERE id = 1)) THEN
        RAISE EXCEPTION '{LATE_POSTING}' USING ERRCODE = 'check_violation';
      END IF;
      RETURN NULL;
    END $$""",
    f"""CREATE FUNCTION bitcache_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' OR NEW.last_id < OLD.last_id OR NEW.id <> OLD.id THEN
        RAISE EXCEPTION '{APPEND_ONLY}' USING ERRCODE = 'integrity_constraint_violation';
      END IF;
      RETURN NEW;
    END $$""",
    """CREATE TRIGGER trg_entries_early AFTER INSERT ON entries
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION bitcache_posting_early_entry()""",
    """CREATE TRIGGER trg_head_forward BEFORE UPDATE OR DELETE ON journal_head
    FOR EACH ROW EXECUTE FUNCTION bitcache_head_forward()""",
]


def _create_tables() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("debit_normal", sa.Boolean, nullable=False),
        sa.Column("limited", sa.Boolean, nullable=False),
        sa.Column("posted", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("pending_debits", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("pending_credits", sa.BigInteger, nullable=False, server_default="0"),
        sa.CheckConstraint(
            "pending_debits >= 0 AND pending_credits >= 0", name="ck_pending_nonneg"
        ),
        sa.CheckConstraint(
            "NOT limited OR (CASE WHEN debit_normal THEN posted - pending_credits "
            "ELSE -posted - pending_debits END) >= 0",
            name="ck_limit",
        ),
    )
    op.create_table(
        "entries",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.BigInteger, nullable=True),
        sa.Column("resolves", sa.BigInteger, nullable=True),
        sa.Column("reverses", sa.BigInteger, nullable=True),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("memo", sa.String(500), nullable=False),
        sa.Column("recorded_at", sa.BigInteger, nullable=False),
        sa.Column("content_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(32), nullable=False),
    )
    for col in ("resolves", "reverses"):
        op.create_index(
            f"ux_entries_{col}",
            "entries",
            [col],
            unique=True,
            sqlite_where=sa.text(f"{col} IS NOT NULL"),
            postgresql_where=sa.text(f"{col} IS NOT NULL"),
        )
    op.create_index(
        "ix_entries_open_pending",
        "entries",
        ["expires_at"],
        sqlite_where=sa.text("kind = 'pending'"),
        postgresql_where=sa.text("kind = 'pending'"),
    )
    op.create_table(
        "postings",
        sa.Column("entry_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("n", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("account_id", sa.Integer, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("file_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("balance_after", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_postings_account_entry", "postings", ["account_id", "entry_id"])
    op.create_table(
        "journal_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("last_id", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_hash", sa.LargeBinary(32), nullable=False),
    )


def upgrade() -> None:
    _create_tables()
    head = sa.table(
        "journal_head",
        sa.column("id", sa.Integer),
        sa.column("last_id", sa.BigInteger),
        sa.column("last_hash", sa.LargeBinary),
    )
    op.bulk_insert(head, [{"id": 1, "last_id": 0, "last_hash": bytes(32)}])
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_TRIGGERS if dialect == "sqlite" else _PG_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    for table in ("journal_head", "postings", "entries", "accounts"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        for fn in (
            "bitcache_append_only",
            "bitcache_entry_balanced",
            "bitcache_posting_early",
            "bitcache_posting_early_entry",
            "bitcache_head_forward",
        ):
            op.execute(f"DROP FUNCTION IF EXISTS {fn}() CASCADE")
