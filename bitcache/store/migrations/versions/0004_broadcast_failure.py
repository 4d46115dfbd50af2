"""Settlements keep why their last broadcast failed, and since when.

``broadcast_failure`` ('' while the last broadcast went through, else
'refused' or 'unreachable'), ``broadcast_error`` (the node's reason, or the
backend's error) and ``broadcast_failed_since`` (the tip height at the first
failure in a row), so a settlement that is not moving can be shown.

Revision ID: 0004_broadcast_failure
Revises: 0003_coin_parents
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_broadcast_failure"
down_revision = "0003_coin_parents"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "settlements",
        sa.Column("broadcast_failure", sa.String(16), nullable=False, server_default=""),
    )
    op.add_column(
        "settlements",
        sa.Column("broadcast_error", sa.String(500), nullable=False, server_default=""),
    )
    op.add_column("settlements", sa.Column("broadcast_failed_since", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("settlements") as batch:
        batch.drop_column("broadcast_failed_since")
        batch.drop_column("broadcast_error")
        batch.drop_column("broadcast_failure")
