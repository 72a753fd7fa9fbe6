"""Risk limits, built from the ``RISK_*`` settings (read duck-typed: risk never imports config)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_position: Decimal = Decimal(100)  # shares per token, filled + in flight
    max_notional: Decimal = Decimal(500)  # USD per signal: sum of size x limit price, plus fees
    max_daily_loss: Decimal = Decimal(200)  # USD, realized + marked, per UTC day
    max_exposure: Decimal = Decimal(2000)  # USD at cost, open positions + in-flight orders
    max_orders_per_minute: int = 120  # orders (legs) in any sliding 60 s window

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value <= 0:
                raise ValueError(f"RISK_{f.name.upper()} must be positive (got {value})")

    @classmethod
    def from_settings(cls, settings: object) -> RiskLimits:
        values = {
            f.name: getattr(settings, f"risk_{f.name}")
            for f in fields(cls)
            if hasattr(settings, f"risk_{f.name}")
        }
        return cls(**values)
