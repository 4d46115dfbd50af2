"""The HTTP service: API keys (hashes only), idempotent requests, ranges paid by links.

Revision ID: 0002_serve
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_serve"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "serve_api_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("key_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("scopes", sa.String(1000), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "serve_requests",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("idempotency_key", sa.String(200), primary_key=True),
        sa.Column("fingerprint", sa.LargeBinary(32), nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("body", sa.Text, nullable=True),
    )
    op.create_table(
        "serve_link_ranges",
        sa.Column("link_id", sa.String(64), primary_key=True),
        sa.Column("file_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("downloader", sa.String(128), nullable=False),
        sa.Column("ranges", sa.String(2000), nullable=False),
        sa.Column("recorded_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("serve_link_ranges")
    op.drop_table("serve_requests")
    op.drop_table("serve_api_keys")
