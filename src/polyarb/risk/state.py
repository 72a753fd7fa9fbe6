"""Trading states and the gates that put the engine in them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TradingState(StrEnum):
    ACTIVE = "active"  # every limit applies, nothing else
    REDUCING = "reducing"  # only signals that reduce open positions
    HALTED = "halted"  # nothing goes out


@dataclass(frozen=True, slots=True)
class Gate:
    """One reason trading is restricted: who raised it, why, since when."""

    name: str  # kill_switch | loss_limit | reducing | daily_loss | exposure | rate_limit
    reason: str
    actor: str = ""
    since_ns: int = 0
    source: str = ""  # for reducing gates: who asked (operator, store ...)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "reason": self.reason,
            "actor": self.actor,
            "since_ns": self.since_ns,
            "source": self.source,
        }


@dataclass(frozen=True, slots=True)
class RiskEvent:
    """A change worth an alert and a write to the store (K2: persist and alert every change)."""

    kind: str  # kill_switch_engaged | kill_switch_cleared | loss_limit | loss_limit_cleared |
    #            reducing | resumed | day_rollover | restored
    detail: str
    actor: str
    ts_ns: int
