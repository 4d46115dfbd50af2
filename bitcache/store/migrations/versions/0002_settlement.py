"""Settlement: payout addresses, settlements, versions, inputs, payees, job lock, change index.

Revision ID: 0002_settlement
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_settlement"
down_revision = "0001"
branch_labels = None
depends_on = None


def _addresses_and_settlements() -> None:
    op.create_table(
        "payout_addresses",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uploader", sa.String(128), nullable=False),
        sa.Column("address", sa.String(120), nullable=False),
        sa.Column("script_pubkey", sa.LargeBinary, nullable=False),
        sa.Column("script_type", sa.String(8), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_payout_addresses_uploader", "payout_addresses", ["uploader", "id"])
    op.create_table(
        "settlements",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("fee_rate", sa.BigInteger, nullable=False),
        sa.Column("created_height", sa.Integer, nullable=False),
        sa.Column("change_index", sa.Integer, nullable=False),
        sa.Column("anchor", sa.LargeBinary, nullable=True),
        sa.Column("broadcast_height", sa.Integer, nullable=True),
        sa.Column("confirmations", sa.Integer, nullable=False),
        sa.Column("confirmed_txid", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.String(500), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "settlement_versions",
        sa.Column("settlement_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("txid", sa.String(64), nullable=False, unique=True),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("fee_sat", sa.BigInteger, nullable=False),
        sa.Column("fee_rate", sa.BigInteger, nullable=False),
        sa.Column("created_height", sa.Integer, nullable=False),
    )


def _inputs_and_payouts() -> None:
    op.create_table(
        "settlement_inputs",
        sa.Column("settlement_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("n", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("txid", sa.String(64), nullable=False),
        sa.Column("vout", sa.Integer, nullable=False),
        sa.Column("value_sat", sa.BigInteger, nullable=False),
        sa.Column("script_pubkey", sa.LargeBinary, nullable=False),
        sa.Column("key_chain", sa.Integer, nullable=False),
        sa.Column("key_index", sa.Integer, nullable=False),
        sa.Column("confirmed", sa.Boolean, nullable=False),
        sa.Column("is_own_change", sa.Boolean, nullable=False),
        sa.Column("released", sa.Boolean, nullable=False),
    )
    op.create_index(
        "ux_settlement_inputs_open",
        "settlement_inputs",
        ["txid", "vout"],
        unique=True,
        sqlite_where=sa.text("NOT released"),
        postgresql_where=sa.text("NOT released"),
    )
    op.create_table(
        "settlement_payouts",
        sa.Column("settlement_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("uploader", sa.String(128), primary_key=True),
        sa.Column("script_pubkey", sa.LargeBinary, nullable=False),
        sa.Column("script_type", sa.String(8), nullable=False),
        sa.Column("payout_sat", sa.BigInteger, nullable=False),
        sa.Column("fee_share_msat", sa.BigInteger, nullable=False),
        sa.Column("pending_entry_id", sa.BigInteger, nullable=False),
        sa.Column("is_open", sa.Boolean, nullable=False),
    )
    op.create_index(
        "ux_settlement_payouts_open",
        "settlement_payouts",
        ["uploader"],
        unique=True,
        sqlite_where=sa.text("is_open"),
        postgresql_where=sa.text("is_open"),
    )


def _lock_and_change() -> None:
    lock = op.create_table(
        "settlement_lock",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    change = op.create_table(
        "wallet_change",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("next_index", sa.Integer, nullable=False),
    )
    op.bulk_insert(
        lock, [{"name": "settlement", "owner": "", "host": "", "pid": 0, "expires_at": 0}]
    )
    op.bulk_insert(change, [{"id": 1, "next_index": 0}])


def upgrade() -> None:
    _addresses_and_settlements()
    _inputs_and_payouts()
    _lock_and_change()


def downgrade() -> None:
    for table in (
        "wallet_change",
        "settlement_lock",
        "settlement_payouts",
        "settlement_inputs",
        "settlement_versions",
        "settlements",
        "payout_addresses",
    ):
        op.drop_table(table)
