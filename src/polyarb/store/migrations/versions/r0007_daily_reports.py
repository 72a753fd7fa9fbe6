"""Daily P&L reports: one row per mode and UTC day, the key that makes the send happen once

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daily_reports",
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("chart", sa.String(length=512), nullable=False),
        sa.Column("alert_event_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("mode", "day", name=op.f("pk_daily_reports")),
    )


def downgrade() -> None:
    op.drop_table("daily_reports")
