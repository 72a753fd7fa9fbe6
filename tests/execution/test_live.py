"""The live executor end to end against the simulator over real HTTP: signed orders verified
by the simulated venue, matched against its books, the intent committed (real store) before
the request leaves, and the venue's faults handled without ever sending an order twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

import pytest
from tests.execution.sim_markets import markets_by_token
from tests.store.helpers import rows

from polyarb.clob.errors import FOK_KILLED, NOT_ENOUGH_BALANCE
from polyarb.clob.signing import SignatureType, Wallet
from polyarb.domain.book import Side
from polyarb.domain.ledger import Ledger
from polyarb.domain.market import Market
from polyarb.domain.numbers import price_to_decimal, size_to_decimal
from polyarb.domain.secrets import scrub
from polyarb.domain.trading import Leg, Mode, Order, OrderStatus, OrderType, Signal
from polyarb.execution.live.budget import RequestBudgets
from polyarb.execution.live.client import LiveConfig, LiveExecution
from polyarb.execution.live.heartbeat import HeartbeatKeeper
from polyarb.execution.live.venue import ClobRest
from polyarb.sim.scenario import ScenarioConfig
from polyarb.sim.server import SimServer
from polyarb.store import Store, WriterConfig

D = Decimal
TIMEOUT_S = 0.5


@dataclass
class CheckedIntents:
    """The real store, and a check that the venue has not seen an order when it is recorded."""

    store: Store
    sim: SimServer
    recorded: list[tuple[str, int]] = field(default_factory=list)  # (venue id, requests seen)
    fail: bool = False

    async def record_order_intent(self, order: Order, *, signed_payload: str | None = None) -> None:
        if self.fail:
            raise RuntimeError("database unavailable")
        assert order.venue_id not in self.sim.exchange.orders
        assert signed_payload is not None
        assert '"signature":"0x' in signed_payload
        creds = self.sim.exchange.accounts
        assert not any(key in signed_payload for key in creds)  # the API key is masked
        await self.store.record_order_intent(order, signed_payload=signed_payload)
        self.recorded.append((order.venue_id, self.sim.exchange.requests))


@dataclass
class Rig:
    db_url: str
    sim: SimServer
    live: LiveExecution
    intents: CheckedIntents
    markets: dict[str, Market]
    ledger: Ledger


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    config = ScenarioConfig(
        seed=11,
        binary_markets=2,
        negrisk_events=1,
        outcomes_per_event=3,
        closed_markets=0,
        updates_per_s=5.0,
    )
    async with SimServer(config) as sim:
        sim.pause()  # the books hold still: every fill is checked against them
        markets = markets_by_token(sim)
        wallet = Wallet("0x" + "7a" * 32)
        rest = ClobRest(sim.clob_url, wallet, None, chain_id=137, timeout_s=TIMEOUT_S)
        rest.creds = await rest.api_key()
        db_url = f"sqlite+aiosqlite:///{tmp_path / 'live.db'}"
        store = await Store.open(
            db_url,
            mode=Mode.LIVE,
            spool_dir=tmp_path / "spool",
            writer=WriterConfig(process=False, flush_interval_s=0.01),
        )
        intents = CheckedIntents(store, sim)
        ledger = Ledger(D(1000))
        live = LiveExecution(
            rest,
            markets,
            LiveConfig(
                chain_id=137, funder="", signature_type=SignatureType.EOA, resolve_backoff_s=0.05
            ),
            intents,
            ledger,
            journal_path=tmp_path / "journal.jsonl",
            on_order_update=lambda order, fills: store.submit_order(order),
        )
        try:
            yield Rig(db_url, sim, live, intents, markets, ledger)
        finally:
            await live.aclose()
            await store.close()


def _binary(rig: Rig) -> Market:
    return next(m for m in dict.fromkeys(rig.markets.values()) if not m.neg_risk)


def _asks(rig: Rig, token: str) -> list[tuple[Decimal, Decimal]]:
    book = rig.sim.truth(token)
    return [(price_to_decimal(p), size_to_decimal(s)) for p, s in book.asks.best_first()]


def _buy(market: Market, token: str, size: Decimal, vwap: Decimal, limit: Decimal) -> Signal:
    leg = Leg(token, Side.BUY, size, vwap, limit, market.condition_id)
    return Signal("sniper", market.condition_id, 0, D("0.05"), size, (leg,), kind="directional")


async def test_a_buy_fills_at_the_venue_book_and_is_recorded_before_it_is_sent(rig: Rig) -> None:
    market = _binary(rig)
    token = market.outcomes[0].token_id
    (best, depth), *_ = _asks(rig, token)
    size = min(D(10), depth)
    report = await rig.live.execute(_buy(market, token, size, best, best + D("0.05")))
    (order,) = report.orders
    assert order.status == OrderStatus.FILLED, order.reason
    assert report.outcome == "filled"
    assert [(f.price, f.size) for f in report.fills] == [(best, size)]
    # the venue took the liquidity and stamped our id: the EIP-712 digest we computed
    assert rig.sim.exchange.orders[order.venue_id].size_matched == size
    assert _asks(rig, token)[0] != (best, depth)
    # the intent was committed while the venue had had no request
    assert rig.intents.recorded == [(order.venue_id, 0)]
    assert rig.ledger.shares(token) == size
    # the store holds the order in its final state, under the venue's id
    await rig.intents.store.flush()
    (row,) = await rows(rig.db_url, "orders")
    assert (row["status"], row["venue_id"]) == ("FILLED", order.venue_id)


async def test_a_negrisk_set_goes_in_one_batch_under_the_negrisk_domain(rig: Rig) -> None:
    markets = [m for m in dict.fromkeys(rig.markets.values()) if m.neg_risk]
    legs = []
    for market in markets:
        token = market.outcomes[0].token_id
        best, _ = _asks(rig, token)[0]
        limit = min(best + D("0.10"), D("0.99"))
        legs.append(Leg(token, Side.BUY, D(30), best, limit, market.condition_id))
    signal = Signal("negrisk", "event", 0, D("0.01"), D(30), tuple(legs))
    report = await rig.live.execute(signal)
    assert rig.sim.exchange.requests == 1  # one POST /orders for the whole set
    assert [o.status for o in report.orders] == [OrderStatus.FILLED] * len(markets)
    assert len(report.orders) == 3
    assert sum(f.size for f in report.fills) == D(90)


async def test_fok_beyond_the_depth_is_killed_and_takes_nothing(rig: Rig) -> None:
    market = _binary(rig)
    token = market.outcomes[0].token_id
    asks = _asks(rig, token)
    best = asks[0][0]
    depth = sum(s for p, s in asks if p <= best + D("0.01"))
    before = rig.sim.truth(token).asks.levels
    report = await rig.live.execute(_buy(market, token, depth + 1, best, best + D("0.01")))
    (order,) = report.orders
    assert (order.status, order.reason) == (OrderStatus.CANCELED, FOK_KILLED)
    assert report.fills == []
    assert rig.sim.truth(token).asks.levels == before


@pytest.mark.parametrize("fault", ["429", "425"])
async def test_busy_venue_means_not_placed_and_not_retried(rig: Rig, fault: str) -> None:
    market = _binary(rig)
    token = market.outcomes[0].token_id
    best, _ = _asks(rig, token)[0]
    rig.sim.exchange.inject(fault)  # type: ignore[arg-type]
    report = await rig.live.execute(_buy(market, token, D(5), best, best))
    (order,) = report.orders
    assert order.status == OrderStatus.REJECTED
    assert f"HTTP {fault}" in order.reason
    assert rig.sim.exchange.requests == 1
    assert rig.sim.exchange.orders == {}


async def test_a_5xx_is_unknown_then_resolved_as_never_placed(rig: Rig) -> None:
    market = _binary(rig)
    token = market.outcomes[0].token_id
    best, _ = _asks(rig, token)[0]
    rig.sim.exchange.inject("500")
    report = await rig.live.execute(_buy(market, token, D(5), best, best))
    (order,) = report.orders
    assert OrderStatus.UNKNOWN in [s for s, _ in order.history]
    assert order.status == OrderStatus.REJECTED
    assert "not found" in order.reason
    assert rig.sim.exchange.requests == 1  # looked up, never sent again


@pytest.mark.parametrize("fault", ["drop", "garbled"])
async def test_a_lost_answer_is_resolved_by_query_to_the_fill(rig: Rig, fault: str) -> None:
    market = _binary(rig)
    token = market.outcomes[0].token_id
    best, depth = _asks(rig, token)[0]
    size = min(D(6), depth)
    rig.sim.exchange.inject(fault)  # type: ignore[arg-type]  # placed and matched, answer lost
    report = await rig.live.execute(_buy(market, token, size, best, best))
    (order,) = report.orders
    assert [s for s, _ in order.history][:3] == [
        OrderStatus.SUBMITTING,
        OrderStatus.UNKNOWN,
        OrderStatus.ACKED,
    ]
    assert order.status == OrderStatus.FILLED
    assert sum(f.size for f in report.fills) == size
    assert rig.sim.exchange.requests == 1
    assert list(rig.sim.exchange.orders) == [order.venue_id]


async def test_venue_rules_are_checked_before_anything_is_signed_or_sent(rig: Rig) -> None:
    market = _binary(rig)
    token = market.outcomes[0].token_id
    best, _ = _asks(rig, token)[0]
    report = await rig.live.execute(_buy(market, token, D("1"), best, best))  # < $1 marketable
    (order,) = report.orders
    assert order.status == OrderStatus.FAILED
    assert "min size: $1" in order.reason
    assert rig.intents.recorded == []
    assert rig.sim.exchange.requests == 0


async def test_no_intent_no_order(rig: Rig) -> None:
    market = _binary(rig)
    token = market.outcomes[0].token_id
    best, _ = _asks(rig, token)[0]
    rig.intents.fail = True
    report = await rig.live.execute(_buy(market, token, D(5), best, best))
    (order,) = report.orders
    assert order.status == OrderStatus.FAILED
    assert "intent not recorded" in order.reason
    assert rig.sim.exchange.requests == 0


async def test_a_safe_wallet_trades_for_its_funder(rig: Rig) -> None:
    market = _binary(rig)
    token = market.outcomes[0].token_id
    best, _ = _asks(rig, token)[0]
    funder = "0x" + "ab" * 20
    rig.live.config = replace(
        rig.live.config, funder=funder, signature_type=SignatureType.POLY_GNOSIS_SAFE
    )
    report = await rig.live.execute(_buy(market, token, D(5), best, best))
    (order,) = report.orders
    assert order.status == OrderStatus.FILLED, order.reason
    assert rig.sim.exchange.orders[order.venue_id].maker.lower() == funder


async def test_a_venue_refusal_is_rejected_with_its_words(rig: Rig) -> None:
    market = _binary(rig)
    token = market.outcomes[0].token_id
    best, _ = _asks(rig, token)[0]
    # an EOA order must be made by its signer: the venue answers HTTP 400
    rig.live.config = replace(rig.live.config, funder="0x" + "cd" * 20)
    report = await rig.live.execute(_buy(market, token, D(5), best, best))
    (order,) = report.orders
    assert order.status == OrderStatus.REJECTED
    assert "maker is its signer" in order.reason
    assert report.outcome == "rejected"
    assert rig.sim.exchange.orders == {}


def test_derived_credentials_are_scrubbed_from_output(rig: Rig) -> None:
    creds = rig.live.rest.creds
    assert creds is not None
    line = f"key={creds.api_key} secret={creds.secret} pass={creds.passphrase}"
    assert scrub(line) == "key=*** secret=*** pass=***"


async def test_cancel_all_reaches_the_venue(rig: Rig) -> None:
    assert await rig.live.cancel_all() == []  # FOK/FAK orders never rest


async def test_fak_takes_what_there_is_and_cancels_the_rest(rig: Rig) -> None:
    market = _binary(rig)
    token = market.outcomes[0].token_id
    (best, depth), *_ = _asks(rig, token)
    signal = _buy(market, token, depth + 7, best, best)
    report = await rig.live.execute(signal, order_type=OrderType.FAK)
    (order,) = report.orders
    assert [s for s, _ in order.history][-2:] == [OrderStatus.PARTIAL, OrderStatus.CANCELED]
    assert order.filled == depth
    assert [(f.price, f.size) for f in report.fills] == [(best, depth)]
    assert report.outcome == "partial"


async def test_the_second_token_trades_on_the_mirror_and_sells_back(rig: Rig) -> None:
    market = _binary(rig)
    yes, no = (o.token_id for o in market.outcomes)
    yes_book = rig.sim.truth(yes)
    no_ask = 1 - price_to_decimal(yes_book.bids.best() or 0)  # NO at p hits YES bids at 1 - p
    bought = await rig.live.execute(_buy(market, no, D(8), no_ask, no_ask))
    assert bought.orders[0].status == OrderStatus.FILLED, bought.orders[0].reason
    assert [(f.price, f.size) for f in bought.fills] == [(no_ask, D(8))]
    assert rig.sim.exchange.position(rig.live.rest.wallet.address, no) == D(8)

    def sell(size: Decimal) -> Signal:
        no_bid = 1 - price_to_decimal(rig.sim.truth(yes).asks.best() or 0)
        leg = Leg(no, Side.SELL, size, no_bid, no_bid - D("0.02"), market.condition_id)
        return Signal("sniper", market.condition_id, 0, D("0.01"), size, (leg,), kind="directional")

    too_many = await rig.live.execute(sell(D(9)))
    assert too_many.orders[0].status == OrderStatus.REJECTED
    assert too_many.orders[0].reason == NOT_ENOUGH_BALANCE
    sold = await rig.live.execute(sell(D(8)))
    assert sold.orders[0].status == OrderStatus.FILLED, sold.orders[0].reason
    assert rig.sim.exchange.position(rig.live.rest.wallet.address, no) == 0
    assert rig.ledger.shares(no) == 0


async def test_nothing_is_submitted_while_heartbeats_fail(rig: Rig) -> None:
    market = _binary(rig)
    token = market.outcomes[0].token_id
    best, _ = _asks(rig, token)[0]
    keeper = HeartbeatKeeper(rig.live.rest, interval_s=60)
    rig.live.heartbeat = keeper
    before = await rig.live.execute(_buy(market, token, D(5), best, best))
    assert before.orders[0].status == OrderStatus.FAILED  # no heartbeat yet
    assert await keeper.beat()
    ok = await rig.live.execute(_buy(market, token, D(5), best, best + D("0.05")))
    assert ok.orders[0].status == OrderStatus.FILLED, ok.orders[0].reason
    rig.sim.exchange.heartbeat_faults.append("500")
    assert not await keeper.beat()
    refused = await rig.live.execute(_buy(market, token, D(5), best, best + D("0.05")))
    assert refused.orders[0].status == OrderStatus.FAILED
    assert "heartbeat failing" in refused.orders[0].reason
    assert rig.sim.exchange.requests == 1  # only the order sent while heartbeats held
    chain = keeper.heartbeat_id
    assert await keeper.beat()
    assert keeper.heartbeat_id == chain  # the chain survived one failed call


async def test_an_expired_heartbeat_chain_is_refused_then_restarted(rig: Rig) -> None:
    keeper = HeartbeatKeeper(rig.live.rest, interval_s=0.02)
    rig.sim.exchange.heartbeat_timeout_s = 0.05
    keeper.start()
    for _ in range(100):
        if keeper.healthy:
            break
        await asyncio.sleep(0.01)
    assert keeper.healthy
    await keeper.stop()
    first = keeper.heartbeat_id
    await asyncio.sleep(0.1)  # missed: the venue expires the chain
    assert not await keeper.beat()
    assert "Invalid Heartbeat ID" in keeper.failure
    assert await keeper.beat()
    assert keeper.heartbeat_id not in ("", first)


async def test_retry_after_holds_submissions_back(rig: Rig) -> None:
    market = _binary(rig)
    token = market.outcomes[0].token_id
    best, _ = _asks(rig, token)[0]
    rig.sim.exchange.retry_after_s = 0.3
    rig.sim.exchange.inject("503")  # post-only mode after a restart
    first = await rig.live.execute(_buy(market, token, D(5), best, best + D("0.05")))
    assert first.orders[0].status == OrderStatus.REJECTED
    assert "HTTP 503" in first.orders[0].reason
    held = await rig.live.execute(_buy(market, token, D(5), best, best + D("0.05")))
    assert held.orders[0].status == OrderStatus.FAILED
    assert "venue asked to wait" in held.orders[0].reason
    assert rig.sim.exchange.requests == 1
    await asyncio.sleep(0.35)
    after = await rig.live.execute(_buy(market, token, D(5), best, best + D("0.05")))
    assert after.orders[0].status == OrderStatus.FILLED, after.orders[0].reason


async def test_orders_over_the_budget_are_not_sent(rig: Rig) -> None:
    market = _binary(rig)
    token = market.outcomes[0].token_id
    best, _ = _asks(rig, token)[0]
    rig.live.rest.budgets = RequestBudgets("1/minute")
    first = await rig.live.execute(_buy(market, token, D(5), best, best + D("0.05")))
    assert first.orders[0].status == OrderStatus.FILLED, first.orders[0].reason
    second = await rig.live.execute(_buy(market, token, D(5), best, best + D("0.05")))
    assert second.orders[0].status == OrderStatus.FAILED
    assert "order budget exhausted (1/1minute)" in second.orders[0].reason
    assert rig.sim.exchange.requests == 1
