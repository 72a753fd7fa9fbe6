"""From settings to a filled order: the live executor built from POLY_* settings (the API key
created with L1 at start, or taken from settings) trades on the simulator over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

from polyarb.clob.auth import ApiCreds
from polyarb.clob.signing import SignatureType, Wallet
from polyarb.config import Settings
from polyarb.domain.book import Side
from polyarb.domain.clock import WallClock
from polyarb.domain.ledger import Ledger
from polyarb.domain.market import Market
from polyarb.domain.numbers import price_to_decimal
from polyarb.domain.trading import Leg, Mode, Order, OrderStatus, Signal
from polyarb.engine.core import Engine
from polyarb.engine.live import LiveWatch, build_live_execution
from polyarb.execution.live.client import LiveConfig, LiveExecution
from polyarb.execution.live.reconcile import reconcile
from polyarb.execution.live.venue import ClobRest
from polyarb.marketdata.gamma import MarketFilter, Universe, parse_market, select_universe
from polyarb.sim.scenario import ScenarioConfig
from polyarb.sim.server import SimServer
from polyarb.store import Store, WriterConfig

KEY = "0x" + "3c" * 32
D1 = Decimal("0.1")


def _settings(clob_url: str, **extra: str) -> Settings:
    return Settings(
        _env_file=None,
        dry_run="false",
        sumto100_paper_trading="false",
        poly_private_key=KEY,
        poly_clob_url=clob_url,
        poly_signature_type="1",
        poly_funder="0x" + "e5" * 20,
        live_slippage="0.02",
        **extra,
    )


async def test_settings_build_an_executor_that_trades(tmp_path: Path) -> None:
    config = ScenarioConfig(
        seed=2, binary_markets=1, negrisk_events=0, closed_markets=0, updates_per_s=5.0
    )
    async with SimServer(config) as sim:
        sim.pause()
        markets: dict[str, Market] = {}
        for raw in sim.gamma_markets():
            market = parse_market(raw)
            markets.update({o.token_id: market for o in market.outcomes})
        store = await Store.open(
            f"sqlite+aiosqlite:///{tmp_path / 'live.db'}",
            mode=Mode.LIVE,
            spool_dir=tmp_path / "spool",
            writer=WriterConfig(process=False, flush_interval_s=0.01),
        )
        try:
            live = await build_live_execution(
                _settings(sim.clob_url), markets, store, Ledger(Decimal(100))
            )
            creds = live.rest.creds
            assert creds is not None
            assert creds.api_key in sim.exchange.accounts  # created with L1 at start
            assert live.heartbeat is not None
            assert live.heartbeat.healthy  # the heartbeat chain runs
            assert creds.api_key in sim.exchange.heartbeats
            market = next(iter(markets.values()))
            token = market.outcomes[0].token_id
            best = price_to_decimal(sim.truth(token).asks.best() or 0)
            leg = Leg(
                token, Side.BUY, Decimal(5), best, best + Decimal("0.05"), market.condition_id
            )
            report = await live.execute(
                Signal(
                    "sniper",
                    market.condition_id,
                    0,
                    Decimal("0.1"),
                    Decimal(5),
                    (leg,),
                    kind="directional",
                )
            )
            (order,) = report.orders
            assert order.status == OrderStatus.FILLED, order.reason
            assert order.price == best + Decimal("0.02")  # VWAP + LIVE_SLIPPAGE, within limit
            assert sim.exchange.orders[order.venue_id].maker.lower() == "0x" + "e5" * 20
            await live.aclose()
            # with the credentials in settings no key is created: the same account trades
            again = await build_live_execution(
                _settings(
                    sim.clob_url,
                    poly_api_key=creds.api_key,
                    poly_api_secret=creds.secret,
                    poly_api_passphrase=creds.passphrase,
                ),
                markets,
                store,
                Ledger(Decimal(100)),
            )
            assert again.rest.creds == creds
            assert len(sim.exchange.accounts) == 1
            await again.aclose()
        finally:
            await store.close()


async def test_a_failing_heartbeat_puts_the_engine_in_reducing_mode_until_it_beats(
    tmp_path: Path,
) -> None:
    async with _live_engine(tmp_path) as (sim, universe, engine, live):
        watch = LiveWatch(engine, live, interval_s=30)
        assert engine.risk.state.value == "active"
        sim.exchange.heartbeat_faults.extend(["500"])
        assert not await live.heartbeat.beat()  # type: ignore[union-attr]
        watch.check_heartbeat()
        assert engine.risk.state.value == "reducing"
        [gate] = [g for g in engine.risk.gates(0) if g.source == "heartbeat"]
        assert "heartbeat failing" in gate.reason
        assert await live.heartbeat.beat()  # type: ignore[union-attr]
        watch.check_heartbeat()
        assert engine.risk.state.value == "active"

        # a 425 (matching-engine restart): not processed, and the engine reduces only until
        # the venue's wait is over
        sim.exchange.inject("425")
        market = universe.markets[0]
        token = market.outcomes[0].token_id
        best = price_to_decimal(sim.truth(token).asks.best() or 0)
        leg = Leg(token, Side.BUY, Decimal(5), best, best, market.condition_id)
        report = await live.execute(
            Signal("sniper", market.condition_id, 0, D1, Decimal(5), (leg,), kind="directional")
        )
        [order] = report.orders
        assert order.status == OrderStatus.REJECTED
        assert order.reason.startswith("not processed: HTTP 425")
        watch.check_venue_wait()
        assert engine.risk.state.value == "reducing"
        [gate] = [g for g in engine.risk.gates(0) if g.source == "venue"]
        assert "425" in gate.reason
        await asyncio.sleep(1.05)  # RESTART_WAIT_S without a Retry-After
        watch.check_venue_wait()
        assert engine.risk.state.value == "active"


@contextlib.asynccontextmanager
async def _live_engine(
    tmp_path: Path,
) -> AsyncIterator[tuple[SimServer, Universe, Engine, LiveExecution]]:
    """An engine (one binary market, no strategy trading) with its live executor attached."""
    config = ScenarioConfig(
        seed=2, binary_markets=1, negrisk_events=0, closed_markets=0, updates_per_s=5.0
    )
    async with SimServer(config) as sim:
        sim.pause()
        settings = _settings(sim.clob_url, data_dir=str(tmp_path), sniper_enabled="false")
        universe = select_universe(sim.gamma_markets(), [], MarketFilter())
        engine = Engine(settings, universe, clock=WallClock())
        assert engine.paused  # nothing is evaluated before the live executor is attached
        live = await build_live_execution(
            settings, engine.markets_by_token, NoIntents(), engine.ledger
        )
        engine.attach_execution(live)
        try:
            yield sim, universe, engine, live
        finally:
            await live.aclose()


class NoIntents:
    """Takes every intent (and keeps nothing): the tests here read the venue's side."""

    async def record_order_intent(self, order: Order, *, signed_payload: str | None = None) -> None:
        return None


async def test_reconciliation_that_cannot_ask_the_venue_never_passes() -> None:
    """ "Not found" and "equal" count only after successful queries: a venue that does not
    answer is a failed reconciliation, not a clean one."""
    rest = ClobRest(
        "http://127.0.0.1:9",  # the discard port: nothing answers
        Wallet(KEY),
        ApiCreds("k", "c2VjcmV0", "p"),
        chain_id=137,
        timeout_s=1,
    )
    config = LiveConfig(chain_id=137, funder="", signature_type=SignatureType.EOA)
    live = LiveExecution(rest, {}, config, NoIntents(), Ledger(Decimal(0)))
    try:
        result = await reconcile(live)
    finally:
        await live.aclose()
    assert not result.ok
    [problem] = result.problems
    assert problem.startswith("venue query failed, nothing concluded: GET /data/trades")
    assert result.summary().startswith("reconciliation MISMATCH (0 venue trades")


async def test_cash_moving_apart_reduces_and_only_a_clean_unhalted_pass_re_anchors(
    tmp_path: Path,
) -> None:
    """While running, venue cash - ledger cash must hold from the start's pass: pUSD leaving
    the wallet is a mismatch (reducing). The value kept for the next start is rewritten only by
    a clean pass while the kill switch is off (the operator has cleared it after checking)."""
    async with _live_engine(tmp_path) as (sim, _, engine, live):
        store = await Store.open(
            f"sqlite+aiosqlite:///{tmp_path / 'live.db'}",
            mode=Mode.LIVE,
            spool_dir=tmp_path / "spool",
            writer=WriterConfig(process=False, flush_interval_s=0.01),
        )
        key, address = "live_cash_offset", live.config.funder  # the proxy wallet's cash
        try:
            start = await reconcile(live)
            assert await store.anchor(key, "7") == "7"  # recorded by an earlier start
            watch = LiveWatch(engine, live, interval_s=30, baseline=start, store=store)
            result = await watch.reconcile_once()
            assert result is not None
            assert result.ok, result.problems
            offset = str(sim.exchange.balance(address) - engine.ledger.cash)
            assert await store.anchor(key, "x") == offset  # a clean pass, not halted

            sim.exchange.cash[address] = sim.exchange.balance(address) - Decimal("0.5")
            result = await watch.reconcile_once()
            assert result is not None
            assert [p.split(" pUSD")[0] for p in result.problems] == [
                f"cash: the venue's {sim.exchange.balance(address)}"
            ]
            assert "moved -0.5" in result.problems[0]
            assert engine.risk.state.value == "reducing"
            assert await store.anchor(key, "x") == offset  # a mismatch records nothing

            # the next start halted on it; the operator checks (a withdrawal) and clears
            restart = await reconcile(live)
            engine.risk.engage("cash", "reconciliation", 1)
            watch = LiveWatch(engine, live, interval_s=30, baseline=restart, store=store)
            assert (await watch.reconcile_once()).ok  # type: ignore[union-attr]
            assert await store.anchor(key, "x") == offset  # halted: not yet
            engine.risk.clear("operator", 2)
            assert (await watch.reconcile_once()).ok  # type: ignore[union-attr]
            moved = str(sim.exchange.balance(address) - engine.ledger.cash)
            assert await store.anchor(key, "x") == moved != offset
        finally:
            await store.close()
