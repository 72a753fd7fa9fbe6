"""What the simulated venue lists: markets, their events, identifiers, ticks, fees.

A scenario's catalog is generated from a seeded ``random.Random``: identifiers look like the real
ones (condition ids 0x + 64 hex, token ids ~77-digit decimal strings, Gamma ids decimal strings)
and every market has two tokens. For a binary market the first token is the one whose book *is*
the market's single matching book (YES, or the first team of a moneyline); the second token's book
is its mirror image. A recording's catalog is read back from the Gamma objects it was recorded with.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import orjson

from polyarb.domain.numbers import decimal_to_price, parse_price
from polyarb.sim.espn import SimGame, Team, league_teams

MarketKind = Literal["binary", "outcome", "moneyline", "closed", "recorded"]

TICK_CENT = 100  # 0.01 in 1e-4 units
TICK_MILLI = 10  # 0.001


@dataclass(frozen=True, slots=True)
class Category:
    tag: str
    fee_rate: Decimal  # 0: fees disabled
    fee_type: str
    rebate_rate: Decimal = Decimal("0.25")


POLITICS = Category("Politics", Decimal("0.04"), "politics_fees")
GEOPOLITICS = Category("Geopolitics", Decimal(0), "")
CRYPTO = Category("Crypto", Decimal("0.07"), "crypto_fees_v2", Decimal("0.2"))
ECONOMICS = Category("Economics", Decimal("0.05"), "economics_fees")
SPORTS = Category("Sports", Decimal("0.05"), "sports_fees_v3", Decimal("0.15"))
ELECTIONS = Category("Elections", Decimal(0), "")

# (category, question template); {n} keeps questions unique when there are many markets.
_BINARY_QUESTIONS: tuple[tuple[Category, str], ...] = (
    (POLITICS, "Will the Senate pass the budget resolution by June {n}?"),
    (GEOPOLITICS, "Will a ceasefire be announced in region {n} by December 31?"),
    (CRYPTO, "Will Bitcoin close above ${n}00,000 on the last day of the year?"),
    (ECONOMICS, "Will US CPI year-over-year exceed {n}.0% in the next release?"),
    (POLITICS, "Will the governor of state {n} sign the housing bill?"),
    (CRYPTO, "Will Ethereum trade above ${n},000 on Friday?"),
    (ECONOMICS, "Will the Fed cut rates by {n}0 bps at the next meeting?"),
    (GEOPOLITICS, "Will summit {n} produce a joint statement?"),
)
_CANDIDATES = (
    "Alex Morgan", "Blake Chen", "Casey Diaz", "Drew Patel", "Emery Stone", "Finley Brooks",
    "Gray Walker", "Harper Quinn", "Indigo Reyes", "Jordan Lee", "Kai Foster", "Logan Price",
)  # fmt: skip


def token_id(rng: random.Random) -> str:
    return str(rng.randrange(10**76, 10**77))


def hex_id(rng: random.Random) -> str:
    return f"0x{rng.getrandbits(256):064x}"


def slugify(text: str) -> str:
    out = "".join(ch.lower() if ch.isalnum() else "-" for ch in text)
    return "-".join(part for part in out.split("-") if part)


@dataclass(slots=True)
class SimEvent:
    """A Gamma event: one market (plain binary, game) or several (negRisk outcomes)."""

    event_id: str
    slug: str
    title: str
    category: Category
    neg_risk: bool = False
    neg_risk_market_id: str = ""
    markets: list[SimMarket] = field(default_factory=list)
    game: SimGame | None = None
    raw: dict[str, Any] | None = None  # a recorded event object, served as is


@dataclass(slots=True)
class SimMarket:
    kind: MarketKind
    gamma_id: str
    condition_id: str
    question_id: str
    question: str
    slug: str
    outcomes: tuple[str, str]
    token_ids: tuple[str, str]
    tick: int
    category: Category
    fair: int = 5000  # initial fair price of the first token, 1e-4 units
    min_order_size: int = 5
    neg_risk: bool = False
    neg_risk_request_id: str = ""
    group_item_title: str = ""
    event: SimEvent | None = None
    closed: bool = False
    winner_index: int | None = None  # a resolved market's winning outcome
    activity: float = 1.0  # relative share of the update stream
    liquidity: float = 0.0
    volume: float = 0.0
    volume_24h: float = 0.0
    created: datetime | None = None
    end: datetime | None = None
    raw: dict[str, Any] | None = None  # a recorded Gamma object, served as is

    @property
    def live(self) -> bool:
        """Has order books on the venue (streams on the WebSocket, answers /book)."""
        return not self.closed

    @property
    def fees_enabled(self) -> bool:
        return self.category.fee_rate > 0


@dataclass(slots=True)
class Catalog:
    markets: list[SimMarket]
    events: list[SimEvent]
    games: list[SimGame]
    epoch: datetime  # wall time of scenario second 0
    by_token: dict[str, SimMarket] = field(default_factory=dict)
    by_condition: dict[str, SimMarket] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for m in self.markets:
            self.by_condition[m.condition_id] = m
            for tid in m.token_ids:
                self.by_token[tid] = m

    def of_kind(self, kind: MarketKind) -> list[SimMarket]:
        return [m for m in self.markets if m.kind == kind]

    @property
    def neg_risk_events(self) -> list[SimEvent]:
        return [e for e in self.events if e.neg_risk]

    def live_token_ids(self) -> list[str]:
        return [t for m in self.markets if m.live for t in m.token_ids]


@dataclass(frozen=True, slots=True)
class CatalogSpec:
    """How many of each kind of market to generate (a subset of ScenarioConfig)."""

    binary_markets: int
    negrisk_events: int
    outcomes_per_event: int
    games: int
    closed_markets: int
    game_start_s: float
    game_spacing_s: float
    game_duration_s: float
    reprice_delay_s: float
    game_taker_delay_s: int = 3
    activity_zipf: float = 0.0  # > 0: Zipf activity across live markets (see zipf_activity)


class _Builder:
    def __init__(self, rng: random.Random, epoch: datetime) -> None:
        self.rng = rng
        self.epoch = epoch
        self.next_gamma_id = 540_000 + rng.randrange(10_000)
        self.next_event_id = 31_000 + rng.randrange(1_000)
        self.markets: list[SimMarket] = []
        self.events: list[SimEvent] = []
        self.games: list[SimGame] = []

    def gamma_id(self) -> str:
        self.next_gamma_id += 1 + self.rng.randrange(3)
        return str(self.next_gamma_id)

    def event(self, title: str, category: Category, *, neg_risk: bool = False) -> SimEvent:
        self.next_event_id += 1 + self.rng.randrange(5)
        event = SimEvent(
            event_id=str(self.next_event_id),
            slug=slugify(title),
            title=title,
            category=category,
            neg_risk=neg_risk,
            # the NegRiskAdapter's market ids end in a zero byte: its questions' ids are the
            # market id with the question's index in that byte (``chain.calls.question_index``)
            neg_risk_market_id=hex_id(self.rng)[:-2] + "00" if neg_risk else "",
        )
        self.events.append(event)
        return event

    def market(
        self,
        kind: MarketKind,
        question: str,
        outcomes: tuple[str, str],
        event: SimEvent,
        *,
        tick: int,
        fair: int,
        **extra: Any,
    ) -> SimMarket:
        rng = self.rng
        created = self.epoch - timedelta(days=rng.randrange(2, 200), seconds=rng.randrange(86400))
        volume = round(rng.lognormvariate(11, 1.5), 6)
        # drawn in the order they always were: a seed keeps giving the same venue
        gamma_id, condition_id, question_id = self.gamma_id(), hex_id(rng), hex_id(rng)
        if event.neg_risk:  # the adapter's question id: the market id, the index last
            question_id = event.neg_risk_market_id[:-2] + f"{len(event.markets):02x}"
        market = SimMarket(
            kind=kind,
            gamma_id=gamma_id,
            condition_id=condition_id,
            question_id=question_id,
            question=question,
            slug=f"{slugify(question)}-{rng.randrange(100, 1000)}",
            outcomes=outcomes,
            token_ids=(token_id(rng), token_id(rng)),
            tick=tick,
            category=event.category,
            fair=fair,
            neg_risk=event.neg_risk,
            neg_risk_request_id=hex_id(rng) if event.neg_risk else "",
            event=event,
            activity=rng.lognormvariate(0, 0.6),
            liquidity=round(rng.lognormvariate(10, 1.0), 5),
            volume=volume,
            volume_24h=round(volume * rng.uniform(0.005, 0.05), 6),
            created=created,
            end=self.epoch + timedelta(days=rng.randrange(7, 400)),
            **extra,
        )
        event.markets.append(market)
        self.markets.append(market)
        return market

    def binary(self, index: int) -> None:
        category, template = _BINARY_QUESTIONS[index % len(_BINARY_QUESTIONS)]
        question = template.format(n=index // len(_BINARY_QUESTIONS) + 2 + index % 5)
        event = self.event(question, category)
        tick = TICK_MILLI if index % 3 == 2 else TICK_CENT
        fair = _on_grid(self.rng.uniform(0.15, 0.85), tick)
        self.market("binary", question, ("Yes", "No"), event, tick=tick, fair=fair)

    def neg_risk_event(self, index: int, outcomes: int) -> None:
        title = f"Winner of the {2027 + index} Mayoral Election in District {index + 1}"
        category = ELECTIONS if index % 2 == 0 else POLITICS
        event = self.event(title, category, neg_risk=True)
        weights = [self.rng.expovariate(1.0) + 0.15 for _ in range(outcomes)]
        total = sum(weights)
        names = [_CANDIDATES[(index * 5 + k) % len(_CANDIDATES)] for k in range(outcomes)]
        for name, weight in zip(names, weights, strict=True):
            fair = _on_grid(max(0.03, min(0.9, weight / total)), TICK_CENT)
            self.market(
                "outcome",
                f"Will {name} win the {title.removeprefix('Winner of the ')}?",
                ("Yes", "No"),
                event,
                tick=TICK_CENT,
                fair=fair,
                group_item_title=name,
            )

    def game(self, index: int, spec: CatalogSpec) -> None:
        league = ("nba", "nfl", "mlb", "nhl")[index % 4]
        teams = league_teams(league)
        pair = index // 4
        away: Team = teams[(2 * pair) % len(teams)]
        home: Team = teams[(2 * pair + 1) % len(teams)]
        start_s = spec.game_start_s + index * spec.game_spacing_s
        start_wall = (self.epoch + timedelta(seconds=start_s)).replace(second=0, microsecond=0)
        title = f"{away.name} vs. {home.name}"
        event = self.event(title, SPORTS)
        game = SimGame.generate(
            self.rng,
            index=index,
            league=league,
            home=home,
            away=away,
            start_s=start_s,
            duration_s=spec.game_duration_s,
            reprice_delay_s=spec.reprice_delay_s,
            start_wall=start_wall,
            event_id=str(401_800_000 + self.rng.randrange(100_000)),
        )
        game.taker_delay_s = spec.game_taker_delay_s
        event.game = game
        market = self.market(
            "moneyline",
            title,
            (away.name, home.name),
            event,
            tick=TICK_CENT,
            fair=_on_grid(game.pregame_away_probability, TICK_CENT),
            group_item_title="Match Winner",
        )
        market.slug = f"{league}-{away.abbreviation.lower()}-{home.abbreviation.lower()}-" + (
            start_wall.strftime("%Y-%m-%d")
        )
        game.market = market
        self.games.append(game)

    def closed(self, index: int) -> None:
        question = f"Will the committee publish report {index + 1} before the deadline?"
        event = self.event(question, POLITICS)
        market = self.market(
            "closed", question, ("Yes", "No"), event, tick=TICK_CENT, fair=10_000, closed=True
        )
        market.winner_index = index % 2
        market.end = self.epoch - timedelta(days=1 + index)


def _on_grid(probability: float, tick: int) -> int:
    price = round(probability * 10_000 / tick) * tick
    return max(2 * tick, min(10_000 - 2 * tick, price))


def zipf_activity(markets: list[SimMarket], exponent: float, rng: random.Random) -> None:
    """Give the live markets Zipf-distributed shares of the update stream: the market of rank
    k (a seeded shuffle decides the ranks) gets weight 1 / k ** ``exponent``. On a venue a few
    markets (the election, tonight's games) carry most of the traffic and thousands barely move;
    with exponent 1 over 5,000 markets the busiest has ~11 % of the stream and the median ~0.004 %.
    """
    live = [m for m in markets if m.live]
    rng.shuffle(live)
    for rank, market in enumerate(live, start=1):
        market.activity = 1.0 / rank**exponent


def build_catalog(spec: CatalogSpec, rng: random.Random, epoch: datetime) -> Catalog:
    builder = _Builder(rng, epoch)
    for i in range(spec.binary_markets):
        builder.binary(i)
    for i in range(spec.negrisk_events):
        builder.neg_risk_event(i, spec.outcomes_per_event)
    for i in range(spec.games):
        builder.game(i, spec)
    for i in range(spec.closed_markets):
        builder.closed(i)
    if spec.activity_zipf > 0:
        zipf_activity(builder.markets, spec.activity_zipf, random.Random(rng.random()))
    return Catalog(builder.markets, builder.events, builder.games, epoch)


def _json_list(value: object) -> list[str]:
    """Gamma's JSON-in-JSON string fields; tolerate a real array (public-search form)."""
    decoded = orjson.loads(value) if isinstance(value, str | bytes) else value
    if not isinstance(decoded, list) or not all(isinstance(v, str) for v in decoded):
        raise ValueError(f"expected a JSON list of strings, got {value!r}")
    return list(decoded)


def catalog_from_gamma(raw_markets: list[dict[str, Any]], epoch: datetime) -> Catalog:
    """The catalog of a recording: its Gamma market objects, served as recorded.

    Markets that are not two-token order-book markets are skipped (the venue has no book for them).
    """
    markets: list[SimMarket] = []
    events: dict[str, SimEvent] = {}
    for raw in raw_markets:
        try:
            outcomes = _json_list(raw.get("outcomes", "[]"))
            tokens = _json_list(raw.get("clobTokenIds", "[]"))
        except (ValueError, orjson.JSONDecodeError):
            continue
        if len(tokens) != 2 or len(outcomes) != 2:
            continue
        tick_value = raw.get("orderPriceMinTickSize", 0.01)
        try:
            tick = decimal_to_price(Decimal(str(tick_value)))
        except (ValueError, ArithmeticError):
            tick = TICK_CENT
        closed = bool(raw.get("closed", False))
        raw_events = raw.get("events") or []
        event: SimEvent | None = None
        if raw_events and isinstance(raw_events[0], dict):
            raw_event = raw_events[0]
            event_id = str(raw_event.get("id", ""))
            event = events.get(event_id)
            if event is None:
                event = SimEvent(
                    event_id=event_id,
                    slug=str(raw_event.get("slug", "")),
                    title=str(raw_event.get("title", "")),
                    category=GEOPOLITICS,
                    neg_risk=bool(raw_event.get("negRisk", False)),
                    neg_risk_market_id=str(raw_event.get("negRiskMarketID", "") or ""),
                    raw=raw_event,
                )
                events[event_id] = event
        market = SimMarket(
            kind="recorded",
            gamma_id=str(raw.get("id", "")),
            condition_id=str(raw.get("conditionId", "")),
            question_id=str(raw.get("questionID", "")),
            question=str(raw.get("question", "")),
            slug=str(raw.get("slug", "")),
            outcomes=(outcomes[0], outcomes[1]),
            token_ids=(tokens[0], tokens[1]),
            tick=tick,
            category=GEOPOLITICS,
            fair=_first_price(raw),
            min_order_size=int(Decimal(str(raw.get("orderMinSize", 5)))),
            neg_risk=bool(raw.get("negRisk", False)),
            neg_risk_request_id=str(raw.get("negRiskRequestID", "") or ""),
            group_item_title=str(raw.get("groupItemTitle", "") or ""),
            event=event,
            closed=closed,
            raw=raw,
        )
        if event is not None:
            event.markets.append(market)
        markets.append(market)
    return Catalog(markets, list(events.values()), [], epoch)


def _first_price(raw: dict[str, Any]) -> int:
    try:
        return parse_price(_json_list(raw.get("outcomePrices", "[]"))[0])
    except (ValueError, IndexError, orjson.JSONDecodeError):
        return 5000
