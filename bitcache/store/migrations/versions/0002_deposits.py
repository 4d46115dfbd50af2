"""Deposits: address assignments, credited deposits, scan state.

Revision ID: 0002_deposits
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_deposits"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deposit_addresses",
        sa.Column("derivation_index", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("account", sa.String(200), nullable=False, unique=True),
        sa.Column("script_pubkey", sa.LargeBinary(64), nullable=False, unique=True),
        sa.Column("address", sa.String(100), nullable=False),
        sa.Column("assigned_at", sa.BigInteger, nullable=False),
        sa.CheckConstraint("derivation_index >= 0", name="ck_deposit_index"),
    )
    op.create_table(
        "deposits",
        sa.Column("txid", sa.String(64), primary_key=True),
        sa.Column("vout", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column(
            "derivation_index",
            sa.Integer,
            sa.ForeignKey("deposit_addresses.derivation_index"),
            nullable=False,
        ),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("value_sat", sa.BigInteger, nullable=False),
        sa.Column("block_hash", sa.String(64), nullable=False),
        sa.Column("block_height", sa.Integer, nullable=False),
        sa.Column(
            "entry_id", sa.BigInteger, sa.ForeignKey("entries.id"), nullable=False, unique=True
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("credited_at", sa.BigInteger, nullable=False),
        sa.CheckConstraint("value_sat > 0", name="ck_deposit_value"),
        sa.CheckConstraint("status IN ('credited', 'reorged')", name="ck_deposit_status"),
    )
    op.create_index("ix_deposits_status_height", "deposits", ["status", "block_height"])
    op.create_table(
        "deposit_scan_state",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("tip_height", sa.Integer, nullable=False),
        sa.Column("tip_hash", sa.String(64), nullable=False),
        sa.Column("scanned_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("deposit_scan_state", "deposits", "deposit_addresses"):
        op.drop_table(table)
