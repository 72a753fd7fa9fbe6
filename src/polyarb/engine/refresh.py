"""Keep the traded universe current while running (issue 8, item 4).

Every ``MARKETS_REFRESH_S`` seconds, and at once when the market channel announces a market
(``new_market``), discovery runs again: new outcomes of an event and new markets are traded
(their tokens subscribed on the live feed), closed markets and events that are no longer
complete sets stop being traded. The markets the ledger holds are also read from Gamma with
their closed and resolved flags (``/markets?condition_ids=...``, closed ones included), so a
resolution the market channel did not deliver (a 50/50 split, a missed message, a restart) still
pays positions and locked sets by what actually resolved. At start (``resolve_absent_held``),
the held markets the universe does not list are looked up the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

import httpx
import structlog

from polyarb.domain.errors import PolyarbError
from polyarb.domain.market import Market
from polyarb.engine.core import Engine
from polyarb.marketdata.gamma import GammaClient, MarketFilter, discover, parse_market
from polyarb.marketdata.guard import CallGuard

log = structlog.get_logger(__name__)

HELD_PAGE = 50  # condition ids per Gamma request


async def held_market_data(gamma: GammaClient, condition_ids: Sequence[str]) -> list[Market]:
    """The held markets as Gamma has them now, closed and resolved ones included (malformed
    objects are skipped: their resolution stays unknown)."""
    out: list[Market] = []
    ids = sorted(condition_ids)
    for start in range(0, len(ids), HELD_PAGE):
        chunk = ids[start : start + HELD_PAGE]
        raw = await gamma.markets(active_only=False, condition_ids=chunk, max_pages=1)
        for item in raw:
            try:
                out.append(parse_market(item))
            except PolyarbError as exc:
                log.warning("held_market_unreadable", reason=str(exc))
    return out


def _absent_held(engine: Engine) -> set[str]:
    return engine.held_markets() - {m.condition_id for m in engine.universe.markets}


async def resolve_absent_held(gamma: GammaClient, engine: Engine) -> list[str]:
    """The held markets absent from the universe (discovery leaves closed ones out: one that
    resolved while the engine was down) looked up by condition id; the resolved ones are paid
    (live: redeemed on chain). Returns their condition ids."""
    absent = _absent_held(engine)
    if not absent:
        return []
    closed = [m for m in await held_market_data(gamma, list(absent)) if m.closed]
    return [m.condition_id for m in closed if engine.resolve_from_data(m)]


async def resolve_held_at_start(
    engine: Engine, gamma_url: str, *, timeout_s: float = 10.0, guard: CallGuard | None = None
) -> None:
    """``resolve_absent_held`` once, as the engine starts. Gamma failing does not stop the
    start: it is reported, and the universe refresh asks again."""
    if not _absent_held(engine):
        return  # nothing to look up: no client
    try:
        async with GammaClient(gamma_url, timeout_s=timeout_s, guard=guard) as gamma:
            paid = await resolve_absent_held(gamma, engine)
    except (PolyarbError, httpx.HTTPError) as exc:
        engine.emit_error("gamma", "held_lookup_failed", f"{type(exc).__name__}: {exc}")
        return
    if paid:
        log.info("held markets resolved while the engine was down", markets=paid)


async def refresh_universe(gamma: GammaClient, engine: Engine, flt: MarketFilter) -> list[str]:
    """One refresh: discover, pay what resolved, hand the engine the new universe. Returns the
    tokens to subscribe. An empty discovery (a Gamma hiccup) keeps the current universe."""
    universe = await discover(gamma, flt)
    held = engine.held_markets()
    resolved = [m for m in await held_market_data(gamma, list(held)) if m.closed] if held else []
    if not universe.markets:
        log.warning("universe_refresh_empty", kept=len(engine.universe.markets))
        for market in resolved:
            engine.resolve_from_data(market)
        return []
    return engine.update_universe(universe, resolved)


async def run_refresher(
    engine: Engine,
    gamma_url: str,
    flt: MarketFilter,
    *,
    interval_s: float,
    subscribe: Callable[[list[str]], Awaitable[object]],
    timeout_s: float = 10.0,
    guard: CallGuard | None = None,
) -> None:
    """Refresh every ``interval_s`` and on every ``new_market`` announcement, until cancelled.
    A failed poll is reported (error event ``gamma``/``refresh_failed``) and retried at the next
    tick; trading goes on with the universe it has."""
    wake = asyncio.Event()
    engine.new_market_sinks.append(lambda _raw: wake.set())
    async with GammaClient(gamma_url, timeout_s=timeout_s, guard=guard) as gamma:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=interval_s)
            wake.clear()
            try:
                added = await refresh_universe(gamma, engine, flt)
            except (PolyarbError, httpx.HTTPError) as exc:
                engine.emit_error("gamma", "refresh_failed", f"{type(exc).__name__}: {exc}")
                continue
            if added:
                await subscribe(added)
