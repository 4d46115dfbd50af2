"""File terms history: one append-only row per change of a file's owner, price, size, cap, referrer.

Files registered before this revision get one ``recorded`` row with the
terms they have now, so every file's history replays to its terms.

Revision ID: 0003_file_terms
Revises: 0002_files
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0003_file_terms"
down_revision = "0002_files"
branch_labels = None
depends_on = None

APPEND_ONLY = "bitcache: the file terms history is append-only"
_REASONS = "('registered', 'imported', 'updated', 'transferred', 'recorded')"
_FIRST = "('registered', 'imported', 'recorded')"
_SIDE = ("uploader", "price_kind", "price_amount", "price_currency", "size", "cap", "referrer")

_SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER trg_file_term_changes_no_{verb.lower()} BEFORE {verb} ON file_term_changes
    BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"""
    for verb in ("UPDATE", "DELETE")
]
_PG_TRIGGERS = [
    f"""CREATE FUNCTION bitcache_terms_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION '{APPEND_ONLY}' USING ERRCODE = 'integrity_constraint_violation';
    END $$""",
    """CREATE TRIGGER trg_file_term_changes_append_only BEFORE UPDATE OR DELETE
    ON file_term_changes FOR EACH ROW EXECUTE FUNCTION bitcache_terms_append_only()""",
    """CREATE TRIGGER trg_file_term_changes_truncate BEFORE TRUNCATE ON file_term_changes
    FOR EACH STATEMENT EXECUTE FUNCTION bitcache_terms_append_only()""",
]


def _side(prefix: str, required: bool) -> list[sa.Column[object]]:
    return [
        sa.Column(f"{prefix}_uploader", sa.String(128), nullable=not required),
        sa.Column(f"{prefix}_price_kind", sa.String(16), nullable=not required),
        sa.Column(f"{prefix}_price_amount", sa.BigInteger, nullable=not required),
        sa.Column(f"{prefix}_price_currency", sa.String(3), nullable=True),
        sa.Column(f"{prefix}_size", sa.BigInteger, nullable=True),
        sa.Column(f"{prefix}_cap", sa.BigInteger, nullable=True),
        sa.Column(f"{prefix}_referrer", sa.String(128), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "file_term_changes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("file_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("changed_at", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        *_side("old", False),
        *_side("new", True),
        sa.CheckConstraint(f"reason IN {_REASONS}", name="ck_term_change_reason"),
        sa.CheckConstraint(
            f"(old_uploader IS NULL) = (reason IN {_FIRST})", name="ck_term_change_first"),
    )
    op.create_index("ix_file_term_changes_file", "file_term_changes", ["file_hash", "id"])
    op.create_index("ix_file_term_changes_time", "file_term_changes", ["changed_at"])
    new = ", ".join(f"new_{c}" for c in _SIDE)
    op.get_bind().execute(
        sa.text(
            f"INSERT INTO file_term_changes (file_hash, changed_at, reason, {new}) "
            "SELECT file_hash, :now, 'recorded', uploader, price_kind, price_amount, "
            "price_currency, size, download_cap, referrer FROM files "
            "ORDER BY registered_at, file_hash"
        ),
        {"now": time.time_ns() // 1000},
    )
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_TRIGGERS if dialect == "sqlite" else _PG_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_file_term_changes_time", table_name="file_term_changes")
    op.drop_index("ix_file_term_changes_file", table_name="file_term_changes")
    op.drop_table("file_term_changes")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS bitcache_terms_append_only() CASCADE")
