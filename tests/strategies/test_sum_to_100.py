from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import pytest

from polyarb.config import Settings
from polyarb.domain.book import Side
from polyarb.domain.market import FeeSchedule, Market
from polyarb.domain.numbers import parse_price
from polyarb.domain.trading import Signal
from polyarb.strategies import Clipper, SumTo100, build_enabled
from polyarb.strategies.base import AttemptGate, ClipperConfig, SumTo100Config

from .helpers import MS, NOW, FakeView, binary_market, make_book, set_ask

FLAT = SumTo100Config(fee_rate=Decimal("0.01"))  # the seed's flat $0.01 per set


def setup(
    market: Market,
    yes_asks: list[tuple[str, str]],
    no_asks: list[tuple[str, str]],
    config: SumTo100Config = FLAT,
    **book_kw: object,
) -> tuple[SumTo100, FakeView]:
    strategy = SumTo100(config, independent_books=True)
    routes = strategy.set_universe([market], [])
    yes, no = market.outcomes
    assert routes == {yes.token_id: market.condition_id, no.token_id: market.condition_id}
    view = FakeView().add(
        make_book(yes.token_id, yes_asks, **book_kw),  # type: ignore[arg-type]
        make_book(no.token_id, no_asks, **book_kw),  # type: ignore[arg-type]
    )
    return strategy, view


def evaluate(strategy: SumTo100 | Clipper, view: FakeView, *keys: str) -> list[Signal]:
    return strategy.on_book(view, set(keys) or {"cond-1"}, view.now)


# --- the seed's vectors (seed_code_study.md 2.1), flat fee $0.01 per set -----------------------


def test_seed_vector_single_level() -> None:
    market = binary_market()
    strategy, view = setup(market, [("0.45", "100")], [("0.50", "100")])
    [signal] = evaluate(strategy, view)
    assert signal.edge == Decimal("0.0399")  # 4c a set less the $0.01 merge transaction
    assert signal.size == Decimal(100)
    assert signal.fees == Decimal("1.00")
    assert signal.cost == Decimal("96.01")  # 95 + 1 of fees + CHAIN_TX_COST_USD
    assert signal.kind == "complete_set"
    assert signal.market == market.condition_id
    yes, no = signal.legs
    assert (yes.token_id, yes.side, yes.vwap, yes.limit_price) == (
        "cond-1-yes",
        Side.BUY,
        Decimal("0.45"),
        Decimal("0.45"),
    )
    assert (no.token_id, no.vwap, no.limit_price, no.size) == (
        "cond-1-no",
        Decimal("0.50"),
        Decimal("0.50"),
        Decimal(100),
    )


def test_seed_vector_two_levels_vwap() -> None:
    strategy, view = setup(binary_market(), [("0.45", "50"), ("0.46", "50")], [("0.48", "100")])
    [signal] = evaluate(strategy, view)
    assert signal.legs[0].vwap == Decimal("0.455")
    assert signal.legs[0].limit_price == Decimal("0.46")  # the worst level touched
    assert signal.edge == Decimal("0.0549")  # 5.5c a set less the $0.01 merge transaction
    assert signal.size == Decimal(100)


def test_seed_vector_no_edge() -> None:
    strategy, view = setup(binary_market(), [("0.50", "100")], [("0.52", "100")])
    assert evaluate(strategy, view) == []
    assert strategy.stats()["no_edge"] == 1


def test_seed_vector_too_thin_for_min_liquidity() -> None:
    config = SumTo100Config(fee_rate=Decimal("0.01"), min_liquidity=Decimal(10))
    strategy, view = setup(binary_market(), [("0.45", "5")], [("0.50", "5")], config)
    assert evaluate(strategy, view) == []
    assert strategy.stats()["too_thin"] == 1


def test_top_of_book_sum_below_one_but_thinner_than_min_liquidity() -> None:
    # 0.40 + 0.50 at the top, but only 20 sets there; behind it the sum is above 1.
    strategy, view = setup(
        binary_market(),
        [("0.40", "20"), ("0.70", "500")],
        [("0.50", "500")],
        SumTo100Config(),  # min liquidity 50
    )
    assert evaluate(strategy, view) == []
    assert strategy.stats()["too_thin"] == 1


# --- venue fees -------------------------------------------------------------------------------


def test_venue_fees_level_by_level() -> None:
    fees = FeeSchedule(rate=Decimal("0.03"))
    market = binary_market(fees=fees)
    strategy, view = setup(
        market, [("0.45", "60"), ("0.47", "60")], [("0.48", "200")], SumTo100Config()
    )
    [signal] = evaluate(strategy, view)
    # Independent computation with the domain's Decimal fee formula.
    expected_fees = (
        fees.taker_fee(Decimal("0.45"), Decimal(60)),
        fees.taker_fee(Decimal("0.47"), Decimal(40)),
        fees.taker_fee(Decimal("0.48"), Decimal(100)),
    )
    assert signal.size == Decimal(100)
    # Each level is a fill whose fee the venue rounds down to $0.00001.
    assert signal.fees == sum(
        (f.quantize(Decimal("1e-5"), rounding=ROUND_DOWN) for f in expected_fees), Decimal(0)
    )
    price_cost = Decimal("0.45") * 60 + Decimal("0.47") * 40 + Decimal("0.48") * 100
    assert signal.cost == price_cost + signal.fees + Decimal("0.01")  # + the merge transaction
    assert signal.edge == (100 - signal.cost) / 100


def test_an_edge_the_fees_remove() -> None:
    asks = ([("0.49", "100")], [("0.50", "100")])  # gross edge 1c
    free, _ = setup(binary_market(), *asks, SumTo100Config())
    view = FakeView().add(make_book("cond-1-yes", asks[0]), make_book("cond-1-no", asks[1]))
    assert len(evaluate(free, view)) == 1  # no fees: 1c > 0.3c
    paid, _ = setup(binary_market(fees=FeeSchedule(Decimal("0.05"))), *asks, SumTo100Config())
    assert evaluate(paid, view) == []  # 0.05 x (0.2499 + 0.25) = 2.5c of fees
    flat, _ = setup(binary_market(), *asks, SumTo100Config(fee_rate=Decimal("0.01")))
    assert evaluate(flat, view) == []  # flat 1c per set leaves 0 < 0.3c


def test_flat_override_replaces_venue_fees() -> None:
    market = binary_market(fees=FeeSchedule(Decimal("0.05")))
    strategy, view = setup(market, [("0.45", "100")], [("0.50", "100")], FLAT)
    [signal] = evaluate(strategy, view)
    assert signal.fees == Decimal(1)  # $0.01 x 100 sets, not the venue's 0.05 p(1-p)


# --- book health ------------------------------------------------------------------------------


def test_stale_book_is_not_traded() -> None:
    strategy, view = setup(binary_market(), [("0.45", "100")], [("0.50", "100")])
    view.books["cond-1-no"].invalidate()
    assert evaluate(strategy, view) == []
    assert strategy.stats()["stale"] == 1


def test_crossed_book_is_not_traded() -> None:
    strategy, view = setup(binary_market(), [("0.45", "100")], [("0.50", "100")])
    view.add(make_book("cond-1-yes", [("0.45", "100")], [("0.46", "10")]))
    assert evaluate(strategy, view) == []
    assert strategy.stats()["crossed"] == 1


def test_book_too_old_is_not_traded_and_any_update_refreshes_it() -> None:
    strategy, view = setup(binary_market(), [("0.45", "100")], [("0.50", "100")])
    view.now = NOW + 501 * MS  # default max age 500 ms
    assert evaluate(strategy, view) == []
    assert strategy.stats()["too_old"] == 1
    # A level update (not only a snapshot) counts as fresh data for both books.
    set_ask(view.books["cond-1-yes"], "0.10", "0", view.now)  # removing a far level
    set_ask(view.books["cond-1-no"], "0.99", "0", view.now)
    assert len(evaluate(strategy, view)) == 1


def test_missing_book_never_synthesised() -> None:
    strategy, view = setup(binary_market(), [("0.45", "100")], [("0.50", "100")])
    del view.books["cond-1-no"]  # NO = 1 - YES is never assumed
    assert evaluate(strategy, view) == []
    assert strategy.stats()["no_book"] == 1


# --- venue minimums and precision --------------------------------------------------------------


def test_leg_below_one_dollar_is_refused() -> None:
    config = SumTo100Config(min_liquidity=Decimal(5))
    strategy, view = setup(binary_market(), [("0.01", "50")], [("0.90", "50")], config)
    assert evaluate(strategy, view) == []  # YES leg would be $0.50 < $1
    assert strategy.stats()["below_venue_minimum"] == 1


def test_below_market_minimum_order_size() -> None:
    config = SumTo100Config(min_liquidity=Decimal(1))
    market = binary_market(min_order_size="15")
    strategy, view = setup(market, [("0.45", "10")], [("0.50", "10")], config)
    assert evaluate(strategy, view) == []
    assert strategy.stats()["too_thin"] == 1


def test_size_rounded_down_to_cents_and_limit_on_tick_grid() -> None:
    config = SumTo100Config(min_liquidity=Decimal(5))
    # A level off the 0.01 grid (e.g. left from before a tick size change) and odd sizes.
    strategy, view = setup(
        binary_market(), [("0.45", "30"), ("0.455", "27.123456")], [("0.48", "500")], config
    )
    [signal] = evaluate(strategy, view)
    assert signal.size == Decimal("57.12")
    assert signal.legs[0].limit_price == Decimal("0.46")  # 0.455 rounded up to the grid
    for leg in signal.legs:
        assert leg.size == Decimal("57.12")
        assert (leg.limit_price / Decimal("0.01")) % 1 == 0


def test_limit_on_a_fine_tick_grid() -> None:
    strategy, view = setup(
        binary_market(tick="0.001"),
        [("0.455", "100")],
        [("0.481", "100")],
        SumTo100Config(),
        tick="0.001",
    )
    [signal] = evaluate(strategy, view)
    assert [leg.limit_price for leg in signal.legs] == [Decimal("0.455"), Decimal("0.481")]


# --- largest size -----------------------------------------------------------------------------


def test_largest_size_on_multi_level_ladders() -> None:
    config = SumTo100Config(
        min_edge=Decimal("0.003"),
        max_position=Decimal(1000),
        max_notional=Decimal(1000),
        min_liquidity=Decimal(5),
    )
    strategy, view = setup(
        binary_market(),
        [("0.40", "40"), ("0.45", "40"), ("0.55", "200")],
        [("0.50", "1000")],
        config,
    )
    [signal] = evaluate(strategy, view)
    # Marginal, not average: every set past 80 costs 0.55 + 0.50 > 0.997, so none is bought
    # (the seed's average rule bought 188.67 sets, the last 108.67 at a loss).
    assert signal.size == Decimal(80)
    assert signal.edge >= Decimal("0.003")


def test_size_capped_by_position_and_notional() -> None:
    asks = ([("0.40", "1000")], [("0.50", "1000")])
    by_position, view = setup(binary_market(), *asks, SumTo100Config(max_position=Decimal(70)))
    assert evaluate(by_position, view)[0].size == Decimal(70)
    by_notional, view = setup(binary_market(), *asks, SumTo100Config(max_notional=Decimal(50)))
    [signal] = evaluate(by_notional, view)
    assert signal.size == Decimal("55.54")  # (50 - 0.01 of chain cost) / 0.90, rounded down
    assert signal.cost <= Decimal(50)


# --- attempts: in flight and cooldown -----------------------------------------------------------


def test_one_attempt_in_flight_then_cooldown_then_timer_rearms() -> None:
    config = SumTo100Config(fee_rate=Decimal("0.01"), cooldown_ms=2000)
    strategy, view = setup(binary_market(), [("0.45", "100")], [("0.50", "100")], config)
    [signal] = evaluate(strategy, view)
    assert signal.signal_id == "sumto100-1"
    assert evaluate(strategy, view) == []
    assert [(s.market, s.held_back) for s in strategy.last_sightings] == [("cond-1", "in_flight")]
    strategy.on_result(signal, "taken", view.now)  # not terminal: still in flight
    assert evaluate(strategy, view) == []
    strategy.on_result(signal, "filled", view.now)
    view.now += 1000 * MS
    for book in view.books.values():
        book.ts_recv_ns = view.now
    assert evaluate(strategy, view) == []
    assert strategy.last_sightings[0].held_back == "cooldown"
    assert strategy.on_timer(view, view.now) == []  # cooldown not over yet
    view.now += 1000 * MS
    for book in view.books.values():
        book.ts_recv_ns = view.now
    [again] = strategy.on_timer(view, view.now)  # a quiet book is re-evaluated after cooldown
    assert again.signal_id == "sumto100-2"
    assert strategy.stats()["in_flight"] == 1


def test_denial_also_starts_the_cooldown() -> None:
    strategy, view = setup(binary_market(), [("0.45", "100")], [("0.50", "100")])
    [signal] = evaluate(strategy, view)
    strategy.on_result(signal, "denied:exposure_limit", view.now)
    assert evaluate(strategy, view) == []
    assert strategy.last_sightings[0].held_back == "cooldown"


def test_shared_gate_keeps_one_attempt_per_market_across_strategies() -> None:
    gate = AttemptGate()
    market = binary_market()
    sum_to_100 = SumTo100(FLAT, gate=gate, independent_books=True)
    clipper = Clipper(ClipperConfig(), gate=gate, independent_books=True)
    for s in (sum_to_100, clipper):
        s.set_universe([market], [])
    view = FakeView().add(
        make_book("cond-1-yes", [("0.45", "100")]), make_book("cond-1-no", [("0.50", "100")])
    )
    assert len(evaluate(sum_to_100, view)) == 1
    assert evaluate(clipper, view) == []
    assert clipper.last_sightings[0].held_back == "in_flight"


def test_result_of_another_strategy_is_ignored() -> None:
    strategy, view = setup(binary_market(), [("0.45", "100")], [("0.50", "100")])
    [signal] = evaluate(strategy, view)
    other = Signal("clipper", signal.market, 0, signal.edge, signal.size, signal.legs)
    strategy.on_result(other, "filled", view.now)
    assert strategy.gate.in_flight() == {"cond-1": "sumto100-1"}


# --- universe and configuration -----------------------------------------------------------------


def test_universe_skips_closed_and_non_binary_markets() -> None:
    strategy = SumTo100(FLAT, independent_books=True)
    open_market = binary_market("a")
    closed = binary_market("b", closed=True)
    not_accepting = binary_market("c", accepting_orders=False)
    routes = strategy.set_universe([open_market, closed, not_accepting], [])
    assert set(routes.values()) == {"a"}
    assert not strategy.watches(closed)


def test_config_from_settings_and_runtime_change() -> None:
    settings_ = Settings(
        _env_file=None,  # type: ignore[call-arg]
        sumto100_min_edge=Decimal("0.01"),
        sumto100_fee_rate=Decimal("0.02"),
        sumto100_max_book_age_ms=900,
        clipper_min_profit=Decimal("0.03"),
    )
    config = SumTo100Config.from_settings(settings_)
    assert config == SumTo100Config(
        min_edge=Decimal("0.01"), fee_rate=Decimal("0.02"), max_book_age_ms=900
    )
    clipper = ClipperConfig.from_settings(settings_)
    assert clipper.min_profit == Decimal("0.03")
    assert clipper.fee_rate == Decimal("0.02")  # SUMTO100_FEE_RATE applies to Clipper too
    assert clipper.max_book_age_ms == 900
    changed = config.with_param("min_edge", "0.05")
    assert changed.min_edge == Decimal("0.05")
    assert config.with_param("fee_rate", "").fee_rate is None
    with pytest.raises(ValueError, match="unknown parameter"):
        config.with_param("nope", "1")
    with pytest.raises(ValueError, match="negative"):
        config.with_param("max_position", "-1")
    assert config.params()["max_book_age_ms"] == "900"
    chosen = Settings(_env_file=None, clipper_enabled=False, sniper_enabled=False)  # type: ignore[call-arg]
    assert [s.name for s in build_enabled(chosen)] == ["sumto100", "negrisk", "neg_risk_convert"]
    everything = Settings(_env_file=None, sniper_enabled=True)  # type: ignore[call-arg]
    built = build_enabled(everything, id_prefix="run7-")
    assert [s.name for s in built] == [
        "sumto100",
        "clipper",
        "negrisk",
        "neg_risk_convert",
        "sniper",
    ]
    sum_to_100, clipper = built[0], built[1]
    assert isinstance(sum_to_100, SumTo100)
    assert isinstance(clipper, Clipper)
    assert sum_to_100.gate is clipper.gate  # one attempt per market across both
    assert sum_to_100.id_prefix == "run7-"


def test_set_config_applies_new_limits() -> None:
    strategy, view = setup(binary_market(), [("0.45", "100")], [("0.50", "100")])
    strategy.set_config(SumTo100Config(fee_rate=Decimal("0.01"), min_edge=Decimal("0.05")))
    assert evaluate(strategy, view) == []  # 4c edge < 5c


def test_unknown_keys_are_ignored_and_evaluated_keys_reported() -> None:
    strategy, view = setup(binary_market(), [("0.50", "100")], [("0.52", "100")])
    assert strategy.on_book(view, {"cond-1", "other"}, NOW) == []
    assert strategy.last_evaluated == ["cond-1"]
    assert strategy.last_sightings == []
    assert parse_price("0.5") == 5000
