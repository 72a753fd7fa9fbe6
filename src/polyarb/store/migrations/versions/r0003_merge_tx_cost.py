"""merges.tx_cost: the on-chain transaction cost booked with a merge or lock

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

The paper ledger books CHAIN_TX_COST_USD with every merge (and every negRisk lock, whose redeem
is a transaction too); recovery rebuilds the ledger from the merges table, so the cost is stored
with the merge. Existing rows had no such cost: they get 0.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Exact money: NUMERIC on PostgreSQL, the decimal's text on SQLite (see polyarb.store.tables).
MONEY = sa.Numeric().with_variant(sa.String(64), "sqlite")

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("merges") as batch:
        batch.add_column(sa.Column("tx_cost", MONEY, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("merges") as batch:
        batch.drop_column("tx_cost")
