"""Operator commands applied to a running engine (the bus's ``CommandProcessor`` validates,
deduplicates, audits and acknowledges them; this module says what each one does)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from decimal import Decimal

import structlog

from polyarb.bus import ParamBounds, ParamValue
from polyarb.bus.commands import Bounds
from polyarb.domain.errors import Rejected
from polyarb.engine.core import Engine

log = structlog.get_logger(__name__)

_EDGE = ParamBounds(Decimal(0), Decimal("0.5"))
_SIZE = ParamBounds(Decimal(1), Decimal(100_000))
_NOTIONAL = ParamBounds(Decimal(1), Decimal(1_000_000))
_AGE = ParamBounds(Decimal(1), Decimal(60_000), kind="int")
_COOLDOWN = ParamBounds(Decimal(0), Decimal(3_600_000), kind="int")
_PRICE = ParamBounds(Decimal("0.01"), Decimal("0.99"))

# What the dashboard may change at run time, and within which bounds. Anything else is refused.
PARAM_BOUNDS: Bounds = {
    "sumto100": {
        "min_edge": _EDGE,
        "max_position": _SIZE,
        "max_notional": _NOTIONAL,
        "min_liquidity": _SIZE,
        "max_book_age_ms": _AGE,
        "cooldown_ms": _COOLDOWN,
    },
    "clipper": {"min_profit": _EDGE, "max_position": _SIZE, "max_notional": _NOTIONAL},
    "negrisk": {
        "min_edge": _EDGE,
        "max_position": _SIZE,
        "max_notional": _NOTIONAL,
        "min_liquidity": _SIZE,
        "max_book_age_ms": _AGE,
        "cooldown_ms": _COOLDOWN,
    },
    "sniper": {
        "min_price": _PRICE,
        "max_price": _PRICE,
        "order_size": _SIZE,
        "min_profit": _EDGE,
    },
}


class EngineCommands:
    """``CommandHandler`` for one engine.

    ``durable`` (the store's flush) is awaited after the kill switch changes, so the command is
    acknowledged only once the new state would survive a crash."""

    def __init__(
        self, engine: Engine, durable: Callable[[], Awaitable[object]] | None = None
    ) -> None:
        self.engine = engine
        self.durable = durable

    def strategy_names(self) -> Collection[str]:
        return [s.name for s in self.engine.strategies]

    def pause(self, actor: str) -> None:
        self.engine.pause(actor)

    def resume(self, actor: str) -> None:
        self.engine.resume(actor)
        gates = self.engine.risk.resume(actor, self.engine.clock.now_ns())
        if gates:
            # Say what still blocks trading instead of a bare "resumed" (lesson K4).
            log.warning("resumed but gates still up", gates=[g.name for g in gates])

    async def engage_kill_switch(self, reason: str, actor: str) -> None:
        await self.engine.engage_kill_switch(reason, actor)
        log.warning("kill switch engaged", actor=actor, reason=reason)
        if self.durable is not None:
            await self.durable()

    async def clear_kill_switch(self, actor: str) -> None:
        gates = self.engine.risk.clear(actor, self.engine.clock.now_ns())
        log.warning("kill switch cleared", actor=actor, still_up=[g.name for g in gates])
        if self.durable is not None:
            await self.durable()

    def set_strategy_enabled(self, strategy: str, enabled: bool, actor: str) -> None:
        if enabled:
            self.engine.disabled.discard(strategy)
        else:
            self.engine.disabled.add(strategy)
        log.warning("strategy toggled", strategy=strategy, enabled=enabled, actor=actor)

    def set_strategy_param(self, strategy: str, param: str, value: ParamValue, actor: str) -> None:
        target = next((s for s in self.engine.strategies if s.name == strategy), None)
        if target is None:
            raise Rejected(f"unknown strategy {strategy!r}")
        config = getattr(target, "config", None)
        set_config = getattr(target, "set_config", None)
        if config is None or set_config is None:
            raise Rejected(f"strategy {strategy!r} has no run-time parameters")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        try:
            set_config(config.with_param(param, text))
        except ValueError as exc:
            raise Rejected(str(exc)) from None
        log.warning(
            "strategy parameter set", strategy=strategy, param=param, value=text, actor=actor
        )
