"""Sniper: sports time arbitrage — buy the winner's token after its game ends, before the book
reprices.

Fed by the engine: ``on_games`` with each scoreboard poll, ``on_book`` when a watched market's
book changes, ``on_timer`` on a steady cadence. Rules (seed_code_study.md 2.3 and 3, fixed):

- Scoreboard data older than ``max_data_age_s`` (by its ``as_of_ns``) is ignored, as if the poll
  had not happened: a cached or delayed scoreboard must not be taken for the present.
- A game is acted on only when it TURNS final (``state == "post"`` and ``completed``) while
  watched: a game already final when first seen is ignored for good.
- The market is found by team names against the outcome labels (``domain.sports``), never by
  list position, and must be of the game's league and start when the game starts (the same
  teams meet again in a series or another competition); a game whose start is unknown, or a
  market whose start is unknown, is refused. A game matching no market, or several, is refused
  and the reason kept.
- Buy the winner's token when its best ask is within [min_price, max_price] and
  1 - price - fee >= min_profit, sweeping only levels that satisfy this, up to ``order_size``.
- After the game ends its winner's book is watched for ``reprice_window_ms``. When the best ask
  rises above ``max_price`` the book has repriced: the delay from the game turning final to the
  book update that showed it is recorded (negative when the market moved before the scoreboard).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from polyarb.domain.book import Side
from polyarb.domain.market import Market, MarketEvent, Outcome
from polyarb.domain.numbers import (
    COST_SCALE,
    ONE,
    price_to_decimal,
    size_to_decimal,
)
from polyarb.domain.sports import (
    DEFAULT_MAX_START_SKEW,
    Game,
    league_matches,
    match_game_to_market,
)
from polyarb.domain.trading import Leg, Signal
from polyarb.strategies.base import (
    FILLED,
    NS_PER_MS,
    PARTIAL,
    MarketView,
    Sighting,
    SniperConfig,
    is_terminal,
)
from polyarb.strategies.complete_set import (
    EDGE_QUANTUM,
    SIZE_STEP,
    VWAP_QUANTUM,
    book_problem,
    limit_price,
    size_units,
    tick_of,
)
from polyarb.strategies.fees import FeeModel
from polyarb.strategies.sum_to_100 import is_tradable

_NOT_TEAMS = frozenset({"yes", "no", "over", "under", "draw", "tie"})
_GAME_MARKET_TYPES = frozenset({"", "moneyline"})
MAX_RECORDS = 1000


def is_game_market(market: Market) -> bool:
    """A tradable two-outcome market whose outcomes are named (teams), e.g. a moneyline."""
    if not is_tradable(market) or len(market.outcomes) != 2:
        return False
    if market.sports_market_type.strip().casefold() not in _GAME_MARKET_TYPES:
        return False
    return not any(o.label.strip().casefold() in _NOT_TEAMS for o in market.outcomes)


@dataclass(frozen=True, slots=True)
class RepricingRecord:
    """What happened to a winner's book after its game ended."""

    game_id: str
    market: str
    winner: str  # the winning outcome's label
    final_ns: int  # when the scoreboard was seen turning final
    repriced_ns: int | None  # receive time of the book update showing ask > max_price
    traded: bool  # a signal was emitted and not refused
    outcome: str  # repriced | window_expired

    @property
    def delay_ns(self) -> int | None:
        """Book repricing minus game end; None when the window closed first."""
        if self.repriced_ns is None:
            return None
        return self.repriced_ns - self.final_ns


@dataclass(slots=True)
class _Watch:
    game_id: str
    market: Market
    winner: Outcome
    final_ns: int
    deadline_ns: int
    fees: FeeModel
    signal_id: str = ""  # the attempt in flight
    bought: bool = False
    retry_after_ns: int = 0


class Sniper:
    name = "sniper"
    config_type = SniperConfig

    def __init__(self, config: SniperConfig, *, id_prefix: str = "") -> None:
        self.config = config
        self.id_prefix = id_prefix
        self.last_evaluated: list[str] = []
        self.last_sightings: list[Sighting] = []
        self.refused: dict[str, str] = {}  # game id -> why no market was watched
        self._markets: tuple[Market, ...] = ()
        self._games: dict[str, bool] = {}  # game id -> seen final (insertion ordered, bounded)
        self._watches: dict[str, _Watch] = {}  # condition id -> watch
        self._records: deque[RepricingRecord] = deque(maxlen=MAX_RECORDS)
        self._seq = 0
        self._now_ns = 0
        self._counts: dict[str, int] = {}

    def set_config(self, config: SniperConfig) -> None:
        self.config = config

    # --- universe ---------------------------------------------------------------------------

    def watches(self, market: Market) -> bool:
        return is_game_market(market)

    def set_universe(
        self, markets: Sequence[Market], events: Sequence[MarketEvent]
    ) -> dict[str, str]:
        self._markets = tuple(m for m in markets if self.watches(m))
        return {o.token_id: m.condition_id for m in self._markets for o in m.outcomes}

    # --- games ------------------------------------------------------------------------------

    def _count(self, what: str) -> None:
        self._counts[what] = self._counts.get(what, 0) + 1

    def _remember(self, game_id: str, final: bool) -> None:
        self._games[game_id] = final
        while len(self._games) > self.config.max_games:
            del self._games[next(iter(self._games))]

    def _refuse(self, game: Game, why: str) -> None:
        self._count(why)
        self.refused[game.game_id] = why
        while len(self.refused) > self.config.max_games:
            del self.refused[next(iter(self.refused))]

    def on_games(self, view: MarketView, games: Sequence[Game], now_ns: int) -> list[Signal]:
        """Take one scoreboard poll; returns signals for games that just ended."""
        self._now_ns = max(self._now_ns, now_ns)
        fresh: list[str] = []
        oldest_ns = now_ns - self.config.max_data_age_s * 1_000_000_000
        for game in games:
            if game.as_of_ns is not None and game.as_of_ns < oldest_ns:
                self._count("stale_data")  # not even remembered: the next fresh poll decides
                continue
            seen_final = self._games.get(game.game_id)
            if seen_final is None:
                self._remember(game.game_id, game.is_final)
                if game.is_final:
                    self._count("final_when_first_seen")
                continue
            if seen_final or not game.is_final:
                continue
            self._remember(game.game_id, True)
            key = self._watch(game, now_ns)
            if key:
                fresh.append(key)
        return self._evaluate_keys(view, fresh, now_ns, now_ns)

    def _watch(self, game: Game, now_ns: int) -> str:
        if game.winner is None:
            self._refuse(game, "no_winner")
            return ""
        if game.start is None:
            self._refuse(game, "start_unknown")
            return ""
        named = [
            (market, outcome)
            for market in self._markets
            if (outcome := match_game_to_market(game, market, max_start_skew=None)) is not None
        ]
        if not named:
            self._refuse(game, "no_market")
            return ""
        same_league = [(m, o) for m, o in named if league_matches(game.league, m)]
        if not same_league:
            self._refuse(game, "other_league")
            return ""
        start = game.start
        matches = [
            (m, o)
            for m, o in same_league
            if m.game_start_time is not None
            and abs(m.game_start_time - start) <= DEFAULT_MAX_START_SKEW
        ]
        if not matches:
            unknown = all(m.game_start_time is None for m, _ in same_league)
            self._refuse(game, "market_start_unknown" if unknown else "other_game")
            return ""
        if len(matches) > 1:
            self._refuse(game, "ambiguous_market")
            return ""
        market, winner = matches[0]
        if market.condition_id in self._watches:
            self._refuse(game, "market_already_watched")
            return ""
        if not market.fees.known:  # fail closed: no fee data is not "free"
            self._refuse(game, "no_fee_data")
            return ""
        self._count("games_final")
        deadline = now_ns + self.config.reprice_window_ms * NS_PER_MS
        self._watches[market.condition_id] = _Watch(
            game.game_id, market, winner, now_ns, deadline, FeeModel((market.fees,))
        )
        return market.condition_id

    # --- books ------------------------------------------------------------------------------

    def on_book(
        self, view: MarketView, market_keys: Collection[str], ts_recv_ns: int
    ) -> list[Signal]:
        now_ns = view.now_ns()
        self._now_ns = max(self._now_ns, now_ns)
        keys = [k for k in market_keys if k in self._watches]
        return self._evaluate_keys(view, keys, now_ns, ts_recv_ns)

    def on_timer(self, view: MarketView, now_ns: int) -> list[Signal]:
        """Close expired windows, then re-check every watched book (they may be quiet)."""
        self._now_ns = max(self._now_ns, now_ns)
        for key, watch in list(self._watches.items()):
            if now_ns >= watch.deadline_ns:
                self._close(key, watch, None, "window_expired")
        return self._evaluate_keys(view, list(self._watches), now_ns, now_ns)

    def _close(self, key: str, watch: _Watch, repriced_ns: int | None, outcome: str) -> None:
        del self._watches[key]
        self._count(outcome)
        self._records.append(
            RepricingRecord(
                game_id=watch.game_id,
                market=key,
                winner=watch.winner.label,
                final_ns=watch.final_ns,
                repriced_ns=repriced_ns,
                traded=watch.bought or bool(watch.signal_id),
                outcome=outcome,
            )
        )

    def _evaluate_keys(
        self, view: MarketView, keys: list[str], now_ns: int, ts_recv_ns: int
    ) -> list[Signal]:
        signals: list[Signal] = []
        sightings: list[Sighting] = []
        evaluated: list[str] = []
        for key in keys:
            watch = self._watches.get(key)
            if watch is None:
                continue
            evaluated.append(key)
            self._count("evaluations")
            found = self._evaluate(view, key, watch, now_ns, ts_recv_ns)
            if found is None:
                continue
            signal, held_back = found
            if not held_back:
                signals.append(signal)
                watch.signal_id = signal.signal_id
                self._count("signals")
            else:
                self._count(held_back)
            sightings.append(
                Sighting(
                    market=key,
                    edge=signal.edge,
                    size=signal.size,
                    signal_id="" if held_back else signal.signal_id,
                    held_back=held_back,
                )
            )
        self.last_evaluated = evaluated
        self.last_sightings = sightings
        return signals

    def _evaluate(
        self, view: MarketView, key: str, watch: _Watch, now_ns: int, ts_recv_ns: int
    ) -> tuple[Signal, str] | None:
        config = self.config
        book = view.book(watch.winner.token_id)
        problem = book_problem(book, now_ns, None)
        if problem or book is None:
            self._count(problem)
            return None
        best = book.asks.prices[0]
        max_price = int(config.max_price * ONE)
        if best > max_price:
            self._close(key, watch, book.ts_recv_ns, "repriced")
            return None
        if best < config.min_price * ONE:
            self._count("below_min_price")
            return None
        fees = watch.fees
        scale = fees.scale
        profit_num, profit_den = config.min_profit.as_integer_ratio()
        wanted = size_units(config.order_size)
        slices: list[tuple[int, int]] = []
        taken = 0
        for price, level_size in book.asks.best_first():
            if taken >= wanted or price > max_price:
                break
            margin = ONE * scale - fees.unit_cost(0, price)  # 1 - p - fee, per 1e-6 share
            if profit_den * margin < profit_num * ONE * scale:
                break
            take = min(level_size, wanted - taken)
            slices.append((price, take))
            taken += take
        shares = taken - taken % SIZE_STEP
        if shares <= 0:
            self._count("no_edge")
            return None
        slices = _trim(slices, shares)
        cost = sum(p * s for p, s in slices)
        fee = fees.leg_fee(0, slices)
        total = cost * scale + fee
        if profit_den * (shares * ONE * scale - total) < profit_num * ONE * scale * shares:
            self._count("rounding")
            return None
        if shares < size_units(watch.market.min_order_size) or cost < COST_SCALE:
            self._count("below_venue_minimum")
            return None
        limit = limit_price(slices[-1][0], tick_of(book, watch.market))
        if limit is None:
            self._count("limit_out_of_range")
            return None
        held_back = ""
        if watch.signal_id:
            held_back = "in_flight"
        elif watch.bought:
            held_back = "bought"
        elif now_ns < watch.retry_after_ns:
            held_back = "cooldown"
        else:
            self._seq += 1
        signal_id = f"{self.id_prefix}{self.name}-{self._seq}" if not held_back else ""
        size = size_to_decimal(shares)
        cost_usd = fees.to_usd(total)
        edge = ((size - cost_usd) / size).quantize(EDGE_QUANTUM, rounding=ROUND_FLOOR)
        leg = Leg(
            token_id=watch.winner.token_id,
            side=Side.BUY,
            size=size,
            vwap=(Decimal(cost) / (Decimal(shares) * ONE)).quantize(VWAP_QUANTUM),
            limit_price=price_to_decimal(limit),
            market=watch.market.condition_id,
            outcome=watch.winner.label,
        )
        signal = Signal(
            strategy=self.name,
            market=key,
            ts_recv_ns=ts_recv_ns,
            edge=edge,
            size=size,
            legs=(leg,),
            fees=fees.to_usd(fee),
            cost=cost_usd,
            kind="directional",
            reason=f"game {watch.game_id} final, {watch.winner.label} won; ask {leg.vwap}",
            signal_id=signal_id,
        )
        return signal, held_back

    # --- results and reporting --------------------------------------------------------------

    def on_result(self, signal: Signal, outcome: str, now_ns: int | None = None) -> None:
        """A fill ends the game's buying; a refusal allows a retry after ``poll_ms``."""
        if signal.strategy != self.name or not is_terminal(outcome):
            return
        watch = self._watches.get(signal.market)
        if watch is None or watch.signal_id != signal.signal_id:
            return
        watch.signal_id = ""
        if outcome in (FILLED, PARTIAL):
            watch.bought = True
        else:
            when = self._now_ns if now_ns is None else now_ns
            watch.retry_after_ns = when + self.config.poll_ms * NS_PER_MS

    def repricing_records(self) -> list[RepricingRecord]:
        """Recent games' repricing outcomes, oldest first (bounded)."""
        return list(self._records)

    def repricing_delays_ns(self) -> list[int]:
        return [r.delay_ns for r in self._records if r.delay_ns is not None]

    def watched(self) -> dict[str, str]:
        """Condition id -> game id of the books being watched now."""
        return {key: w.game_id for key, w in self._watches.items()}

    def stats(self) -> dict[str, int]:
        out = dict(self._counts)
        out["watching"] = len(self._watches)
        return out


def _trim(slices: list[tuple[int, int]], total: int) -> list[tuple[int, int]]:
    """Cut a best-first sweep down to ``total`` shares (after rounding to the size grid)."""
    out: list[tuple[int, int]] = []
    left = total
    for price, size in slices:
        if left <= 0:
            break
        take = min(size, left)
        out.append((price, take))
        left -= take
    return out
