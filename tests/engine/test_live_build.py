"""From settings to a filled order: the live executor built from POLY_* settings (the API key
created with L1 at start, or taken from settings) trades on the simulator over HTTP."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from polyarb.config import Settings
from polyarb.domain.book import Side
from polyarb.domain.ledger import Ledger
from polyarb.domain.market import Market
from polyarb.domain.numbers import price_to_decimal
from polyarb.domain.trading import Leg, Mode, OrderStatus, Signal
from polyarb.engine.live import build_live_execution
from polyarb.marketdata.gamma import parse_market
from polyarb.sim.scenario import ScenarioConfig
from polyarb.sim.server import SimServer
from polyarb.store import Store, WriterConfig

KEY = "0x" + "3c" * 32


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
