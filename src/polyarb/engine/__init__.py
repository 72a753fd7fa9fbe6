"""Composition root of the trading process: books -> strategies -> risk -> execution -> ledger.

``Engine`` is the hot path (one frame -> the strategies watching the changed markets -> signals
-> risk -> execution tasks); ``runner`` wires it to a venue (Polymarket, the simulator, or a
recording) with the bus, the store and the operator's display.
"""

from polyarb.engine.core import Engine, EngineCounters

__all__ = ["Engine", "EngineCounters"]
