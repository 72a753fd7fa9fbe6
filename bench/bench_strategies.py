"""Cost of one strategy evaluation beside the cost of the book update it follows, same run.

Realistic books: every token has 20 bid and 20 ask levels one tick apart, sizes 10-500 shares,
the venue's sports fee (rate 0.03). Measured, each as µs per call (p50 / p99 over batches of
calls, so the timer's own cost is spread over the batch):

  book update        OrderBook.apply_level: a random level of a random side set to a new size
                     (a price_change entry, the unit the feed applies)
  SumTo100 no edge   on_book for one binary market whose asks sum to 1.01 (the usual case: the
                     first segment's marginal cost is already above 1 - min_edge)
  SumTo100 edge      the same with asks summing to 0.95 over several levels: plan, legs, Signal
                     (the result is acknowledged at once, cooldown 0, so every call signals)
  Clipper no edge    top of book only, one market
  Clipper best of 10 ten markets evaluated together, three with an edge
  NegRisk no edge    one event of 6 outcomes whose YES asks sum to 1.02
  NegRisk edge       the same event summing to 0.96 (signal every call)

Target: an evaluation costs less than the book update it follows. The figures say honestly how
far pure Python is from that; the ratio printed is evaluation p50 / book update p50.

    .venv/bin/python bench/bench_strategies.py [--batches 2000] [--batch 50]
"""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable
from decimal import Decimal

from polyarb.domain.book import OrderBook, Side
from polyarb.domain.market import FeeSchedule, Market, MarketEvent, Outcome
from polyarb.domain.trading import Signal
from polyarb.strategies import Clipper, NegRisk, SumTo100
from polyarb.strategies.base import BookView, ClipperConfig, NegRiskConfig, SumTo100Config

NOW = 1_780_000_000 * 1_000_000_000
FEES = FeeSchedule(Decimal("0.03"))
LEVELS = 20
TICK = 100  # 0.01 in 1e-4 units


def ladder_book(token: str, best_ask: int, rng: random.Random) -> OrderBook:
    """20 asks from ``best_ask`` up and 20 bids below it, one tick apart."""
    book = OrderBook(token, tick=TICK)
    asks = [(best_ask + i * TICK, rng.randint(10, 500) * 1_000_000) for i in range(LEVELS)]
    bids = [(best_ask - (i + 1) * TICK, rng.randint(10, 500) * 1_000_000) for i in range(LEVELS)]
    book.apply_snapshot([b for b in bids if b[0] > 0], [a for a in asks if a[0] < 10_000], 0, NOW)
    return book


def binary(cid: str) -> Market:
    outcomes = (Outcome("Yes", f"{cid}-yes"), Outcome("No", f"{cid}-no"))
    return Market(cid, cid, cid, outcomes, fees=FEES)


def measure(fn: Callable[[], object], batches: int, batch: int) -> tuple[float, float]:
    """(p50, p99) of the mean µs per call over ``batches`` batches of ``batch`` calls."""
    samples = []
    clock = time.perf_counter_ns
    gc.disable()
    try:
        for _ in range(batches):
            start = clock()
            for _ in range(batch):
                fn()
            samples.append((clock() - start) / batch / 1000)
    finally:
        gc.enable()
    samples.sort()
    return samples[len(samples) // 2], samples[min(len(samples) - 1, len(samples) * 99 // 100)]


def bench_book_update(rng: random.Random) -> Callable[[], object]:
    book = ladder_book("t", 5000, rng)
    updates = []
    for _ in range(4096):
        side = rng.choice((Side.BUY, Side.SELL))
        base = 4900 if side is Side.BUY else 5000
        step = -1 if side is Side.BUY else 1
        price = base + step * rng.randrange(LEVELS) * TICK
        size = rng.choice((0, rng.randint(1, 500) * 1_000_000))
        updates.append((side, price, size))
    state = {"i": 0}

    def update() -> None:
        i = state["i"] = (state["i"] + 1) & 4095
        side, price, size = updates[i]
        book.apply_level(side, price, size, 0, NOW)

    return update


def set_strategy_call(
    strategy: SumTo100 | Clipper | NegRisk,
    books: dict[str, OrderBook],
    keys: set[str],
    *,
    acknowledge: bool,
) -> Callable[[], object]:
    view = BookView(books, lambda: NOW)

    def evaluate() -> list[Signal]:
        signals = strategy.on_book(view, keys, NOW)
        if acknowledge:
            for signal in signals:
                strategy.on_result(signal, "filled", NOW)
        return signals

    return evaluate


def sum_to_100(rng: random.Random, yes_ask: int, no_ask: int) -> Callable[[], object]:
    market = binary("m")
    strategy = SumTo100(SumTo100Config(cooldown_ms=0, max_position=Decimal(300)))
    strategy.set_universe([market], [])
    books = {"m-yes": ladder_book("m-yes", yes_ask, rng), "m-no": ladder_book("m-no", no_ask, rng)}
    call = set_strategy_call(strategy, books, {"m"}, acknowledge=True)
    expect_signal = yes_ask + no_ask < 10_000
    assert bool(call()) == expect_signal, "benchmark books do not behave as described"
    return call


def clipper(rng: random.Random, markets: int, with_edge: int) -> Callable[[], object]:
    strategy = Clipper(ClipperConfig(cooldown_ms=0))
    universe = [binary(f"m{i}") for i in range(markets)]
    strategy.set_universe(universe, [])
    books: dict[str, OrderBook] = {}
    for i in range(markets):
        no_ask = 4500 if i < with_edge else 5100
        books[f"m{i}-yes"] = ladder_book(f"m{i}-yes", 5000, rng)
        books[f"m{i}-no"] = ladder_book(f"m{i}-no", no_ask, rng)
    call = set_strategy_call(strategy, books, {m.condition_id for m in universe}, acknowledge=True)
    assert len(call()) == (1 if with_edge else 0)
    return call


def neg_risk(rng: random.Random, total: int) -> Callable[[], object]:
    outcomes = 6
    markets = tuple(
        Market(
            f"e-m{i}",
            f"outcome {i}",
            f"e-m{i}",
            (Outcome("Yes", f"e-m{i}-yes"), Outcome("No", f"e-m{i}-no")),
            neg_risk=True,
            event_id="e",
            group_item_title=f"outcome {i}",
            fees=FEES,
        )
        for i in range(outcomes)
    )
    event = MarketEvent("e", "e", "event", True, markets)
    strategy = NegRisk(NegRiskConfig(cooldown_ms=0))
    strategy.set_universe(list(markets), [event])
    prices = [total // outcomes] * outcomes
    prices[0] += total - sum(prices)
    books = {f"e-m{i}-yes": ladder_book(f"e-m{i}-yes", p, rng) for i, p in enumerate(prices)}
    call = set_strategy_call(strategy, books, {"e"}, acknowledge=True)
    assert bool(call()) == (total < 10_000)
    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    rng = random.Random(7)
    cases: list[tuple[str, Callable[[], object]]] = [
        ("book update (apply_level)", bench_book_update(rng)),
        ("SumTo100 no edge", sum_to_100(rng, 5000, 5100)),
        ("SumTo100 edge + signal", sum_to_100(rng, 4700, 4800)),
        ("Clipper no edge (1 market)", clipper(rng, 1, 0)),
        ("Clipper best of 10 (3 edges)", clipper(rng, 10, 3)),
        ("NegRisk 6 outcomes no edge", neg_risk(rng, 10_200)),
        ("NegRisk 6 outcomes edge + signal", neg_risk(rng, 9_600)),
    ]
    results = []
    for name, fn in cases:
        measure(fn, args.batches // 10, args.batch)  # warm-up
        results.append((name, *measure(fn, args.batches, args.batch)))
    book_p50 = results[0][1]
    print(f"µs per call, p50 / p99 of {args.batches} batches x {args.batch} calls")
    print(f"{'case':36} {'p50':>8} {'p99':>8} {'p50 / book update':>18}")
    for name, p50, p99 in results:
        print(f"{name:36} {p50:8.2f} {p99:8.2f} {p50 / book_p50:17.1f}x")


if __name__ == "__main__":
    main()
