"""Trading strategies: pure, synchronous decisions from books (and scoreboards) to signals.

``STRATEGIES`` maps a strategy's name (the settings prefix) to its class; each class has a
``config_type`` whose ``from_settings`` reads the ``<NAME>_*`` settings duck-typed.
"""

from __future__ import annotations

from typing import Any

from polyarb.strategies.base import AttemptGate, Strategy
from polyarb.strategies.clipper import Clipper
from polyarb.strategies.neg_risk import NegRisk
from polyarb.strategies.neg_risk_convert import NegRiskConvert
from polyarb.strategies.sniper import Sniper
from polyarb.strategies.sum_to_100 import SumTo100

STRATEGIES: dict[str, type[Any]] = {
    SumTo100.name: SumTo100,
    Clipper.name: Clipper,
    NegRisk.name: NegRisk,
    NegRiskConvert.name: NegRiskConvert,
    Sniper.name: Sniper,
}


def build_enabled(settings: object, *, id_prefix: str = "") -> list[Strategy]:
    """Instances of the strategies whose ``<PREFIX>_ENABLED`` setting is true (the prefix of
    the strategy's config: its name, or ``negrisk_convert`` for ``neg_risk_convert``).

    SumTo100 and Clipper share one attempt gate: both trade the same binary markets and must not
    have two attempts in flight on one market.
    """
    gate = AttemptGate()
    built: list[Strategy] = []
    for name, cls in STRATEGIES.items():
        if not getattr(settings, f"{cls.config_type.PREFIX}_enabled", False):
            continue
        config = cls.config_type.from_settings(settings)
        if name in (SumTo100.name, Clipper.name):
            built.append(cls(config, gate=gate, id_prefix=id_prefix))
        else:
            built.append(cls(config, id_prefix=id_prefix))
    return built


__all__ = [
    "STRATEGIES",
    "Clipper",
    "NegRisk",
    "NegRiskConvert",
    "Sniper",
    "SumTo100",
    "build_enabled",
]
