"""Settlement: copies of the transactions that created settlement inputs.

Revision ID: 0003_coin_parents
Revises: 0002_settlement
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_coin_parents"
down_revision = "0002_settlement"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "coin_parents",
        sa.Column("txid", sa.String(64), primary_key=True),
        sa.Column("raw", sa.LargeBinary, nullable=False),
        sa.Column("stored_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("coin_parents")
