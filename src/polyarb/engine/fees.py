"""Fee data the engine trades on: the configured ``DEFAULT_FEE_RATE`` for markets without any.

Applied to the universe before the strategies, the paper executor and risk see it, so they all
price a market the same way. Without a default, such a market keeps ``UNKNOWN_FEES`` and every
strategy leaves it out (counted as ``no_fee_data``): a missing fee is never treated as free.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from polyarb.domain.market import resolve_fees
from polyarb.marketdata.gamma import Universe


def with_default_fees(universe: Universe, default_rate: Decimal | None) -> Universe:
    """``universe`` with ``default_rate`` for every market whose fee data is missing."""
    if default_rate is None or all(m.fees.known for m in universe.markets):
        return universe
    markets = tuple(resolve_fees(m, default_rate) for m in universe.markets)
    events = tuple(
        replace(e, markets=tuple(resolve_fees(m, default_rate) for m in e.markets))
        for e in universe.events
    )
    return Universe(markets, events, universe.raw, universe.skipped)


def unknown_fee_markets(universe: Universe) -> int:
    """How many markets of ``universe`` carry no fee data (left out by the strategies)."""
    return sum(1 for m in universe.markets if not m.fees.known)
