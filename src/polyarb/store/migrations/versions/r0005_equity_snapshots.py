"""Equity snapshots for the dashboard's equity curve

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Exact money: NUMERIC on PostgreSQL, the decimal's text on SQLite (see polyarb.store.tables).
MONEY = sa.Numeric().with_variant(sa.String(64), "sqlite")

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "equity_snapshots",
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("equity", MONEY, nullable=False),
        sa.Column("realized", MONEY, nullable=False),
        sa.Column("unrealized", MONEY, nullable=False),
        sa.Column("fees", MONEY, nullable=False),
        sa.Column("exposure", MONEY, nullable=False),
        sa.PrimaryKeyConstraint("mode", "ts_ns", name=op.f("pk_equity_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("equity_snapshots")
