"""The scenario engine: market events over scenario time, arbitrage windows, games.

Binary markets (plain YES/NO, each negRisk outcome, each game's moneyline) have ONE matching book:
the first token's book. Every maker action on it is announced in one ``price_change`` carrying an
entry for both tokens, the second token's at 1 - p on the opposite side. Event times follow a
Poisson process and event content a second seeded stream, so a seed fixes the exact sequence of
frames however the caller slices time.

A binary market is one book on the venue, so a binary window cannot be the venue's reality: it is
a torn view on the wire (the second token's entries are held back while it is open, then the
second token's book is re-sent); the venue's REST answers are the matching book throughout
(``SimVenue.matching``). negRisk windows are real: independent books whose YES asks sum below 1.

Windows (see ``ArbWindow``) are not fenced off from the market: trades and book re-sends happen
while they are open, and with ``taker_median_ms`` other traders take a window's cheap level after
a random (lognormal) delay, sometimes before any engine could react. Only the random walk of the
makers keeps out of the window's price range (below ``bid_cap``, above ``ask_floor``) so that no
single book crosses.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog

from polyarb.domain.book import Side
from polyarb.domain.numbers import ONE, decimal_to_price, decimal_to_size
from polyarb.sim.catalog import (
    TICK_CENT,
    TICK_MILLI,
    Catalog,
    CatalogSpec,
    SimMarket,
    build_catalog,
)
from polyarb.sim.espn import SimGame
from polyarb.sim.listings import gamma_market
from polyarb.sim.scenario import WINDOW_KINDS, ArbWindow, ScenarioConfig
from polyarb.sim.venue import Frame, LevelChange, SimVenue
from polyarb.sim.walk import SHARE, WalkState, fresh_size, initial_levels, random_change

log = structlog.get_logger(__name__)

BOOK_RESEND_PROBABILITY = 0.02
TRADE_PROBABILITY = 0.05
WINDOW_EDGES = (Decimal("0.04"), Decimal("0.05"), Decimal("0.06"))
WINDOW_DEPTHS = (Decimal(100), Decimal(200), Decimal(500))
SETTLED_DEPTH = 5_000 * SHARE

_OPPOSITE = {Side.BUY: Side.SELL, Side.SELL: Side.BUY}
Change = tuple[Side, int, int]  # on the matching book: (side, price, new absolute size)


@dataclass(slots=True)
class _OpenWindow:
    window: ArbWindow
    markets: list[SimMarket]
    lagging: SimMarket | None = None  # binary: the market whose second token lags
    saved_asks: dict[str, tuple[int, dict[int, int]]] = field(default_factory=dict)
    # negrisk_convert: per condition id, the lowest bid price touched and the bids saved from it
    saved_bids: dict[str, tuple[int, dict[int, int]]] = field(default_factory=dict)
    cheap: list[tuple[SimMarket, int]] = field(default_factory=list)  # (market, cheap ask)
    rich: list[tuple[SimMarket, int]] = field(default_factory=list)  # (market, rich YES bid)
    closed: bool = False


class ScenarioDriver:
    """Generates the venue's frames for a ``ScenarioConfig`` as scenario time advances."""

    def __init__(self, config: ScenarioConfig, catalog: Catalog, rng: random.Random) -> None:
        self.config = config
        self.catalog = catalog
        self.venue = SimVenue(catalog, seed=config.seed, matching=True)
        self.rng = rng
        self._arrivals = random.Random(config.seed * 7919 + 1)
        self.latency_rng = random.Random(config.seed * 7919 + 2)
        self._takers = random.Random(config.seed * 7919 + 3)  # other traders' reaction times
        self.start_ms = int(catalog.epoch.timestamp() * 1000)
        self.now_s = 0.0
        self._rate = config.updates_per_s  # market events per second now (bursts raise it)
        self._bursts = random.Random(config.seed * 7919 + 4)
        self._next_event_s = self._arrivals.expovariate(self._rate)
        self._schedule: list[tuple[float, int, str, Any]] = []
        self._seq = itertools.count()
        self.walks: dict[str, WalkState] = {}
        self.fences: dict[str, tuple[int, int]] = {}  # condition id -> (bid_cap, ask_floor)
        self.settled: set[str] = set()
        self.windows_opened = 0
        self.windows_taken = 0  # windows whose cheap level other traders took
        self._lagging: set[str] = set()  # binary markets whose second token's view lags
        self.binary = catalog.of_kind("binary")
        self.neg_risk_events = catalog.neg_risk_events
        self._check_windows(config.windows)
        self._seed_books()
        self._pick_markets: list[SimMarket] = []
        self._pick_weights: list[float] = []
        self._rebuild_picker()
        for w in config.windows:
            self._at(w.start_s, "window_open", w)
        if config.window_every_s > 0:
            self._at(config.window_every_s, "auto_window", 0)
        for game in catalog.games:
            self._at(game.end_s + game.reprice_delay_s, "reprice", game)
        if config.burst_every_s > 0:
            self._at(self._bursts.expovariate(1 / config.burst_every_s), "burst", True)

    # --- set-up ---------------------------------------------------------------------------

    def _check_windows(self, windows: Iterable[ArbWindow]) -> None:
        for w in windows:
            markets = self._window_markets(w)
            tick = max(m.tick for m in markets)
            try:
                edge = decimal_to_price(w.edge)
                decimal_to_size(w.depth)
            except ValueError as exc:
                raise ValueError(f"window {w}: {exc}") from None
            if edge % tick:
                raise ValueError(f"window edge {w.edge} is not a multiple of the tick {tick / ONE}")

    def _window_markets(self, w: ArbWindow) -> list[SimMarket]:
        if w.kind == "binary":
            return [self.binary[w.target]]
        return [m for m in self.neg_risk_events[w.target].markets if m.live]

    def _seed_books(self) -> None:
        books = self.venue.books
        for m in self.catalog.markets:
            if not m.live:
                continue
            state = WalkState(fair=m.fair, anchor=m.fair, tick=m.tick, levels=self.config.levels)
            if m.kind == "moneyline":
                state.reversion = 0.1  # follows the score closely
            self.walks[m.condition_id] = state
            bids, asks = initial_levels(state, self.rng)
            own, mirror = (books[t] for t in m.token_ids)
            own.apply_snapshot(bids, asks, self.start_ms, 0)
            mirror.apply_snapshot(_mirror(asks), _mirror(bids), self.start_ms, 0)

    def _rebuild_picker(self) -> None:
        live = [m for m in self.catalog.markets if m.live and m.condition_id not in self.settled]
        self._pick_markets = live
        self._pick_weights = list(itertools.accumulate(m.activity for m in live))

    def _at(self, t: float, kind: str, payload: Any) -> None:
        heapq.heappush(self._schedule, (t, next(self._seq), kind, payload))

    # --- time -----------------------------------------------------------------------------

    def next_due_s(self) -> float:
        due = self._next_event_s
        if self._schedule:
            due = min(due, self._schedule[0][0])
        return due

    def advance_to(
        self, t_s: float, now_ms: int | None = None, max_frames: int | None = None
    ) -> list[Frame]:
        """Run every event due up to scenario second ``t_s``; frames are stamped ``now_ms`` (live)
        or epoch + event time (recordings). Stops early after ``max_frames``."""
        frames: list[Frame] = []
        schedule = self._schedule
        while max_frames is None or len(frames) < max_frames:
            scheduled = schedule[0][0] if schedule else float("inf")
            t = min(self._next_event_s, scheduled)
            if t > t_s:
                break
            self.now_s = t
            ms = now_ms if now_ms is not None else self.start_ms + int(t * 1000)
            if scheduled <= self._next_event_s:
                _, _, kind, payload = heapq.heappop(schedule)
                frames.extend(self._run_scheduled(kind, payload, ms))
            else:
                self._next_event_s += self._arrivals.expovariate(self._rate)
                frames.extend(self._market_event(ms))
        if max_frames is None or len(frames) < max_frames:
            self.now_s = max(self.now_s, t_s)
        return frames

    def _run_scheduled(self, kind: str, payload: Any, now_ms: int) -> list[Frame]:
        if kind == "window_open":
            return self._open_window(payload, now_ms)
        if kind == "window_close":
            return self._close_window(payload, now_ms)
        if kind == "window_take":
            return self._take_window(payload, now_ms)
        if kind == "auto_window":
            self._at(self.now_s + self.config.window_every_s, "auto_window", payload + 1)
            window = self._auto_window(payload)
            return [] if window is None else self._open_window(window, now_ms)
        if kind == "reprice":
            return self._reprice(payload, now_ms)
        if kind == "burst":
            self._burst(starting=payload)
            return []
        raise ValueError(f"unknown scheduled item {kind!r}")

    def _burst(self, *, starting: bool) -> None:
        """Start or end a burst: the event rate is ``burst_factor`` times higher while it lasts
        (the next arrival already drawn keeps its time; the ones after follow the new rate)."""
        config = self.config
        if starting:
            self._rate = config.updates_per_s * config.burst_factor
            self._at(self.now_s + config.burst_s, "burst", False)
        else:
            self._rate = config.updates_per_s
            gap = self._bursts.expovariate(1 / config.burst_every_s)
            self._at(self.now_s + gap, "burst", True)

    # --- random market events -------------------------------------------------------------

    def _market_event(self, now_ms: int) -> list[Frame]:
        if not self._pick_markets:
            return []
        rng = self.rng
        index = bisect_right(self._pick_weights, rng.random() * self._pick_weights[-1])
        market = self._pick_markets[min(index, len(self._pick_markets) - 1)]
        cid = market.condition_id
        state = self.walks[cid]
        game = market.event.game if market.event is not None else None
        if game is not None and game.state(self.now_s) != "post":
            # In play the book follows the score; after the final whistle it keeps its last
            # in-play level until the venue reprices (``reprice_delay_s`` later).
            state.anchor = game.away_probability(self.now_s) * ONE
        state.drift(rng)
        draw = rng.random()
        if self.config.fenced_windows and cid in self.fences:
            draw = 1.0  # a fenced window's markets: maker changes only
        if draw < BOOK_RESEND_PROBABILITY:
            # A lagging (torn) second token is not re-sent: the window is that lag.
            tokens = market.token_ids[:1] if cid in self._lagging else market.token_ids
            return [self.venue.resend_book(market, t, now_ms) for t in tokens]
        if draw < BOOK_RESEND_PROBABILITY + TRADE_PROBABILITY:
            return self._trade(market, now_ms)
        bid_cap, ask_floor = self.fences.get(cid, (ONE + 1, -1))
        book = self.venue.books[market.token_ids[0]]
        wanted = rng.randint(1, 5)
        changes: list[Change] = []
        for _ in range(3 * wanted):
            change = random_change(book, state, rng, bid_cap=bid_cap, ask_floor=ask_floor)
            if change is not None:
                changes.append(change)
                if len(changes) == wanted:
                    break
        frame = self._announce(market, changes, now_ms)
        return [] if frame is None else [frame]

    def _trade(self, market: SimMarket, now_ms: int) -> list[Frame]:
        rng = self.rng
        taker = Side.BUY if rng.random() < 0.5 else Side.SELL
        book = self.venue.books[market.token_ids[0]]
        side = book.asks if taker is Side.BUY else book.bids
        price = side.best()
        if price is None:
            return []
        resting = side.levels[price]
        taken = min(resting, max(SHARE, fresh_size(rng) // 4 // 10_000 * 10_000))
        side.set(price, resting - taken)
        frames: list[Frame] = []
        frame = self._announce(market, [(taker.opposite, price, resting - taken)], now_ms)
        if frame is not None:
            frames.append(frame)
        if rng.random() < 0.5:
            trade = self.venue.trade(market, market.token_ids[0], price, taken, taker, now_ms)
        else:
            token = market.token_ids[1]
            trade = self.venue.trade(market, token, ONE - price, taken, taker.opposite, now_ms)
        frames.append(trade)
        return frames

    def _announce(
        self, market: SimMarket, changes: list[Change], now_ms: int, *, mirrored: bool = True
    ) -> Frame | None:
        """One price_change for changes of the matching book: the first token's entries and,
        unless the second token lags (an open binary window), their mirror images."""
        own, other = market.token_ids
        mirrored = mirrored and market.condition_id not in self._lagging
        level_changes: list[LevelChange] = []
        for side, price, size in changes:
            level_changes.append((own, side, price, size))
            if mirrored:
                level_changes.append((other, _OPPOSITE[side], ONE - price, size))
        return self.venue.price_change(market, level_changes, now_ms)

    # --- windows --------------------------------------------------------------------------

    def _auto_window(self, n: int) -> ArbWindow | None:
        # negRisk first: the one kind that is real (a binary window is a torn view).
        kinds: list[tuple[str, int]] = []
        if self.neg_risk_events:
            kinds.append(("negrisk", len(self.neg_risk_events)))
            if self.config.convert_windows:
                kinds.append(("negrisk_convert", len(self.neg_risk_events)))
        if self.binary:
            kinds.append(("binary", len(self.binary)))
        if not kinds:
            return None
        kind, count = kinds[n % len(kinds)]
        rng = self.rng
        return ArbWindow(
            kind=next(k for k in WINDOW_KINDS if k == kind),
            target=(n // len(kinds)) % count,
            start_s=self.now_s,
            duration_s=round(rng.uniform(2.0, 4.0), 1),
            edge=rng.choice(WINDOW_EDGES),
            depth=rng.choice(WINDOW_DEPTHS),
        )

    def _open_window(self, window: ArbWindow, now_ms: int) -> list[Frame]:
        markets = self._window_markets(window)
        busy = [
            m for m in markets if m.condition_id in self.fences or m.condition_id in self.settled
        ]
        if busy or not markets:
            log.info("sim_window_skipped", kind=window.kind, target=window.target, reason="busy")
            return []
        edge = decimal_to_price(window.edge)
        depth = decimal_to_size(window.depth)
        opened = _OpenWindow(window, markets)
        if window.kind == "binary":
            frames = self._open_binary(opened, edge, depth, now_ms)
        elif window.kind == "negrisk_convert":
            frames = self._open_neg_risk_convert(opened, edge, depth, now_ms)
        else:
            frames = self._open_neg_risk(opened, edge, depth, now_ms)
        if frames:
            self.windows_opened += 1
            self._at(self.now_s + window.duration_s, "window_close", opened)
            median_ms = self.config.taker_median_ms
            if median_ms > 0:
                delay_s = self._takers.lognormvariate(
                    math.log(median_ms / 1000), self.config.taker_sigma
                )
                if delay_s < window.duration_s:
                    self._at(self.now_s + delay_s, "window_take", opened)
            log.info(
                "sim_window_open",
                kind=window.kind,
                target=window.target,
                edge=str(window.edge),
                depth=str(window.depth),
                at_s=round(self.now_s, 3),
            )
        return frames

    def _open_binary(self, opened: _OpenWindow, edge: int, depth: int, now_ms: int) -> list[Frame]:
        market = opened.markets[0]
        book = self.venue.books[market.token_ids[0]]
        best_bid = book.bids.best()
        if best_bid is None or best_bid - edge < market.tick:
            log.info("sim_window_skipped", kind="binary", reason="no room below the bid")
            return []
        frames: list[Frame] = []
        if book.bids.levels[best_bid] < depth:
            # The bid the lagging NO view keeps showing (as its best ask) must hold the depth.
            book.bids.set(best_bid, depth)
            frame = self._announce(market, [(Side.BUY, best_bid, depth)], now_ms)
            if frame is not None:
                frames.append(frame)
        window_ask = best_bid - edge
        changes: list[Change] = [
            (Side.BUY, p, 0) for p in list(book.bids.prices) if p >= window_ask
        ]
        changes.append((Side.SELL, window_ask, depth))
        for side, price, size in changes:
            (book.bids if side is Side.BUY else book.asks).set(price, size)
        frame = self._announce(market, changes, now_ms, mirrored=False)
        if frame is not None:
            frames.append(frame)
        opened.lagging = market
        self._lagging.add(market.condition_id)
        opened.cheap.append((market, window_ask))
        # The walk must not touch the lagging prices: bids stay below the window's ask, asks
        # above the bid the NO view still shows, so neither book can cross.
        self.fences[market.condition_id] = (window_ask, best_bid)
        return frames

    def _open_neg_risk(
        self, opened: _OpenWindow, edge: int, depth: int, now_ms: int
    ) -> list[Frame]:
        books = self.venue.books
        tick = max(m.tick for m in opened.markets)
        asks: list[int] = []
        for m in opened.markets:
            best = books[m.token_ids[0]].asks.best()
            if best is None:
                log.info("sim_window_skipped", kind="negrisk", reason="an outcome has no ask")
                return []
            asks.append(best)
        targets = _spread_to_sum(asks, ONE - edge, tick)
        if targets is None:
            log.info("sim_window_skipped", kind="negrisk", reason="no room for the prices")
            return []
        frames: list[Frame] = []
        for m, before, target in zip(opened.markets, asks, targets, strict=True):
            book = books[m.token_ids[0]]
            top = max(before, target)
            saved = {p: s for p, s in book.asks.levels.items() if p <= top}
            opened.saved_asks[m.condition_id] = (top, saved)
            changes: list[Change] = [(Side.SELL, p, 0) for p in book.asks.prices if p < target]
            changes += [(Side.BUY, p, 0) for p in book.bids.prices if p >= target]
            changes.append((Side.SELL, target, max(depth, book.asks.levels.get(target, 0))))
            for side, price, size in changes:
                (book.bids if side is Side.BUY else book.asks).set(price, size)
            frame = self._announce(m, changes, now_ms)
            if frame is not None:
                frames.append(frame)
            opened.cheap.append((m, target))
            self.fences[m.condition_id] = (min(before, target), target)
        return frames

    def _open_neg_risk_convert(
        self, opened: _OpenWindow, edge: int, depth: int, now_ms: int
    ) -> list[Frame]:
        """YES bids summing to 1 + edge: their mirrors, the NO asks, sum to n - 1 - edge."""
        books = self.venue.books
        tick = max(m.tick for m in opened.markets)
        bids: list[int] = []
        for m in opened.markets:
            best = books[m.token_ids[0]].bids.best()
            if best is None:
                log.info(
                    "sim_window_skipped", kind="negrisk_convert", reason="an outcome has no bid"
                )
                return []
            bids.append(best)
        targets = _spread_to_sum(bids, ONE + edge, tick)
        if targets is None:
            log.info("sim_window_skipped", kind="negrisk_convert", reason="no room for the prices")
            return []
        frames: list[Frame] = []
        for m, before, target in zip(opened.markets, bids, targets, strict=True):
            book = books[m.token_ids[0]]
            low = min(before, target)
            saved = {p: s for p, s in book.bids.levels.items() if p >= low}
            opened.saved_bids[m.condition_id] = (low, saved)
            changes: list[Change] = [(Side.BUY, p, 0) for p in book.bids.prices if p > target]
            changes += [(Side.SELL, p, 0) for p in book.asks.prices if p <= target]
            changes.append((Side.BUY, target, max(depth, book.bids.levels.get(target, 0))))
            for side, price, size in changes:
                (book.bids if side is Side.BUY else book.asks).set(price, size)
            frame = self._announce(m, changes, now_ms)
            if frame is not None:
                frames.append(frame)
            # The walk keeps its bids below the window's bid and its asks above it.
            opened.rich.append((m, target))
            self.fences[m.condition_id] = (target, target)
        return frames

    def _take_level(
        self, market: SimMarket, resting_side: Side, price: int, now_ms: int
    ) -> list[Frame]:
        """Another trader takes all that rests at ``price`` on ``resting_side`` of ``market``'s
        first book: the level change and the trade (the taker on the other side)."""
        if market.condition_id in self.settled:
            return []
        book = self.venue.books[market.token_ids[0]]
        levels = book.asks if resting_side is Side.SELL else book.bids
        resting = levels.levels.get(price, 0)
        if not resting:
            return []
        levels.set(price, 0)
        frames: list[Frame] = []
        frame = self._announce(market, [(resting_side, price, 0)], now_ms)
        if frame is not None:
            frames.append(frame)
        taker = Side.BUY if resting_side is Side.SELL else Side.SELL
        frames.append(self.venue.trade(market, market.token_ids[0], price, resting, taker, now_ms))
        return frames

    def _take_window(self, opened: _OpenWindow, now_ms: int) -> list[Frame]:
        """Other traders found the window first: they take its cheap levels (what is left of
        them), which the stream reports as level changes and trades like any other."""
        if opened.closed:
            return []
        frames: list[Frame] = []
        for market, price in opened.cheap:  # buyers lift the cheap asks
            frames += self._take_level(market, Side.SELL, price, now_ms)
        for market, price in opened.rich:  # a conversion window: sellers hit the rich YES bids
            frames += self._take_level(market, Side.BUY, price, now_ms)
        if frames:
            self.windows_taken += 1
            window = opened.window
            log.info("sim_window_taken", kind=window.kind, target=window.target, at_s=self.now_s)
        return frames

    def _close_window(self, opened: _OpenWindow, now_ms: int) -> list[Frame]:
        opened.closed = True
        frames: list[Frame] = []
        if opened.lagging is not None:
            frame = self._catch_up(opened.lagging, now_ms)
            if frame is not None:
                frames.append(frame)
        for cid, (top, saved) in opened.saved_asks.items():
            market = self.catalog.by_condition[cid]
            if cid in self.settled:
                continue
            asks = self.venue.books[market.token_ids[0]].asks
            prices = {p for p in asks.prices if p <= top} | set(saved)
            changes: list[Change] = [
                (Side.SELL, p, saved.get(p, 0))
                for p in sorted(prices)
                if saved.get(p, 0) != asks.levels.get(p, 0)
            ]
            for _, price, size in changes:
                asks.set(price, size)
            frame = self._announce(market, changes, now_ms)
            if frame is not None:
                frames.append(frame)
        for cid, (low, saved) in opened.saved_bids.items():
            market = self.catalog.by_condition[cid]
            if cid in self.settled:
                continue
            book = self.venue.books[market.token_ids[0]]
            best_ask = book.asks.best()
            ceiling = ONE if best_ask is None else best_ask  # never cross the asks walked since
            prices = {p for p in book.bids.prices if p >= low} | {p for p in saved if p < ceiling}
            changes = [
                (Side.BUY, p, saved.get(p, 0) if p < ceiling else 0)
                for p in sorted(prices)
                if (saved.get(p, 0) if p < ceiling else 0) != book.bids.levels.get(p, 0)
            ]
            for _, price, size in changes:
                book.bids.set(price, size)
            frame = self._announce(market, changes, now_ms)
            if frame is not None:
                frames.append(frame)
        for m in opened.markets:
            self.fences.pop(m.condition_id, None)
        window = opened.window
        log.info("sim_window_close", kind=window.kind, target=window.target, at_s=self.now_s)
        return frames

    def _catch_up(self, market: SimMarket, now_ms: int) -> Frame | None:
        """The lagging token's view becomes the mirror of the matching book again: its whole
        book is re-sent (a client that refreshed it from REST meanwhile holds levels the
        stream never named; only a ``book`` resets those)."""
        self._lagging.discard(market.condition_id)
        own = self.venue.books[market.token_ids[0]]
        return self.venue.set_book(
            market,
            market.token_ids[1],
            _mirror(own.asks.levels.items()),
            _mirror(own.bids.levels.items()),
            now_ms,
        )

    # --- games ----------------------------------------------------------------------------

    def finish_game(self, index: int) -> None:
        """Make game ``index`` final now; its winner reprices after the configured delay."""
        game = self.catalog.games[index]
        if game.state(self.now_s) == "post":
            return
        game.finish(self.now_s)
        self._at(game.end_s + game.reprice_delay_s, "reprice", game)

    def _reprice(self, game: SimGame, now_ms: int) -> list[Frame]:
        market = game.market
        if market is None or game.repriced or self.now_s < game.end_s + game.reprice_delay_s:
            return []  # superseded (the game was finished early) or already done
        game.repriced = True
        first_won = not game.home_won()
        tick = market.tick
        if first_won:
            bids = [(ONE - 3 * tick, SETTLED_DEPTH), (ONE - 2 * tick, SETTLED_DEPTH)]
            asks = [(ONE - tick, SETTLED_DEPTH)]
        else:
            bids = [(tick, SETTLED_DEPTH)]
            asks = [(2 * tick, SETTLED_DEPTH), (3 * tick, SETTLED_DEPTH)]
        self.fences.pop(market.condition_id, None)
        self.settled.add(market.condition_id)
        self._rebuild_picker()
        own, other = market.token_ids
        log.info(
            "sim_game_repriced",
            game=game.index,
            winner=(game.away if first_won else game.home).name,
        )
        return [
            self.venue.set_book(market, own, bids, asks, now_ms),
            self.venue.set_book(market, other, _mirror(asks), _mirror(bids), now_ms),
        ]

    # --- operator actions -----------------------------------------------------------------

    def change_tick(self, token_id: str, new_tick: int, now_ms: int) -> list[Frame]:
        market = self.catalog.by_token.get(token_id)
        if market is None or not market.live:
            raise KeyError(f"unknown token id {token_id!r}")
        frames: list[Frame] = []
        for open_window in self._open_windows():
            if open_window.lagging is market:
                frame = self._catch_up(market, now_ms)
                open_window.lagging = None
                if frame is not None:
                    frames.append(frame)
        frames += self.venue.tick_size_change(market, new_tick, now_ms)
        self.walks[market.condition_id].tick = new_tick
        return frames

    def toggle_tick(self, index: int, now_ms: int) -> list[Frame]:
        """The scheduled tick_size_change fault: binary market ``index`` flips 0.01 <-> 0.001."""
        market = self.binary[index % len(self.binary)]
        new_tick = TICK_MILLI if market.tick == TICK_CENT else TICK_CENT
        return self.change_tick(market.token_ids[0], new_tick, now_ms)

    def _open_windows(self) -> list[_OpenWindow]:
        return [p for _, _, kind, p in self._schedule if kind == "window_close"]

    def gamma_markets(self) -> list[dict[str, Any]]:
        return [gamma_market(m, self.venue.books, self.now_s) for m in self.catalog.markets]


def _mirror(levels: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The other token's view of levels of the matching book: price 1 - p, same size."""
    return [(ONE - p, s) for p, s in levels]


def _spread_to_sum(prices: list[int], total: int, tick: int) -> list[int] | None:
    """Move ``prices`` by whole ticks until they sum to ``total``, largest prices first, each kept
    within [2 ticks, 1 - 2 ticks]; None when impossible."""
    targets = list(prices)
    low, high = 2 * tick, ONE - 2 * tick
    gap = sum(targets) - total
    if gap % tick:
        return None
    while gap:
        if gap > 0:
            i = max(range(len(targets)), key=lambda k: targets[k])
            if targets[i] - tick < low:
                return None
            targets[i] -= tick
            gap -= tick
        else:
            i = min(range(len(targets)), key=lambda k: targets[k])
            if targets[i] + tick > high:
                return None
            targets[i] += tick
            gap += tick
    return targets


def build_scenario(config: ScenarioConfig, *, epoch: datetime) -> ScenarioDriver:
    """Generate the catalog and initial books of ``config``; ``epoch`` is scenario second 0."""
    rng = random.Random(config.seed)
    spec = CatalogSpec(
        binary_markets=config.binary_markets,
        negrisk_events=config.negrisk_events,
        outcomes_per_event=config.outcomes_per_event,
        games=config.games,
        closed_markets=config.closed_markets,
        game_start_s=config.game_start_s,
        game_spacing_s=config.game_spacing_s,
        game_duration_s=config.game_duration_s,
        reprice_delay_s=config.reprice_delay_s,
        game_taker_delay_s=config.game_taker_delay_s,
        activity_zipf=config.activity_zipf,
    )
    return ScenarioDriver(config, build_catalog(spec, rng, epoch), rng)
