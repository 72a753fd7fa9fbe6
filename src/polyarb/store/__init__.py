"""Persistence: the books of record in SQLite (embedded default) or PostgreSQL.

The engine uses ``Store`` (``await Store.open(url, mode=..., spool_dir=...)``); the dashboard and
the CLI read through ``StoreQueries``. See docs/store.md.
"""

from polyarb.store.database import redacted, resolve_database_url
from polyarb.store.errors import ModeMismatch, SchemaOutdated, StoreError, StoreUnavailable
from polyarb.store.ledger_rows import ledger_state, rebuild
from polyarb.store.queries import (
    AlertRow,
    AuditRow,
    EquityPoint,
    ErrorRow,
    MarketRow,
    OpportunityStats,
    PnlLine,
    PositionView,
    SignalPage,
    SignalRow,
    StoreQueries,
    TradePage,
    TradeRow,
)
from polyarb.store.records import (
    AlertDelivery,
    AlertRecord,
    AuditRecord,
    DailyPnlRow,
    EquitySnapshot,
    ErrorRecord,
    FillRecord,
    LedgerState,
    LockedSetRow,
    MarketSeen,
    MergeRecord,
    OpportunityRecord,
    OrderRecord,
    PositionRow,
    Record,
    ResolutionRecord,
    RiskStateRecord,
    SignalRecord,
    TradeSettlementRecord,
)
from polyarb.store.recovery import ReconcileReport, RecoveredState
from polyarb.store.retention import PruneReport
from polyarb.store.store import Store
from polyarb.store.writer import Durability, WriterConfig, WriterStats

__all__ = [
    "AlertDelivery",
    "AlertRecord",
    "AlertRow",
    "AuditRecord",
    "AuditRow",
    "DailyPnlRow",
    "Durability",
    "EquityPoint",
    "EquitySnapshot",
    "ErrorRecord",
    "ErrorRow",
    "FillRecord",
    "LedgerState",
    "LockedSetRow",
    "MarketRow",
    "MarketSeen",
    "MergeRecord",
    "ModeMismatch",
    "OpportunityRecord",
    "OpportunityStats",
    "OrderRecord",
    "PnlLine",
    "PositionRow",
    "PositionView",
    "PruneReport",
    "ReconcileReport",
    "Record",
    "RecoveredState",
    "ResolutionRecord",
    "RiskStateRecord",
    "SchemaOutdated",
    "SignalPage",
    "SignalRecord",
    "SignalRow",
    "Store",
    "StoreError",
    "StoreQueries",
    "StoreUnavailable",
    "TradePage",
    "TradeRow",
    "TradeSettlementRecord",
    "WriterConfig",
    "WriterStats",
    "ledger_state",
    "rebuild",
    "redacted",
    "resolve_database_url",
]
