"""Risk: limits, pure checks, trading state (active / reducing / halted) and the kill switch."""

from __future__ import annotations

from polyarb.risk.checks import Denial
from polyarb.risk.limits import RiskLimits
from polyarb.risk.manager import RiskManager, RiskStatus, utc_day
from polyarb.risk.state import Gate, RiskEvent, TradingState

__all__ = [
    "Denial",
    "Gate",
    "RiskEvent",
    "RiskLimits",
    "RiskManager",
    "RiskStatus",
    "TradingState",
    "utc_day",
]
