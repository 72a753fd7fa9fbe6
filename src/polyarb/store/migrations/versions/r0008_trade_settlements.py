"""Trade settlements: the latest on-chain status of each live trade and the fills it booked

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trade_settlements",
        sa.Column("trade_id", sa.String(length=128), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fill_ids", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("trade_id", name=op.f("pk_trade_settlements")),
    )
    op.create_index(
        "ix_trade_settlements_mode_status", "trade_settlements", ["mode", "status"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_trade_settlements_mode_status", table_name="trade_settlements")
    op.drop_table("trade_settlements")
