"""Paper execution and ledger throughput; prints its figures.

    .venv/bin/python bench/bench_paper.py [--n 5000]

Measures, on this machine: a two-leg complete-set execution (zero latency, 10-level books,
match + fees + ledger + merge, no journal), the same with the fsync'd journal, ledger fill
application, and ledger recompute from the events.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import structlog

from polyarb.domain.book import OrderBook, Side
from polyarb.domain.ledger import Ledger
from polyarb.domain.market import FeeSchedule, Market, Outcome
from polyarb.domain.numbers import parse_price, parse_size
from polyarb.domain.trading import Fill, Leg, Mode, Signal
from polyarb.execution.paper import PaperConfig, PaperExecution

D = Decimal


def books() -> dict[str, OrderBook]:
    out = {}
    for token, best in (("yes", 45), ("no", 50)):
        b = OrderBook(token, "cond")
        asks = [(parse_price(f"0.{best + i:02d}"), parse_size("40")) for i in range(10)]
        b.apply_snapshot([], asks, 0, 1)
        out[token] = b
    return out


def signal() -> Signal:
    legs = (
        Leg("yes", Side.BUY, D(100), D("0.47"), D("0.47"), "cond"),
        Leg("no", Side.BUY, D(100), D("0.52"), D("0.52"), "cond"),
    )
    return Signal("sumto100", "cond", 0, D("0.01"), D(100), legs)


async def executions(n: int, journal: Path | None) -> float:
    market = Market(
        "cond", "q", "s", (Outcome("Yes", "yes"), Outcome("No", "no")), fees=FeeSchedule(D("0.02"))
    )
    ex = PaperExecution(
        books(), {"yes": market, "no": market}, PaperConfig(latency_ms=0), Ledger(D(10**9)),
        journal,
    )  # fmt: skip
    sig = signal()
    start = time.perf_counter()
    for i in range(n):
        for b in ex.books.values():  # fresh liquidity each time: the wire changes every level
            size = parse_size("40" if i % 2 else "41")
            b.apply_snapshot([], [(p, size) for p in b.asks.prices], 0, 1)
            ex.on_book(b.token_id)
        report = await ex.execute(sig)
        assert report.merged == D(100), report
    elapsed = time.perf_counter() - start
    ex.close()
    return elapsed


def ledger_figures(n: int) -> tuple[float, float]:
    """n fills over 50 tokens: two buys then one sell per token, in time order."""
    fills = []
    for i in range(n):
        side = Side.SELL if i % 3 == 2 else Side.BUY
        token = f"tok{(i // 3) % 50}"
        fee = D("0.00123")
        fill = Fill(
            f"f{i}", f"o{i}", token, "cond", side, D("0.45"), D("10.5"), fee, i, "s", Mode.PAPER
        )
        fills.append(fill)
    ledger = Ledger(D(10**9))
    start = time.perf_counter()
    for f in fills:
        ledger.apply_fill(f)
    apply_s = time.perf_counter() - start
    start = time.perf_counter()
    Ledger.recompute(fills, starting_balance=D(10**9))
    recompute_s = time.perf_counter() - start
    return apply_s, recompute_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    n = args.n
    plain = asyncio.run(executions(n, None))
    print(f"complete-set execution (2 legs, 10 levels, merge), no journal: "
          f"{n / plain:,.0f}/s, {plain / n * 1e6:,.0f} us each")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        m = max(n // 10, 50)
        journaled = asyncio.run(executions(m, Path(tmp) / "journal.jsonl"))
        print(f"same with fsync'd journal (3 appends each): "
              f"{m / journaled:,.0f}/s, {journaled / m * 1e6:,.0f} us each")  # fmt: skip
    apply_s, recompute_s = ledger_figures(n * 10)
    print(f"ledger apply_fill: {n * 10 / apply_s:,.0f} fills/s; "
          f"recompute of {n * 10:,} fills: {recompute_s * 1e3:,.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
