"""Arbitrage windows: exact prices and depth while open, no crossed single book, revert after."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from polyarb.sim import ArbWindow, ScenarioConfig, SimServer
from polyarb.sim.generator import build_scenario

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


def test_binary_window_lags_the_no_side_then_catches_up(wire_books) -> None:
    window = ArbWindow("binary", target=1, start_s=1.0, duration_s=1.0, edge=EDGE, depth=DEPTH)
    driver = build_scenario(scenario(window), epoch=datetime(2026, 1, 1, tzinfo=UTC))
    yes, no = driver.binary[1].token_ids
    books = wire_books()
    books.apply(driver.venue.snapshot_text(driver.venue.catalog.live_token_ids(), driver.start_ms))
    for frame in driver.advance_to(0.99):
        books.apply(frame.text)
    assert books.mirrored(yes, no)
    for step in range(100, 200):  # through the window, checking every 10 ms
        for frame in driver.advance_to(step / 100):
            books.apply(frame.text)
        yes_ask, no_ask = books.best_ask(yes), books.best_ask(no)
        assert yes_ask + no_ask == 1 - EDGE
        assert books.asks[yes][yes_ask] >= DEPTH
        assert books.asks[no][no_ask] >= DEPTH
        assert books.best_bid(yes) < yes_ask
        assert books.best_bid(no) < no_ask
        assert not books.mirrored(yes, no)
    for frame in driver.advance_to(2.5):
        books.apply(frame.text)
    assert books.mirrored(yes, no)  # the NO side caught up
    assert books.best_ask(yes) + books.best_ask(no) > 1
    for token in (yes, no):
        assert books.matches(token, driver.venue.truth(token))


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
    for step in range(100, 200):  # through the window, checking every 10 ms
        for frame in driver.advance_to(step / 100):
            books.apply(frame.text)
        asks = [books.best_ask(t) for t in yes_tokens]
        assert sum(asks) == 1 - EDGE
        assert all(books.asks[t][a] >= DEPTH for t, a in zip(yes_tokens, asks, strict=True))
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
