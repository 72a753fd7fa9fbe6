"""Arbitrage windows: exact prices and depth while open, no crossed single book, revert after."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from polyarb.sim import ArbWindow, ScenarioConfig, SimServer
from polyarb.sim.generator import build_scenario
from polyarb.strategies.set_strategy import views_agree

EDGE = Decimal("0.03")
DEPTH = Decimal(150)


def scenario(*windows: ArbWindow, **overrides: object) -> ScenarioConfig:
    base: dict[str, object] = {
        "seed": 5,
        "binary_markets": 2,
        "negrisk_events": 1,
        "outcomes_per_event": 4,
        "updates_per_s": 300.0,
    }
    base.update(overrides)
    return ScenarioConfig(windows=windows, **base)  # type: ignore[arg-type]


def test_binary_window_is_a_torn_view_the_venue_never_has(wire_books) -> None:
    """A binary market is one book: the window is only the wire's NO view lagging (its entries
    held back), while the venue's own book (what REST serves) stays one matching book with no
    complete set below $1. Trades go on during the window."""
    window = ArbWindow("binary", target=1, start_s=1.0, duration_s=1.0, edge=EDGE, depth=DEPTH)
    driver = build_scenario(scenario(window), epoch=datetime(2026, 1, 1, tzinfo=UTC))
    venue = driver.venue
    yes, no = driver.binary[1].token_ids
    books = wire_books()
    books.apply(venue.snapshot_text(venue.catalog.live_token_ids(), driver.start_ms))
    for frame in driver.advance_to(0.99):
        books.apply(frame.text)
    assert books.mirrored(yes, no)
    for frame in driver.advance_to(1.0):
        books.apply(frame.text)
    yes_ask, no_ask = books.best_ask(yes), books.best_ask(no)
    assert yes_ask + no_ask == 1 - EDGE  # what a client sees: a torn view ...
    assert books.asks[yes][yes_ask] >= DEPTH
    assert books.asks[no][no_ask] >= DEPTH
    torn = 0
    for step in range(100, 200):  # through the window, checking every 10 ms
        for frame in driver.advance_to(step / 100):
            books.apply(frame.text)
        yes_ask, no_ask = books.best_ask(yes), books.best_ask(no)
        torn += yes_ask + no_ask < 1
        assert books.best_bid(yes) < yes_ask
        assert books.best_bid(no) < no_ask
        # ... while the venue's book is one book: its NO side is the YES side's mirror.
        matching_yes, matching_no = venue.matching_book(yes), venue.matching_book(no)
        assert matching_yes is not None
        assert matching_no is not None
        assert views_agree(matching_yes, matching_no)
        assert matching_yes.best_ask() + matching_no.best_ask() > 10_000  # type: ignore[operator]
    assert torn > 50
    for frame in driver.advance_to(2.5):
        books.apply(frame.text)
    assert books.mirrored(yes, no)  # the NO view caught up
    assert books.best_ask(yes) + books.best_ask(no) > 1
    for token in (yes, no):
        assert books.matches(token, venue.truth(token))


def test_other_traders_take_windows_after_a_random_delay(wire_books) -> None:
    """Windows are not fenced: with takers on, a window's cheap level is taken (a trade on the
    wire) after a lognormal delay, some of them within 50 ms."""
    config = scenario(
        negrisk_events=1,
        binary_markets=1,
        window_every_s=3.0,
        taker_median_ms=300.0,
        taker_sigma=1.2,
    )
    driver = build_scenario(config, epoch=datetime(2026, 1, 1, tzinfo=UTC))
    taken_after: list[float] = []
    opened_at = 0.0
    t = 0.0
    while t < 240:
        t += 0.01
        before_open, before_taken = driver.windows_opened, driver.windows_taken
        driver.advance_to(t)
        if driver.windows_opened > before_open:
            opened_at = t
        if driver.windows_taken > before_taken:
            taken_after.append(t - opened_at)
    assert driver.windows_opened >= 70
    assert 0.3 * driver.windows_opened < len(taken_after) < driver.windows_opened
    assert min(taken_after) < 0.06  # before any engine could react
    assert sorted(taken_after)[len(taken_after) // 2] < 1.0
    with pytest.raises(ValueError, match="taker_median_ms"):
        scenario(taker_median_ms=-1.0)


def test_negrisk_window_sums_asks_below_one_then_reverts(wire_books) -> None:
    window = ArbWindow("negrisk", target=0, start_s=1.0, duration_s=1.0, edge=EDGE, depth=DEPTH)
    driver = build_scenario(scenario(window), epoch=datetime(2026, 1, 1, tzinfo=UTC))
    event = driver.neg_risk_events[0]
    yes_tokens = [m.token_ids[0] for m in event.markets]
    books = wire_books()
    books.apply(driver.venue.snapshot_text(driver.venue.catalog.live_token_ids(), driver.start_ms))
    for frame in driver.advance_to(1.0 - 1e-9):
        books.apply(frame.text)
    before = sum(books.best_ask(t) for t in yes_tokens)
    for frame in driver.advance_to(1.0):
        books.apply(frame.text)
    window_asks = [books.best_ask(t) for t in yes_tokens]
    assert sum(window_asks) == 1 - EDGE
    assert all(books.asks[t][a] >= DEPTH for t, a in zip(yes_tokens, window_asks, strict=True))
    for step in range(100, 200):  # through the window, checking every 10 ms
        for frame in driver.advance_to(step / 100):
            books.apply(frame.text)
        asks = [books.best_ask(t) for t in yes_tokens]
        # Trades may take the window's levels (it is not fenced); nothing gets cheaper.
        assert all(a >= w for a, w in zip(asks, window_asks, strict=True))
        assert all(books.best_bid(t) < a for t, a in zip(yes_tokens, asks, strict=True))
    for frame in driver.advance_to(2.0):
        books.apply(frame.text)
    assert sum(books.best_ask(t) for t in yes_tokens) == before  # the pre-window asks are back
    for m in event.markets:
        assert books.mirrored(*m.token_ids)


def test_auto_windows_alternate_kinds() -> None:
    driver = build_scenario(scenario(window_every_s=2.0), epoch=datetime(2026, 1, 1, tzinfo=UTC))
    driver.advance_to(9.0)
    assert driver.windows_opened >= 3


def test_windows_are_validated() -> None:
    with pytest.raises(ValueError, match="out of range"):
        scenario(ArbWindow("negrisk", target=3, start_s=1, duration_s=1, edge=EDGE, depth=DEPTH))
    with pytest.raises(ValueError, match="multiple of the tick"):
        build_scenario(
            scenario(ArbWindow("binary", 0, 1, 1, Decimal("0.015"), DEPTH)),
            epoch=datetime(2026, 1, 1, tzinfo=UTC),
        )
    with pytest.raises(ValueError, match="edge"):
        ArbWindow("binary", 0, 1, 1, Decimal(0), DEPTH)


async def test_windows_seen_over_the_wire(wire_books, sim_connect, sim_pump) -> None:
    windows = (
        ArbWindow("binary", target=0, start_s=0.5, duration_s=0.8, edge=EDGE, depth=DEPTH),
        ArbWindow("negrisk", target=0, start_s=0.5, duration_s=0.8, edge=EDGE, depth=DEPTH),
    )
    async with SimServer(scenario(*windows)) as sim:
        catalog = sim.venue.catalog
        yes, no = catalog.of_kind("binary")[0].token_ids
        outcomes = [m.token_ids[0] for m in catalog.neg_risk_events[0].markets]
        books = wire_books()
        binary_open = negrisk_open = 0

        def check(_: str) -> None:
            nonlocal binary_open, negrisk_open
            yes_ask, no_ask = books.best_ask(yes), books.best_ask(no)
            if yes_ask is not None and no_ask is not None and yes_ask + no_ask < 1:
                binary_open += 1
                assert books.best_bid(yes) < yes_ask
                assert books.best_bid(no) < no_ask
            if sum(books.best_ask(t, Decimal(1)) for t in outcomes) < 1:
                negrisk_open += 1

        async with sim_connect(sim.ws_url, sim.token_ids()) as ws:
            await sim_pump(ws, books, 1.8, check)
        assert binary_open > 10
        assert negrisk_open > 10
        assert books.mirrored(yes, no)
