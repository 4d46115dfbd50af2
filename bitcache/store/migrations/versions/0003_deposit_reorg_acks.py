"""Deposits: operators' acknowledgements of credited deposits that left the best chain.

Revision ID: 0003_deposit_reorg_acks
Revises: 0002_deposits
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_deposit_reorg_acks"
down_revision = "0002_deposits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deposit_reorg_acks",
        sa.Column("txid", sa.String(64), primary_key=True),
        sa.Column("vout", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("block_hash", sa.String(64), primary_key=True),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("acknowledged_at", sa.BigInteger, nullable=False),
        sa.ForeignKeyConstraint(["txid", "vout"], ["deposits.txid", "deposits.vout"]),
    )


def downgrade() -> None:
    op.drop_table("deposit_reorg_acks")
