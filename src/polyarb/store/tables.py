"""The database schema: one SQLAlchemy Core ``MetaData`` shared by the code and the migrations.

Conventions (the same on SQLite and PostgreSQL):

* money, prices and sizes are ``ExactDecimal``: unconstrained ``NUMERIC`` on PostgreSQL (exact, any
  scale) and the decimal's text on SQLite, whose numeric affinity would turn it into a binary float;
  sums over money are therefore done in Python with ``Decimal``, never in SQL;
* timestamps are integer nanoseconds since the Unix epoch (UTC) in ``BIGINT``; calendar days are
  ``DATE`` (UTC);
* every trading row carries the ``mode`` it was produced in (paper / log-only / live);
* every appended row has a natural unique key (fill id, client order id + status + sequence, event
  id ...) so that replaying a batch inserts nothing twice (``ON CONFLICT DO NOTHING``);
* no foreign keys between the trading tables: rows reach the database through independent paths
  (the order intent committed directly, the batching writer, the outage spool, the paper-journal
  reconciliation) and each must be insertable on its own, in any order.

The migrations in ``migrations/versions`` create exactly this schema; a test compares them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Dialect,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# Identifiers from the venue are long hex strings (condition ids 66 chars, token ids ~78 digits).
ID = 100
SHORT = 32


class ExactDecimal(TypeDecorator[Decimal]):
    """A ``Decimal`` stored without loss: ``NUMERIC`` on PostgreSQL, decimal text on SQLite."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = Decimal(value)
        if not isinstance(value, Decimal):
            raise TypeError(f"exact decimal column needs a Decimal, got {type(value).__name__}")
        if not value.is_finite():
            raise ValueError(f"exact decimal column cannot hold {value}")
        if dialect.name == "sqlite":
            return format(value, "f")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


def _id_pk() -> Column[int]:
    # SQLite only auto-increments an INTEGER PRIMARY KEY (BIGINT is not a rowid alias).
    return Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)


def _money(name: str, *, nullable: bool = False) -> Column[Decimal]:
    return Column(name, ExactDecimal(), nullable=nullable)


def _mode() -> Column[str]:
    return Column("mode", String(16), nullable=False)


meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(256), nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
)

markets = Table(
    "markets",
    metadata,
    Column("condition_id", String(ID), primary_key=True),
    Column("question", Text, nullable=False, default=""),
    Column("slug", String(256), nullable=False, default=""),
    Column("event_id", String(ID), nullable=False, default=""),
    Column("neg_risk", Boolean, nullable=False, default=False),
    Column("outcomes", Text, nullable=False, default="[]"),  # JSON [[label, token_id], ...]
    Column("first_seen_ns", BigInteger, nullable=False),
    Column("last_seen_ns", BigInteger, nullable=False),
)

signals = Table(
    "signals",
    metadata,
    _id_pk(),
    Column("signal_id", String(64), nullable=False, unique=True),
    _mode(),
    Column("strategy", String(SHORT), nullable=False),
    Column("market", String(ID), nullable=False),
    Column("ts_ns", BigInteger, nullable=False),
    Column("kind", String(SHORT), nullable=False),
    _money("edge"),
    _money("size"),
    _money("cost"),
    _money("fees"),
    Column("outcome", String(SHORT), nullable=False),  # taken / denied / skipped ...
    Column("reason", Text, nullable=False, default=""),
    Column("detail", Text, nullable=False, default="{}"),  # JSON: legs, denial ...
    Index("ix_signals_ts_ns", "ts_ns"),
    Index("ix_signals_strategy_ts_ns", "strategy", "ts_ns"),
)

opportunities = Table(
    "opportunities",
    metadata,
    _id_pk(),
    Column("opportunity_id", String(128), nullable=False, unique=True),
    _mode(),
    Column("strategy", String(SHORT), nullable=False),
    Column("market", String(ID), nullable=False),
    Column("first_seen_ns", BigInteger, nullable=False),
    Column("last_seen_ns", BigInteger, nullable=False),
    _money("best_edge"),
    _money("executable_size"),
    Column("sightings", Integer, nullable=False),
    Column("outcome", String(SHORT), nullable=True),  # None while open
    Column("closed_ns", BigInteger, nullable=True),
    Column("detail", Text, nullable=False, default="{}"),
    Index("ix_opportunities_first_seen_ns", "first_seen_ns"),
    Index("ix_opportunities_strategy_first_seen_ns", "strategy", "first_seen_ns"),
    Index("ix_opportunities_last_seen_ns", "last_seen_ns"),
    Index("ix_opportunities_closed_ns", "closed_ns"),
)

orders = Table(
    "orders",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("venue_id", String(ID), nullable=True),
    Column("signal_id", String(64), nullable=False, default=""),
    _mode(),
    Column("strategy", String(SHORT), nullable=False),
    Column("market", String(ID), nullable=False),
    Column("token_id", String(ID), nullable=False),
    Column("side", String(8), nullable=False),
    _money("price"),
    _money("size"),
    Column("order_type", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("seq", Integer, nullable=False),  # sequence number of the status above
    _money("filled"),
    _money("fees"),
    Column("reason", Text, nullable=False, default=""),
    Column("signed_payload", Text, nullable=True),
    Column("created_ns", BigInteger, nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
    Index("ix_orders_venue_id", "venue_id"),
    Index("ix_orders_status", "status"),
    Index("ix_orders_created_ns", "created_ns"),
)

order_events = Table(
    "order_events",
    metadata,
    _id_pk(),
    Column("client_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("ts_ns", BigInteger, nullable=False),
    _mode(),
    Column("reason", Text, nullable=False, default=""),
    UniqueConstraint("client_id", "status", "seq"),
    Index("ix_order_events_ts_ns", "ts_ns"),
)

fills = Table(
    "fills",
    metadata,
    _id_pk(),
    Column("fill_id", String(128), nullable=False, unique=True),
    Column("client_order_id", String(64), nullable=False),
    _mode(),
    Column("strategy", String(SHORT), nullable=False),
    Column("market", String(ID), nullable=False),
    Column("token_id", String(ID), nullable=False),
    Column("side", String(8), nullable=False),
    _money("price"),
    _money("size"),
    _money("fee"),
    Column("liquidity", String(8), nullable=False),
    Column("ts_ns", BigInteger, nullable=False),
    Index("ix_fills_client_order_id", "client_order_id"),
    Index("ix_fills_ts_ns_id", "ts_ns", "id"),
    Index("ix_fills_strategy_ts_ns", "strategy", "ts_ns"),
    Index("ix_fills_market_ts_ns", "market", "ts_ns"),
)

positions = Table(
    "positions",
    metadata,
    _mode(),
    Column("strategy", String(SHORT), nullable=False),
    Column("token_id", String(ID), nullable=False),
    Column("market", String(ID), nullable=False),
    _money("size"),  # shares held
    _money("cost"),  # cost basis of those shares, fees included
    Column("updated_ns", BigInteger, nullable=False),
    PrimaryKeyConstraint("mode", "strategy", "token_id"),
)

locked_sets = Table(
    "locked_sets",
    metadata,
    _mode(),
    Column("lock_id", String(128), nullable=False),
    Column("strategy", String(SHORT), nullable=False),
    Column("market", String(ID), nullable=False),
    Column("token_ids", Text, nullable=False),  # JSON list
    _money("qty"),
    _money("cost"),
    Column("updated_ns", BigInteger, nullable=False),
    PrimaryKeyConstraint("mode", "lock_id"),
)

merges = Table(
    "merges",
    metadata,
    _id_pk(),
    Column("merge_id", String(128), nullable=False, unique=True),
    _mode(),
    Column("strategy", String(SHORT), nullable=False),
    Column("market", String(ID), nullable=False),
    Column("token_ids", Text, nullable=False),  # JSON list
    _money("qty"),  # complete sets merged
    Column("locked", Boolean, nullable=False),  # negRisk set held to resolution
    # USD: the on-chain transaction booked with the merge (CHAIN_TX_COST_USD); 0 on older rows.
    Column("tx_cost", ExactDecimal(), nullable=False, server_default="0"),
    Column("tx_hash", String(ID), nullable=True),
    Column("ts_ns", BigInteger, nullable=False),
    Index("ix_merges_ts_ns", "ts_ns"),
)

resolutions = Table(
    "resolutions",
    metadata,
    _id_pk(),
    Column("resolution_id", String(128), nullable=False, unique=True),
    _mode(),
    Column("market", String(ID), nullable=False),
    Column("winning_token_id", String(ID), nullable=False),
    Column("token_ids", Text, nullable=False),  # JSON list
    # USD: the redeem transaction that paid it (live; migration 0009); 0 on older rows.
    Column("tx_cost", ExactDecimal(), nullable=False, server_default="0"),
    Column("ts_ns", BigInteger, nullable=False),
    Index("ix_resolutions_ts_ns", "ts_ns"),
)

# Cumulative realized P&L and fees of each strategy ("" = the whole ledger) as of the end of each
# UTC day with activity: a snapshot that later writes of the same day replace, so replays are
# harmless. The P&L of a day (or of a range) is the difference of two cumulative values.
daily_pnl = Table(
    "daily_pnl",
    metadata,
    _mode(),
    Column("day", Date, nullable=False),
    Column("strategy", String(SHORT), nullable=False),
    _money("realized_pnl"),
    _money("fees"),
    Column("updated_ns", BigInteger, nullable=False),
    PrimaryKeyConstraint("mode", "day", "strategy"),
)

risk_state = Table(
    "risk_state",
    metadata,
    Column("mode", String(16), primary_key=True),
    Column("state", String(16), nullable=False),  # active / reducing / halted
    Column("kill_switch", Boolean, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("actor", String(128), nullable=False, default=""),
    Column("detail", Text, nullable=False, default="{}"),
    Column("updated_ns", BigInteger, nullable=False),
)

errors = Table(
    "errors",
    metadata,
    _id_pk(),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("ts_ns", BigInteger, nullable=False),
    Column("level", String(16), nullable=False),
    Column("source", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("detail", Text, nullable=False, default="{}"),
    Index("ix_errors_ts_ns", "ts_ns"),
)

alerts = Table(
    "alerts",
    metadata,
    _id_pk(),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("ts_ns", BigInteger, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("title", String(256), nullable=False),
    Column("message", Text, nullable=False),
    Column("dedup_key", String(128), nullable=False, default=""),
    # What became of its Slack post (revision 0006): none (not for Slack), pending (queued, not
    # yet accepted: retried after a restart when critical), sent, coalesced (merged into or
    # held back by another post of the same key), dropped (Slack refused it for good).
    Column("delivery", String(16), nullable=False, default="none", server_default="none"),
    Column("delivered_ns", BigInteger, nullable=True),
    Index("ix_alerts_ts_ns", "ts_ns"),
    Index("ix_alerts_delivery", "delivery"),
)

audit_log = Table(
    "audit_log",
    metadata,
    _id_pk(),
    # command-<id up to 128>-<instance id>, bounded by records.audit_event_id (revision 0002)
    Column("event_id", String(512), nullable=False, unique=True),
    Column("ts_ns", BigInteger, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(256), nullable=False, default=""),
    Column("outcome", String(32), nullable=False, default="ok"),
    Column("source_ip", String(64), nullable=False, default=""),
    Column("detail", Text, nullable=False, default="{}"),
    Index("ix_audit_log_ts_ns", "ts_ns"),
)

TRADING_TABLES = (
    signals,
    opportunities,
    orders,
    order_events,
    fills,
    positions,
    locked_sets,
    merges,
    resolutions,
    daily_pnl,
)

# --- dashboard accounts (migration 0004) ---------------------------------------------------------

dashboard_users = Table(
    "dashboard_users",
    metadata,
    Column("email", String(254), primary_key=True),  # lower-cased
    Column("role", String(16), nullable=False),  # viewer / operator / admin
    # Embedded in every session token; bumping it revokes all of the user's sessions at once.
    Column("session_version", Integer, nullable=False, default=1),
    Column("created_ns", BigInteger, nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
)

# --- equity curve (migration 0005) ---------------------------------------------------------------

equity_snapshots = Table(
    "equity_snapshots",
    metadata,
    _mode(),
    Column("ts_ns", BigInteger, nullable=False),
    _money("equity"),
    _money("realized"),
    _money("unrealized"),
    _money("fees"),
    _money("exposure"),
    PrimaryKeyConstraint("mode", "ts_ns"),
)

# --- daily P&L reports (migration 0007) ----------------------------------------------------------

# One row per mode and UTC day: inserting it claims the day's send (the engine posts the report
# only when its insert made the row), so a job run twice or an engine restarted posts it once.
daily_reports = Table(
    "daily_reports",
    metadata,
    _mode(),
    Column("day", Date, nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    Column("text", Text, nullable=False),  # as printed and posted
    Column("detail", Text, nullable=False),  # the report as JSON (amounts as text)
    Column("chart", String(512), nullable=False),  # the PNG's path ("" when not drawn)
    Column("alert_event_id", String(64), nullable=False),  # its alerts row (the Slack post)
    PrimaryKeyConstraint("mode", "day"),
)

# Live trades' settlement on chain (MATCHED, MINED, CONFIRMED, RETRYING, FAILED): the latest
# status per trade. The fills of a FAILED trade did not happen: the ledger is recomputed
# without them (``recovery.read_fills``).
trade_settlements = Table(
    "trade_settlements",
    metadata,
    Column("trade_id", String(128), primary_key=True),
    _mode(),
    Column("status", String(16), nullable=False),
    Column("fill_ids", Text, nullable=False),  # JSON list: the fills it booked
    Column("reason", Text, nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
    Index("ix_trade_settlements_mode_status", "mode", "status"),
)
