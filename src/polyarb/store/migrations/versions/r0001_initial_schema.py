"""Initial schema: every table of the store

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Exact money: NUMERIC on PostgreSQL, the decimal's text on SQLite (see polyarb.store.tables).
MONEY = sa.Numeric().with_variant(sa.String(64), "sqlite")


revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=256), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("dedup_key", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("event_id", name=op.f("uq_alerts_event_id")),
    )
    op.create_index("ix_alerts_ts_ns", "alerts", ["ts_ns"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=256), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("event_id", name=op.f("uq_audit_log_event_id")),
    )
    op.create_index("ix_audit_log_ts_ns", "audit_log", ["ts_ns"])
    op.create_table(
        "daily_pnl",
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("realized_pnl", MONEY, nullable=False),
        sa.Column("fees", MONEY, nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("mode", "day", "strategy", name=op.f("pk_daily_pnl")),
    )
    op.create_table(
        "errors",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_errors")),
        sa.UniqueConstraint("event_id", name=op.f("uq_errors_event_id")),
    )
    op.create_index("ix_errors_ts_ns", "errors", ["ts_ns"])
    op.create_table(
        "fills",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("fill_id", sa.String(length=128), nullable=False),
        sa.Column("client_order_id", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("market", sa.String(length=100), nullable=False),
        sa.Column("token_id", sa.String(length=100), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("size", MONEY, nullable=False),
        sa.Column("fee", MONEY, nullable=False),
        sa.Column("liquidity", sa.String(length=8), nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fills")),
        sa.UniqueConstraint("fill_id", name=op.f("uq_fills_fill_id")),
    )
    op.create_index("ix_fills_client_order_id", "fills", ["client_order_id"])
    op.create_index("ix_fills_market_ts_ns", "fills", ["market", "ts_ns"])
    op.create_index("ix_fills_strategy_ts_ns", "fills", ["strategy", "ts_ns"])
    op.create_index("ix_fills_ts_ns_id", "fills", ["ts_ns", "id"])
    op.create_table(
        "locked_sets",
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("lock_id", sa.String(length=128), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("market", sa.String(length=100), nullable=False),
        sa.Column("token_ids", sa.Text(), nullable=False),
        sa.Column("qty", MONEY, nullable=False),
        sa.Column("cost", MONEY, nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("mode", "lock_id", name=op.f("pk_locked_sets")),
    )
    op.create_table(
        "markets",
        sa.Column("condition_id", sa.String(length=100), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("slug", sa.String(length=256), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("neg_risk", sa.Boolean(), nullable=False),
        sa.Column("outcomes", sa.Text(), nullable=False),
        sa.Column("first_seen_ns", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("condition_id", name=op.f("pk_markets")),
    )
    op.create_table(
        "merges",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("merge_id", sa.String(length=128), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("market", sa.String(length=100), nullable=False),
        sa.Column("token_ids", sa.Text(), nullable=False),
        sa.Column("qty", MONEY, nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("tx_hash", sa.String(length=100), nullable=True),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merges")),
        sa.UniqueConstraint("merge_id", name=op.f("uq_merges_merge_id")),
    )
    op.create_index("ix_merges_ts_ns", "merges", ["ts_ns"])
    op.create_table(
        "meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_meta")),
    )
    op.create_table(
        "opportunities",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("opportunity_id", sa.String(length=128), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("market", sa.String(length=100), nullable=False),
        sa.Column("first_seen_ns", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ns", sa.BigInteger(), nullable=False),
        sa.Column("best_edge", MONEY, nullable=False),
        sa.Column("executable_size", MONEY, nullable=False),
        sa.Column("sightings", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("closed_ns", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opportunities")),
        sa.UniqueConstraint("opportunity_id", name=op.f("uq_opportunities_opportunity_id")),
    )
    op.create_index("ix_opportunities_last_seen_ns", "opportunities", ["last_seen_ns"])
    op.create_index("ix_opportunities_closed_ns", "opportunities", ["closed_ns"])
    op.create_index("ix_opportunities_first_seen_ns", "opportunities", ["first_seen_ns"])
    op.create_index(
        "ix_opportunities_strategy_first_seen_ns", "opportunities", ["strategy", "first_seen_ns"]
    )
    op.create_table(
        "order_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
        sa.UniqueConstraint(
            "client_id", "status", "seq", name=op.f("uq_order_events_client_id_status_seq")
        ),
    )
    op.create_index("ix_order_events_ts_ns", "order_events", ["ts_ns"])
    op.create_table(
        "orders",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("venue_id", sa.String(length=100), nullable=True),
        sa.Column("signal_id", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("market", sa.String(length=100), nullable=False),
        sa.Column("token_id", sa.String(length=100), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("size", MONEY, nullable=False),
        sa.Column("order_type", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("filled", MONEY, nullable=False),
        sa.Column("fees", MONEY, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("signed_payload", sa.Text(), nullable=True),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_orders")),
    )
    op.create_index("ix_orders_created_ns", "orders", ["created_ns"])
    op.create_index("ix_orders_status", "orders", ["status"])
    op.create_index("ix_orders_venue_id", "orders", ["venue_id"])
    op.create_table(
        "positions",
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("token_id", sa.String(length=100), nullable=False),
        sa.Column("market", sa.String(length=100), nullable=False),
        sa.Column("size", MONEY, nullable=False),
        sa.Column("cost", MONEY, nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("mode", "strategy", "token_id", name=op.f("pk_positions")),
    )
    op.create_table(
        "resolutions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resolution_id", sa.String(length=128), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("market", sa.String(length=100), nullable=False),
        sa.Column("winning_token_id", sa.String(length=100), nullable=False),
        sa.Column("token_ids", sa.Text(), nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resolutions")),
        sa.UniqueConstraint("resolution_id", name=op.f("uq_resolutions_resolution_id")),
    )
    op.create_index("ix_resolutions_ts_ns", "resolutions", ["ts_ns"])
    op.create_table(
        "risk_state",
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("kill_switch", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("updated_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("mode", name=op.f("pk_risk_state")),
    )
    op.create_table(
        "signals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("signal_id", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("market", sa.String(length=100), nullable=False),
        sa.Column("ts_ns", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("edge", MONEY, nullable=False),
        sa.Column("size", MONEY, nullable=False),
        sa.Column("cost", MONEY, nullable=False),
        sa.Column("fees", MONEY, nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
        sa.UniqueConstraint("signal_id", name=op.f("uq_signals_signal_id")),
    )
    op.create_index("ix_signals_strategy_ts_ns", "signals", ["strategy", "ts_ns"])
    op.create_index("ix_signals_ts_ns", "signals", ["ts_ns"])


def downgrade() -> None:
    op.drop_table("signals")
    op.drop_table("risk_state")
    op.drop_table("resolutions")
    op.drop_table("positions")
    op.drop_table("orders")
    op.drop_table("order_events")
    op.drop_table("opportunities")
    op.drop_table("meta")
    op.drop_table("merges")
    op.drop_table("markets")
    op.drop_table("locked_sets")
    op.drop_table("fills")
    op.drop_table("errors")
    op.drop_table("daily_pnl")
    op.drop_table("audit_log")
    op.drop_table("alerts")
