"""resolutions.tx_cost: the redeem transaction's gas booked with a live resolution

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

A live resolution is booked when its redeem is mined, and the redeem's gas (gasUsed x
effectiveGasPrice x CHAIN_POL_USD) is booked with it; recovery rebuilds the ledger from the
resolutions table, so the cost is stored with the resolution. Existing rows had none: 0.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Exact money: NUMERIC on PostgreSQL, the decimal's text on SQLite (see polyarb.store.tables).
MONEY = sa.Numeric().with_variant(sa.String(64), "sqlite")

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("resolutions") as batch:
        batch.add_column(sa.Column("tx_cost", MONEY, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("resolutions") as batch:
        batch.drop_column("tx_cost")
