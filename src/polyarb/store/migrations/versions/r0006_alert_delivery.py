"""Alert delivery: what became of each alert's Slack post, so undelivered ones are retried

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(
            sa.Column("delivery", sa.String(length=16), nullable=False, server_default="none")
        )
        batch.add_column(sa.Column("delivered_ns", sa.BigInteger(), nullable=True))
        batch.create_index("ix_alerts_delivery", ["delivery"])


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index("ix_alerts_delivery")
        batch.drop_column("delivered_ns")
        batch.drop_column("delivery")
