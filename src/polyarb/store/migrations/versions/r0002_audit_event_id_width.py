"""audit_log.event_id wide enough for any command's id: 64 -> 512 characters

A command's audit row is keyed ``command-<command id>-<engine instance id>``; with a long
``INSTANCE_ID`` (host names, container ids) that passed 64 characters and PostgreSQL refused the
row (SQLite does not enforce the width). Command ids are at most 128 characters and the key is
bounded by ``audit_event_id`` (hashed past 512), so 512 always fits.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column(
            "event_id",
            existing_type=sa.String(length=64),
            type_=sa.String(length=512),
            existing_nullable=False,
        )


def downgrade() -> None:
    # Rows with a longer key would not fit back: refuse rather than truncate an audit trail.
    bind = op.get_bind()
    longest = bind.execute(sa.text("SELECT MAX(LENGTH(event_id)) FROM audit_log")).scalar()
    if longest is not None and longest > 64:
        raise RuntimeError(
            "audit_log holds event ids longer than 64 characters: cannot downgrade below 0002"
        )
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column(
            "event_id",
            existing_type=sa.String(length=512),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
