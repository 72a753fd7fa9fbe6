from __future__ import annotations

from decimal import Decimal

from polyarb.domain.market import FeeSchedule
from polyarb.strategies import Clipper
from polyarb.strategies.base import ClipperConfig

from .helpers import MS, NOW, FakeView, binary_market, make_book


def clipper_with(
    config: ClipperConfig, books: dict[str, tuple[str, str, str]], **market_kw: object
) -> tuple[Clipper, FakeView]:
    """books: condition id -> (yes ask, no ask, size at each)."""
    strategy = Clipper(config, independent_books=True)
    markets = [binary_market(cid, **market_kw) for cid in books]  # type: ignore[arg-type]
    strategy.set_universe(markets, [])
    view = FakeView()
    for cid, (yes, no, size) in books.items():
        view.add(make_book(f"{cid}-yes", [(yes, size)]), make_book(f"{cid}-no", [(no, size)]))
    return strategy, view


# The seed's vectors (seed_code_study.md 2.2) without fees: 0.45 + 0.50 at $50 -> 52.63 sets, less
# the $0.01 merge transaction (CHAIN_TX_COST_USD) that the notional cap holds too -> 52.62.
def test_seed_vector_notional_cap() -> None:
    strategy, view = clipper_with(
        ClipperConfig(max_notional=Decimal(50)), {"a": ("0.45", "0.50", "1000")}
    )
    [signal] = strategy.on_book(view, {"a"}, NOW)
    assert signal.size == Decimal("52.62")
    assert signal.cost == Decimal("52.62") * Decimal("0.95") + Decimal("0.01")
    assert signal.edge == Decimal("0.04980995")  # (2.631 - 0.01) / 52.62, rounded down
    assert signal.cost <= Decimal(50)


def test_seed_vector_position_cap() -> None:
    strategy, view = clipper_with(
        ClipperConfig(max_position=Decimal(10)), {"a": ("0.45", "0.50", "1000")}
    )
    [signal] = strategy.on_book(view, {"a"}, NOW)
    assert signal.size == Decimal(10)


def test_flat_fee_per_set_enters_the_notional() -> None:
    strategy, view = clipper_with(
        ClipperConfig(max_notional=Decimal(50), fee_rate=Decimal("0.01")),
        {"a": ("0.45", "0.50", "1000")},
    )
    [signal] = strategy.on_book(view, {"a"}, NOW)
    assert signal.size == Decimal("52.07")  # (50 - 0.01 chain) / 0.96
    assert signal.cost == Decimal("52.07") * Decimal("0.96") + Decimal("0.01")


def test_min_profit_after_venue_fees() -> None:
    books = {"a": ("0.47", "0.51", "100")}  # 2c gross
    free, view = clipper_with(ClipperConfig(), books)
    assert len(free.on_book(view, {"a"}, NOW)) == 1
    paid, view = clipper_with(ClipperConfig(), books, fees=FeeSchedule(Decimal("0.03")))
    assert paid.on_book(view, {"a"}, NOW) == []  # 0.03 x (0.2491 + 0.2499) = 1.5c leaves 0.5c
    assert paid.stats()["no_edge"] == 1


def test_only_the_top_level_counts() -> None:
    strategy = Clipper(ClipperConfig(), independent_books=True)
    strategy.set_universe([binary_market("a")], [])
    view = FakeView().add(
        make_book("a-yes", [("0.40", "12"), ("0.41", "500")]),
        make_book("a-no", [("0.50", "500")]),
    )
    [signal] = strategy.on_book(view, {"a"}, NOW)
    assert signal.size == Decimal(12)  # the smaller top level
    assert signal.legs[0].limit_price == Decimal("0.40")


def test_picks_the_best_opportunity_not_the_first() -> None:
    strategy, view = clipper_with(
        ClipperConfig(),
        {
            "first": ("0.48", "0.50", "100"),  # 2c x 100 = $2
            "best": ("0.45", "0.50", "100"),  # 5c x 100 = $5
            "thin": ("0.40", "0.50", "10"),  # 10c x 10 = $1
        },
    )
    [signal] = strategy.on_book(view, ["first", "best", "thin"], NOW)
    assert signal.market == "best"
    held = {s.market: s.held_back for s in strategy.last_sightings}
    assert held == {"first": "not_best", "best": "", "thin": "not_best"}


def test_book_checks_apply() -> None:
    strategy, view = clipper_with(ClipperConfig(), {"a": ("0.45", "0.50", "100")})
    view.now = NOW + 600 * MS
    assert strategy.on_book(view, {"a"}, view.now) == []
    assert strategy.stats()["too_old"] == 1
