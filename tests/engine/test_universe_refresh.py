"""The universe is refreshed while running (issue 8, item 4): new outcomes and markets are
traded and subscribed, closed legs end a set, and what is held is paid by the resolutions Gamma
reports (50/50 included), on a timer and on ``new_market``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.negrisk_events import election_event

from polyarb.config import load_settings
from polyarb.domain.book import Side
from polyarb.domain.clock import ReplayClock
from polyarb.domain.ledger import Merge
from polyarb.domain.trading import Fill, Leg, Mode, Signal
from polyarb.engine.core import Engine
from polyarb.engine.refresh import refresh_universe, resolve_absent_held, run_refresher
from polyarb.marketdata.gamma import GammaClient, MarketFilter, select_universe

T0 = 1_780_000_000 * 1_000_000_000
D = Decimal


def election(legs: int) -> dict[str, Any]:
    return election_event(legs)


def mock_client(
    events: Callable[[], list[Any]], markets: Callable[[list[str]], list[Any]]
) -> httpx.AsyncClient:
    """Gamma over a mock transport: ``/events`` -> events(), ``/markets`` -> the objects of the
    asked condition ids (nothing for the volume listing)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            return httpx.Response(200, content=json.dumps(events(), default=str))
        ids = request.url.params.get_list("condition_ids")
        return httpx.Response(200, content=json.dumps(markets(ids) if ids else [], default=str))

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def gamma_serving(
    events: Callable[[], list[Any]], markets: Callable[[list[str]], list[Any]]
) -> GammaClient:
    return GammaClient("http://gamma.test", client=mock_client(events, markets), max_attempts=1)


def engine_for(tmp_path: Path, event: dict[str, Any]) -> Engine:
    settings = load_settings(None, data_dir=tmp_path, sniper_enabled=False)
    universe = select_universe([], [event], MarketFilter())
    return Engine(settings, universe, clock=ReplayClock(T0), instance_id="test")


def negrisk_legs(engine: Engine, name: str) -> dict[str, int]:
    [strategy] = [s for s in engine.strategies if s.name == name]
    targets = strategy.targets  # type: ignore[attr-defined]
    return {key: len(target.legs) for key, target in targets.items()}


async def test_a_new_outcome_joins_the_set_and_is_subscribed(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, election(2))
    assert negrisk_legs(engine, "negrisk") == {"30829": 2}
    grown = election(3)
    gamma = gamma_serving(lambda: [grown], lambda ids: [])
    async with gamma:
        added = await refresh_universe(gamma, engine, MarketFilter())
    assert added == ["y0", "n0"]
    # The 2-leg set is no complete set any more: the sets are rebuilt with the new outcome.
    assert negrisk_legs(engine, "negrisk") == {"30829": 3}
    assert negrisk_legs(engine, "neg_risk_convert") == {"30829": 3}
    assert {"y0", "n0"} <= set(engine.books.books)
    assert "negrisk" in [s.name for s, _ in engine._watchers["y0"]]
    assert "neg_risk_convert" in [s.name for s, _ in engine._watchers["n0"]]
    assert engine.markets_by_token["n0"].group_item_title == "Candidate Number 0"


async def test_a_leg_closed_without_a_no_resolution_ends_the_set(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, election(3))
    assert negrisk_legs(engine, "negrisk") == {"30829": 3}
    closed = election(3)
    closed["markets"][2].update(
        closed=True,
        acceptingOrders=False,
        outcomePrices='["1", "0"]',
        umaResolutionStatus="resolved",
    )
    async with gamma_serving(lambda: [closed], lambda ids: []) as gamma:
        assert await refresh_universe(gamma, engine, MarketFilter()) == []
    assert negrisk_legs(engine, "negrisk") == {}
    assert negrisk_legs(engine, "neg_risk_convert") == {}


def buy(fid: str, token: str, market: str, price: str) -> Fill:
    return Fill(
        fid, f"o-{fid}", token, market, Side.BUY, D(price), D(10), D(0), T0, "negrisk", Mode.PAPER
    )


async def test_held_markets_are_paid_by_what_gamma_says_resolved(tmp_path: Path) -> None:
    """A locked 3-outcome set; Gamma reports outcome 0 split 50/50 and the others NO: the set
    is paid $0.50 a set and released, without any market_resolved message."""
    event = election(3)
    engine = engine_for(tmp_path, event)
    [ev] = engine.universe.events
    yes = [m.outcomes[0].token_id for m in ev.markets]
    for i, (m, price) in enumerate(zip(ev.markets, ("0.30", "0.30", "0.35"), strict=True)):
        engine.ledger.apply_fill(buy(f"f{i}", yes[i], m.condition_id, price))
    engine.ledger.apply_merge(
        Merge("lock-1", ev.event_id, tuple(yes), D(10), T0, "negrisk", locked=True)
    )
    assert engine.held_markets() == {m.condition_id for m in ev.markets}

    def resolved(ids: list[str]) -> list[Any]:
        out = []
        for i, raw in enumerate(event["markets"]):
            if raw["conditionId"] in ids:
                prices = '["0.5", "0.5"]' if i == 0 else '["0", "1"]'
                out.append(
                    {
                        **raw,
                        "closed": True,
                        "outcomePrices": prices,
                        "umaResolutionStatus": "resolved",
                    }
                )
        return out

    async with gamma_serving(lambda: [event], resolved) as gamma:
        await refresh_universe(gamma, engine, MarketFilter())
    assert engine.ledger.locked_sets() == []
    assert engine.ledger.realized_pnl == D(5) - D("9.50")
    assert engine.held_markets() == set()
    assert engine.risk.exposure() == 0


@pytest.mark.parametrize("path", ["start", "refresh"])
async def test_a_held_market_discovery_left_out_is_paid_by_what_gamma_says(
    tmp_path: Path, path: str
) -> None:
    """After a restart the ledger holds YES of a market discovery no longer lists (closed: it
    resolved while the engine was down), so its tokens are unknown: it is looked up by its
    condition id, at start and on a refresh, and paid."""
    grown = election(3)
    engine = engine_for(tmp_path, election(2))
    absent = grown["markets"][2]
    cid = absent["conditionId"]
    assert "y0" not in engine.markets_by_token
    engine.ledger.apply_fill(buy("f0", "y0", cid, "0.30"))
    assert cid in engine.held_markets()
    asked: list[list[str]] = []

    def resolved(ids: list[str]) -> list[Any]:
        asked.append(ids)
        closed = {
            **absent,
            "closed": True,
            "outcomePrices": '["1", "0"]',
            "umaResolutionStatus": "resolved",
        }
        return [closed] if cid in ids else []

    async with gamma_serving(lambda: [election(2)], resolved) as gamma:
        if path == "start":
            assert await resolve_absent_held(gamma, engine) == [cid]
            assert asked == [[cid]]  # only what the universe does not list
        else:
            await refresh_universe(gamma, engine, MarketFilter())
    assert engine.ledger.shares("y0") == 0
    assert engine.ledger.realized_pnl == D(10) - D(3)
    assert engine.held_markets() == set()


async def test_new_market_triggers_a_refresh_and_a_subscription(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_for(tmp_path, election(2))
    served = [election(2)]
    subscribed: list[list[str]] = []
    done = asyncio.Event()

    async def subscribe(tokens: list[str]) -> None:
        subscribed.append(tokens)
        done.set()

    original = GammaClient.__init__

    def patched(self: GammaClient, *args: Any, **kwargs: Any) -> None:
        client = mock_client(lambda: served, lambda ids: [])
        original(self, *args, **{**kwargs, "client": client, "max_attempts": 1})

    monkeypatch.setattr(GammaClient, "__init__", patched)
    task = asyncio.create_task(
        run_refresher(
            engine, "http://gamma.test", MarketFilter(), interval_s=3600, subscribe=subscribe
        )
    )
    try:
        await asyncio.sleep(0.05)
        assert subscribed == []  # the timer is an hour away
        served[0] = election(3)  # the venue lists a new outcome and announces it
        engine.on_new_market({"event_type": "new_market", "market": f"0x{0xE0:064x}"})
        await asyncio.wait_for(done.wait(), timeout=5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert subscribed == [["y0", "n0"]]
    assert negrisk_legs(engine, "negrisk") == {"30829": 3}


async def test_a_failed_poll_is_reported_and_trading_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_for(tmp_path, election(2))
    errors: list[tuple[str, str, str]] = []
    engine.error_sinks.append(lambda *e: errors.append(e))

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"{not json")

    original = GammaClient.__init__

    def patched(self: GammaClient, *args: Any, **kwargs: Any) -> None:
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        original(self, *args, **{**kwargs, "client": client, "max_attempts": 1})

    monkeypatch.setattr(GammaClient, "__init__", patched)

    async def subscribe(tokens: list[str]) -> None:
        raise AssertionError("nothing to subscribe")

    task = asyncio.create_task(
        run_refresher(
            engine, "http://gamma.test", MarketFilter(), interval_s=0.01, subscribe=subscribe
        )
    )
    try:
        for _ in range(200):
            await asyncio.sleep(0.01)
            if len(errors) >= 2:
                break
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert len(errors) >= 2  # reported, and retried
    assert {(source, kind) for source, kind, _ in errors} == {("gamma", "refresh_failed")}
    assert negrisk_legs(engine, "negrisk") == {"30829": 2}  # the universe it had


async def test_a_partly_resolved_set_is_risk_only_for_what_is_still_open(tmp_path: Path) -> None:
    """Outcome 0 splits 50/50 (market_resolved without a single winner): its token was paid and
    leaves risk; the two others still hold the set's remaining cost."""
    engine = engine_for(tmp_path, election(3))
    [ev] = engine.universe.events
    yes = [m.outcomes[0].token_id for m in ev.markets]
    for i, (m, price) in enumerate(zip(ev.markets, ("0.30", "0.30", "0.35"), strict=True)):
        engine.ledger.apply_fill(buy(f"f{i}", yes[i], m.condition_id, price))
    lock = Merge("lock-1", ev.event_id, tuple(yes), D(10), T0, "negrisk", locked=True)
    engine.ledger.apply_merge(lock)
    engine.on_resolved(ev.markets[0].condition_id, "", "50/50")
    [held] = engine.ledger.locked_sets()
    assert (held.paid, held.cost) == (D(5), D("4.50"))
    positions = engine.risk.positions()
    assert not positions.get(yes[0])
    assert positions.get(yes[1]) == positions.get(yes[2]) == D(10)
    assert engine.risk.exposure() == D("4.50")


async def test_a_new_market_is_not_traded_while_its_book_hydrates(tmp_path: Path) -> None:
    settings = load_settings(
        None, data_dir=tmp_path, sniper_enabled=False, live_new_market_wait_s=5
    )
    clock = ReplayClock(T0)
    engine = Engine(settings, select_universe([], [election(2)], MarketFilter()), clock=clock)
    gamma = gamma_serving(lambda: [election(3)], lambda ids: [])
    async with gamma:
        added = await refresh_universe(gamma, engine, MarketFilter())
    assert added == ["y0", "n0"]
    [strategy] = [s for s in engine.strategies if s.name == "negrisk"]

    def signal(token: str) -> Signal:
        leg = Leg(token, Side.BUY, D(5), D("0.3"), D("0.3"))
        return Signal("negrisk", "30829", 0, D("0.01"), D(5), (leg,), kind="directional")

    outcome, detail = engine._dispatch(strategy, signal("y0"))
    assert outcome == "denied:new_market"
    assert "y0 appeared less than 5 s ago" in detail
    assert engine._dispatch(strategy, signal(added[1]))[0] == "denied:new_market"
    clock.advance(T0 + 5 * 1_000_000_000)
    assert engine._dispatch(strategy, signal("y0"))[0] == "taken"
    await engine.drain()
