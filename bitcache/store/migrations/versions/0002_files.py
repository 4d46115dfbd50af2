"""File registry: the files table (owner, price rule, cap, referrer, download count, hold).

Revision ID: 0002_files
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_files"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("file_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("uploader", sa.String(128), nullable=False),
        sa.Column("price_kind", sa.String(16), nullable=False),
        sa.Column("price_amount", sa.BigInteger, nullable=False),
        sa.Column("price_currency", sa.String(3), nullable=True),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("download_cap", sa.BigInteger, nullable=True),
        sa.Column("referrer", sa.String(128), nullable=True),
        sa.Column("downloads", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("held", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("hold_key", sa.String(200), nullable=True),
        sa.Column("registered_at", sa.BigInteger, nullable=False),
        sa.CheckConstraint("downloads >= 0", name="ck_files_downloads_nonneg"),
        sa.CheckConstraint(
            "download_cap IS NULL OR downloads <= download_cap", name="ck_files_cap"
        ),
    )
    op.create_index("ix_files_uploader", "files", ["uploader"])


def downgrade() -> None:
    op.drop_index("ix_files_uploader", table_name="files")
    op.drop_table("files")
