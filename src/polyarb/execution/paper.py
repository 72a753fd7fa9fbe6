"""Paper execution: orders simulated against the live books, as the venue would fill them.

Per leg: an ``Order`` goes INTENT -> SUBMITTING, waits a latency drawn from the configured
distribution (lognormal around ``latency_ms``, seeded; plus the market's taker delay,
``secondsDelay``, for a marketable order) on the clock, never blocking the loop, is ACKED, then
is matched against the book *as it is after the delay*:
walking the opposite side from the best level up to the limit price, level by level, with the
venue's taker fee on each fill. FOK fills completely or is killed, FAK fills what it can and
cancels the rest, GTC/GTD rest and fill later when the book crosses their limit (checked by
``on_book``; those fills are maker fills at the limit price, without fee).

Liquidity we take is remembered per level of the VENUE's book (the overlay), so the same shares
never fill twice: a binary market is one matching book, so its NO ask at p is its YES bid at 1 - p
and a fill on either view consumes the same shares. The venue never saw a paper trade, so no
later update of the level accounts for it: what we took stays taken (subtracted from whatever
size the wire shows) until the level leaves the book. Orders are checked like the venue checks them
(tick grid, 2-decimal sizes, $1 marketable BUY, minimum resting size, balance) and rejected with
the venue's wording. The legs of a signal go out concurrently; a complete set whose legs filled
unevenly goes through leg-risk handling, then complete sets are merged (binary) or locked
(negRisk). Every fill and merge is journaled (fsync) before the ledger applies it.

With a ``RiskGate`` (the engine's risk manager): leg-risk orders are checked as reducing orders
before they go out, every fill is told to risk as it happens (resting fills included), and once
the kill switch is engaged nothing fills: orders still waiting out their latency are canceled
and resting orders stop matching (the engine cancels them).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import structlog

from polyarb.domain.book import BookSide, OrderBook, Side
from polyarb.domain.clock import Clock, WallClock
from polyarb.domain.ledger import Ledger, LedgerEvent
from polyarb.domain.market import NO_FEES, FeeSchedule, Market
from polyarb.domain.numbers import (
    ONE,
    decimal_to_price,
    decimal_to_size,
    price_to_decimal,
    size_to_decimal,
)
from polyarb.domain.trading import Fill, Leg, Mode, Order, OrderStatus, OrderType, Signal
from polyarb.execution.base import (
    FAK_NO_MATCH,
    FOK_KILLED,
    LEG_POLICIES,
    NOT_ENOUGH_BALANCE,
    RESTING_TYPES,
    ZERO,
    ExecutionReport,
    LegPolicy,
    OrderUpdateCallback,
    RiskGate,
    fill_id_for,
    new_client_order_id,
    new_event_id,
    notify_order_update,
    outcome_of,
    validate_order,
    venue_taker_fee,
)
from polyarb.execution.journal import Journal, journal_then_apply
from polyarb.execution.legs import (
    AlertCallback,
    LegPool,
    act_on_orphans,
    buys_a_complete_set,
    leg_risk_signal,
)
from polyarb.execution.merge import complete_set_kind, plan_merge, resolution_for

log = structlog.get_logger(__name__)

DEFAULT_TICK = Decimal("0.01")
_QUARTER = Decimal("0.25")


@dataclass(frozen=True, slots=True)
class PaperConfig:
    latency_ms: int = 200  # PAPER_LATENCY_MS: submit -> match delay (the median)
    latency_sigma: float = 0.0  # PAPER_LATENCY_SIGMA: lognormal spread (a model parameter)
    latency_seed: int = 0  # PAPER_LATENCY_SEED
    leg_policy: LegPolicy = "unwind"  # LEG_POLICY
    leg_max_loss: Decimal = Decimal(5)  # LEG_MAX_LOSS, USD per signal
    order_type: OrderType = OrderType.FAK  # for signal legs unless execute() is told otherwise
    merge_sets: bool = True  # merge binary / lock negRisk complete sets after the fills
    chain_tx_cost: Decimal = Decimal(0)  # CHAIN_TX_COST_USD, booked with each merge or lock

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0 (got {self.latency_ms})")
        if not 0 <= self.latency_sigma <= 3:
            raise ValueError(f"latency_sigma must be within [0, 3] (got {self.latency_sigma})")
        if self.leg_policy not in LEG_POLICIES:
            raise ValueError(f"leg_policy must be one of {LEG_POLICIES} (got {self.leg_policy!r})")
        if self.leg_max_loss < 0:
            raise ValueError(f"leg_max_loss must be >= 0 (got {self.leg_max_loss})")

    @classmethod
    def from_settings(cls, settings: object) -> PaperConfig:
        """Read PAPER_LATENCY_MS, LEG_POLICY and LEG_MAX_LOSS from a Settings-like object."""
        policy = str(getattr(settings, "leg_policy", "unwind"))
        if policy not in LEG_POLICIES:
            raise ValueError(f"LEG_POLICY must be one of {LEG_POLICIES} (got {policy!r})")
        return cls(
            latency_ms=int(getattr(settings, "paper_latency_ms", 200)),
            latency_sigma=float(getattr(settings, "paper_latency_sigma", 0)),
            latency_seed=int(getattr(settings, "paper_latency_seed", 0)),
            leg_policy=policy,
            leg_max_loss=Decimal(str(getattr(settings, "leg_max_loss", 5))),
            chain_tx_cost=Decimal(str(getattr(settings, "chain_tx_cost_usd", 0))),
        )


# A level of the venue's book: (token of the matching book, is the bid side, price).
VenueLevel = tuple[str, bool, int]
VenueKey = Callable[[str, bool, int], VenueLevel]


def same_level(token_id: str, is_bid: bool, price: int) -> VenueLevel:
    return token_id, is_bid, price


class LiquidityOverlay:
    """Shares our paper fills took, per level of the venue's book.

    ``venue_key`` maps a (token, side, price) of a book we read to the venue's level: for a
    binary market's second token, its first token's opposite side at 1 - price (one matching
    book seen twice). The venue never saw our paper trades, so no wire update accounts for them:
    an entry is subtracted from whatever size the wire shows for its level and is forgotten only
    when the level leaves the book (``prune``). Taken liquidity never comes back.
    """

    def __init__(self, venue_key: VenueKey = same_level) -> None:
        self._key = venue_key
        self._taken: dict[VenueLevel, int] = {}
        self._by_token: dict[str, set[VenueLevel]] = {}  # token read -> its levels with entries

    def available(self, token_id: str, is_bid: bool, price: int, wire_size: int) -> int:
        if not self._taken:
            return wire_size
        taken = self._taken.get(self._key(token_id, is_bid, price), 0)
        return max(wire_size - taken, 0)

    def consume(self, token_id: str, is_bid: bool, price: int, wire_size: int, qty: int) -> None:
        del wire_size  # the venue's level is what it is: ours is subtracted from any size
        key = self._key(token_id, is_bid, price)
        self._taken[key] = self._taken.get(key, 0) + qty
        self._by_token.setdefault(token_id, set()).add(key)

    def taken(self, token_id: str, is_bid: bool, price: int) -> int:
        return self._taken.get(self._key(token_id, is_bid, price), 0)

    def prune(self, book: OrderBook) -> None:
        """Forget the entries read through ``book`` whose level has left it."""
        keys = self._by_token.get(book.token_id)
        if not keys:
            return
        for key in list(keys):
            if key not in self._taken:
                keys.discard(key)
                continue
            _, is_bid, price = self._read_level(book.token_id, key)
            if price not in (book.bids if is_bid else book.asks).levels:
                del self._taken[key]
                keys.discard(key)
        if not keys:
            del self._by_token[book.token_id]

    def _read_level(self, token_id: str, key: VenueLevel) -> VenueLevel:
        """The level of ``token_id``'s book that maps to the venue's ``key``."""
        venue_token, is_bid, price = key
        if venue_token == token_id:
            return key
        return token_id, not is_bid, ONE - price

    def __len__(self) -> int:
        return len(self._taken)


@dataclass(slots=True)
class _Tally:
    realized: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class _Hold:
    """What an in-flight or resting order reserves: cash (BUY) or shares (SELL)."""

    key: tuple[str, str]  # (strategy, token id)
    cash: Decimal = ZERO
    shares: Decimal = ZERO


class PaperExecution:
    """Simulated execution for DRY_RUN=true with paper trading on.

    ``markets`` maps token id -> Market (a condition-id key is also accepted when the leg names
    its market); ``books`` maps token id -> the live OrderBook, read after the latency.
    """

    mode = Mode.PAPER

    def __init__(
        self,
        books: Mapping[str, OrderBook],
        markets: Mapping[str, Market],
        config: PaperConfig,
        ledger: Ledger,
        journal_path: Path | None = None,
        clock: Clock | None = None,
        *,
        on_alert: AlertCallback | None = None,
        on_order_update: OrderUpdateCallback | None = None,
        risk: RiskGate | None = None,
    ) -> None:
        self.books = books
        self.markets = markets
        self.config = config
        self.ledger = ledger
        self.clock: Clock = clock or WallClock()
        self.overlay = LiquidityOverlay(self._venue_level)
        self._latency_rng = random.Random(config.latency_seed)
        self._journal = Journal(journal_path) if journal_path is not None else None
        self._on_alert = on_alert
        self._on_order_update = on_order_update
        self._risk = risk
        self._risk_ids: dict[str, str] = {}  # leg-risk order client id -> its risk signal id
        self._resting: dict[str, dict[str, Order]] = {}  # token id -> client id -> order
        self._holds: dict[str, _Hold] = {}  # client id -> cash/shares reserved
        self._fill_seq: dict[str, int] = {}
        self._last_ns = 0

    # ------------------------------------------------------------------------------ public
    async def execute(
        self, signal: Signal, *, order_type: OrderType | None = None
    ) -> ExecutionReport:
        """Place every leg concurrently, handle leg risk, merge or lock complete sets."""
        started = self._now()
        signal_id = signal.signal_id or new_event_id("signal")
        report = ExecutionReport(signal_id, signal.strategy, Mode.PAPER, started_ns=started)
        leg_type = order_type or self.config.order_type
        legs = [self._new_order(leg, signal, signal_id, leg_type, started) for leg in signal.legs]
        report.orders.extend(legs)
        tally = _Tally()
        if not legs:
            report.outcome = "rejected"
            report.reason = "signal has no legs"
        elif (problem := self._reject_invalid(legs)) is not None:
            report.outcome = "rejected"
            report.reason = problem
        else:
            for order in legs:
                self._hold(order)
            results = await asyncio.gather(*(self._submit(order, tally) for order in legs))
            for fills in results:
                report.fills.extend(fills)
            if buys_a_complete_set(signal):
                await self._settle_complete_set(signal, signal_id, legs, report, tally)
            report.outcome = outcome_of(legs, report.leg_risk)
        report.fees = sum((f.fee for f in report.fills), ZERO)
        report.realized_pnl = tally.realized
        report.finished_ns = self._now()
        log.info(
            "paper execution",
            signal_id=signal_id,
            strategy=signal.strategy,
            outcome=report.outcome,
            fills=len(report.fills),
            merged=str(report.merged),
            locked=str(report.locked),
            converted=str(report.converted),
            realized=str(report.realized_pnl),
            fees=str(report.fees),
            reason=report.reason,
        )
        return report

    async def cancel_all(self) -> list[Order]:
        return [self._cancel(order, "canceled") for order in self.resting_orders()]

    def cancel(self, client_id: str, reason: str = "canceled") -> Order | None:
        """Cancel one resting order; None when it is not resting (filled, unknown)."""
        for orders in self._resting.values():
            order = orders.get(client_id)
            if order is not None:
                return self._cancel(order, reason)
        return None

    def resting_orders(self) -> list[Order]:
        return [o for orders in self._resting.values() for o in orders.values()]

    def on_book(self, token_id: str) -> None:
        """The wire changed ``token_id``'s book: void stale overlay entries, fill resting orders."""
        book = self.books.get(token_id)
        if book is None:
            return
        self.overlay.prune(book)
        resting = self._resting.get(token_id)
        if not resting or self._book_problem(book) is not None or self._halted() is not None:
            return
        now = self._now()
        for order in list(resting.values()):
            side, is_bid = self._taken_side(book, order.side)
            remaining = decimal_to_size(order.remaining)
            slices = self._walk(token_id, side, is_bid, decimal_to_price(order.price), remaining)
            if not slices:
                continue
            fills = self._book_fills(order, slices, now, maker=True, tally=_Tally())
            if order.filled >= order.size:
                order.transition(OrderStatus.FILLED, now)
                self._unrest(order)
            else:
                order.transition(OrderStatus.PARTIAL, now)
                self._hold(order)
            self._notify(order, fills)

    def on_resolved(self, market: str, winning_token_id: str) -> Decimal:
        """Pay a resolved market (and the locked negRisk sets holding its tokens). An empty
        ``winning_token_id`` is a 50/50 resolution."""
        if winning_token_id:
            info = self._market_of(winning_token_id, market)
        else:
            info = self.markets.get(market) or next(
                (m for m in self.markets.values() if m.condition_id == market), None
            )
        now = self._now()
        if info is None:
            log.warning("resolution of an unknown market", market=market, winner=winning_token_id)
            info = Market(condition_id=market, question="", slug="", outcomes=())
        for token_id in {*info.token_ids, winning_token_id}:
            for order in list(self._resting.get(token_id, {}).values()):
                self._cancel(order, "market resolved")
        resolution = resolution_for(info, winning_token_id, now)
        if self.ledger.seen(resolution.resolution_id):
            return ZERO
        realized = self._record([resolution])
        log.info("market resolved", market=market, winner=winning_token_id, realized=str(realized))
        return realized

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()

    # --------------------------------------------------------------------------- checking
    def _reject_invalid(self, orders: Sequence[Order]) -> str | None:
        """Reject the signal when any leg breaks a venue rule; nothing is sent then."""
        problems = self._check(orders)
        first = next((p for p in problems if p is not None), None)
        if first is None:
            return None
        now = self._now()
        for order, problem in zip(orders, problems, strict=True):
            if problem is not None:
                order.transition(OrderStatus.SUBMITTING, now)
                order.transition(OrderStatus.REJECTED, now, problem)
            else:
                order.transition(OrderStatus.FAILED, now, "not sent: another leg was rejected")
        return first

    def _check(self, orders: Sequence[Order]) -> list[str | None]:
        problems: list[str | None] = []
        cash_needed = ZERO
        shares_needed: dict[tuple[str, str], Decimal] = {}
        for order in orders:
            market = self._market_of(order.token_id, order.market)
            if market is None:
                problems.append(f"paper: no market metadata for token {order.token_id}")
                continue
            if market.closed or not market.accepting_orders:
                problems.append("the market is not accepting orders")
                continue
            marketable = order.order_type not in RESTING_TYPES or self._crosses(order)
            problem = validate_order(
                order,
                tick=self._tick_of(order.token_id),
                min_order_size=market.min_order_size,
                marketable=marketable,
            )
            if problem is None:
                if order.side == Side.BUY:
                    cash_needed += self._cash_hold(order, order.size)
                else:
                    key = (order.strategy, order.token_id)
                    shares_needed[key] = shares_needed.get(key, ZERO) + order.size
            problems.append(problem)
        cash_free = self.ledger.cash - sum((h.cash for h in self._holds.values()), ZERO)
        short_keys = {
            key
            for key, need in shares_needed.items()
            if need > self.ledger.shares(key[1], key[0]) - self._held_shares(key)
        }
        for i, order in enumerate(orders):
            if problems[i] is not None:
                continue
            if order.side == Side.BUY and cash_needed > cash_free:
                problems[i] = NOT_ENOUGH_BALANCE
            if order.side == Side.SELL and (order.strategy, order.token_id) in short_keys:
                problems[i] = NOT_ENOUGH_BALANCE
        return problems

    def _crosses(self, order: Order) -> bool:
        book = self.books.get(order.token_id)
        if book is None:
            return False
        if order.side == Side.BUY:
            ask = book.best_ask()
            return ask is not None and price_to_decimal(ask) <= order.price
        bid = book.best_bid()
        return bid is not None and price_to_decimal(bid) >= order.price

    # ---------------------------------------------------------------------------- placing
    def _venue_level(self, token_id: str, is_bid: bool, price: int) -> VenueLevel:
        """A binary market's second token reads the first token's book from the other side."""
        market = self.markets.get(token_id)
        if market is not None and len(market.outcomes) == 2:
            first, second = market.token_ids
            if token_id == second and first != second:
                return first, not is_bid, ONE - price
        return token_id, is_bid, price

    def _delay_s(self, order: Order) -> float:
        """Submit -> match: a latency drawn from the configured distribution, plus the market's
        taker delay when the order is marketable (the venue holds those ``secondsDelay``)."""
        config = self.config
        delay = config.latency_ms / 1000
        if config.latency_sigma > 0 and delay > 0:
            delay *= math.exp(config.latency_sigma * self._latency_rng.gauss(0.0, 1.0))
        market = self._market_of(order.token_id, order.market)
        if market is not None and (order.order_type not in RESTING_TYPES or self._crosses(order)):
            delay += float(market.taker_delay_s)
        return delay

    async def _submit(self, order: Order, tally: _Tally) -> list[Fill]:
        order.transition(OrderStatus.SUBMITTING, self._now())
        try:
            await self.clock.sleep(self._delay_s(order))
        except asyncio.CancelledError:
            order.transition(OrderStatus.FAILED, self._now(), "paper: cancelled before matching")
            self._release(order)
            raise
        now = self._now()
        order.transition(OrderStatus.ACKED, now)
        halted = self._halted()
        if halted is not None:  # the kill switch was engaged while the order was on its way
            order.transition(OrderStatus.CANCELED, now, f"kill switch: {halted}")
            self._release(order)
            return []
        book = self.books.get(order.token_id)
        problem = self._book_problem(book)
        if book is None or problem is not None:
            order.transition(OrderStatus.CANCELED, now, problem or "paper: no book")
            self._release(order)
            return []
        side, is_bid = self._taken_side(book, order.side)
        wanted = decimal_to_size(order.size)
        slices = self._walk(order.token_id, side, is_bid, decimal_to_price(order.price), wanted)
        if order.order_type == OrderType.FOK and sum(s[1] for s in slices) < wanted:
            order.transition(OrderStatus.CANCELED, now, FOK_KILLED)
            self._release(order)
            return []
        fills = self._book_fills(order, slices, now, maker=False, tally=tally) if slices else []
        if order.filled >= order.size:
            order.transition(OrderStatus.FILLED, now)
            self._release(order)
        elif order.order_type in RESTING_TYPES:
            order.transition(OrderStatus.PARTIAL if fills else OrderStatus.OPEN, now)
            self._resting.setdefault(order.token_id, {})[order.client_id] = order
            self._hold(order)
        elif fills:
            order.transition(OrderStatus.PARTIAL, now)
            order.transition(
                OrderStatus.CANCELED, now, f"FAK remainder canceled ({order.remaining} unfilled)"
            )
            self._release(order)
        else:
            order.transition(OrderStatus.CANCELED, now, FAK_NO_MATCH)
            self._release(order)
        if order.status.is_terminal:
            self._fill_seq.pop(order.client_id, None)
        return fills

    async def _place_fak(
        self,
        signal: Signal,
        signal_id: str,
        tally: _Tally,
        token_id: str,
        side: Side,
        size: Decimal,
        limit: Decimal,
        completing: tuple[str, ...],
    ) -> tuple[Order, list[Fill]]:
        """One leg-risk order (unwind or completion): checked by the venue rules and by risk
        (as a reducing order), held, submitted like a leg."""
        leg = Leg(token_id, side, size, limit, limit, self._market_key(token_id))
        order = self._new_order(leg, signal, signal_id, OrderType.FAK, self._now())
        if self._reject_invalid([order]) is not None:
            return order, []
        if self._risk is None:
            self._hold(order)
            return order, await self._submit(order, tally)
        fees = self._cash_hold(order, size) - size * limit if side == Side.BUY else ZERO
        gated = leg_risk_signal(signal, signal_id, leg, order.client_id, fees)
        denied = self._risk.approve(gated, completing if side == Side.BUY else ())
        if denied is not None:
            order.transition(OrderStatus.FAILED, self._now(), f"not sent: {denied}")
            return order, []
        self._risk_ids[order.client_id] = gated.signal_id
        try:
            self._hold(order)
            return order, await self._submit(order, tally)
        finally:
            del self._risk_ids[order.client_id]
            self._risk.on_done(gated)

    def _walk(
        self, token_id: str, side: BookSide, is_bid: bool, limit: int, wanted: int
    ) -> list[tuple[int, int, int]]:
        """(price, shares to take, wire size) from the best level, within ``limit``."""
        out: list[tuple[int, int, int]] = []
        remaining = wanted
        overlay = self.overlay
        for price, wire in side.best_first():
            if price < limit if is_bid else price > limit:
                break
            available = overlay.available(token_id, is_bid, price, wire)
            if available <= 0:
                continue
            take = available if available < remaining else remaining
            out.append((price, take, wire))
            remaining -= take
            if not remaining:
                break
        return out

    def _book_fills(
        self,
        order: Order,
        slices: list[tuple[int, int, int]],
        ts_ns: int,
        *,
        maker: bool,
        tally: _Tally,
    ) -> list[Fill]:
        """Turn the slices into fills: consume the overlay, journal, apply to the ledger."""
        market = self._market_of(order.token_id, order.market)
        fees = market.fees if market is not None else NO_FEES
        is_bid = order.side == Side.SELL
        fills = []
        sequence = self._fill_seq.get(order.client_id, 0)
        for price, take, wire in slices:
            self.overlay.consume(order.token_id, is_bid, price, wire, take)
            fill_price = order.price if maker else price_to_decimal(price)
            size = size_to_decimal(take)
            sequence += 1
            fills.append(
                Fill(
                    fill_id=fill_id_for(order, sequence),
                    client_order_id=order.client_id,
                    token_id=order.token_id,
                    market=order.market,
                    side=order.side,
                    price=fill_price,
                    size=size,
                    fee=ZERO if maker else venue_taker_fee(fees, fill_price, size),
                    ts_ns=ts_ns,
                    strategy=order.strategy,
                    mode=Mode.PAPER,
                    liquidity="maker" if maker else "taker",
                )
            )
        self._fill_seq[order.client_id] = sequence
        tally.realized += self._record(fills)
        order.filled += sum((f.size for f in fills), ZERO)
        order.fees += sum((f.fee for f in fills), ZERO)
        if self._risk is not None and fills:
            self._risk.on_fills(self._risk_ids.get(order.client_id, order.signal_id), fills)
        return fills

    def _record(self, events: Sequence[LedgerEvent]) -> Decimal:
        """Journal (durably) first, then apply to the ledger; returns the P&L realized."""
        return journal_then_apply(self._journal, self.ledger, events)

    # ------------------------------------------------------------------------ complete sets
    async def _settle_complete_set(
        self,
        signal: Signal,
        signal_id: str,
        legs: list[Order],
        report: ExecutionReport,
        tally: _Tally,
    ) -> None:
        for order in legs:  # arbitrage legs never rest: leg risk is decided on what filled now
            if order.client_id in self._resting.get(order.token_id, {}):
                self._cancel(order, "complete-set legs do not rest")
        if self._risk is not None:  # the legs are over: what they did not fill is not in flight
            self._risk.on_done(signal)
        tokens = list(dict.fromkeys(leg.token_id for leg in signal.legs))
        pool = LegPool.of([(t, self._market_key(t)) for t in tokens], report.fills)
        if pool.orphans():

            async def place(
                token_id: str, side: Side, size: Decimal, limit: Decimal
            ) -> tuple[Order, list[Fill]]:
                return await self._place_fak(
                    signal, signal_id, tally, token_id, side, size, limit, tuple(tokens)
                )

            await act_on_orphans(
                report, pool, self.config, place, (self._fees_of, self._tick_of), self._on_alert
            )
        if not self.config.merge_sets:
            return
        found = complete_set_kind(tokens, lambda t: self._market_of(t))
        if found is None:
            return
        merge = plan_merge(
            self.ledger,
            found[0],
            found[1],
            tokens,
            signal.strategy,
            self._now(),
            self.config.chain_tx_cost,
        )
        if merge is None:
            return
        tally.realized += self._record([merge])
        report.merges.append(merge)
        if merge.locked:
            report.locked += merge.qty
        elif found[0] == "neg_risk_convert":
            report.converted += merge.qty
        else:
            report.merged += merge.qty

    def _notify(self, order: Order, fills: list[Fill]) -> None:
        notify_order_update(self._on_order_update, order, fills)

    # ------------------------------------------------------------------------------ helpers
    def _halted(self) -> str | None:
        return self._risk.halted() if self._risk is not None else None

    def _now(self) -> int:
        """Strictly increasing event time, so journal order == time order."""
        now = self.clock.now_ns()
        if now <= self._last_ns:
            now = self._last_ns + 1
        self._last_ns = now
        return now

    def _new_order(
        self, leg: Leg, signal: Signal, signal_id: str, order_type: OrderType, ts_ns: int
    ) -> Order:
        order = Order(
            client_id=new_client_order_id(Mode.PAPER),
            token_id=leg.token_id,
            market=leg.market or self._market_key(leg.token_id),
            side=leg.side,
            price=leg.limit_price,
            size=leg.size,
            order_type=order_type,
            strategy=signal.strategy,
            mode=Mode.PAPER,
            signal_id=signal_id,
            created_ns=ts_ns,
        )
        order.transition(OrderStatus.INTENT, ts_ns)
        return order

    def _market_of(self, token_id: str, hint: str = "") -> Market | None:
        market = self.markets.get(token_id)
        if market is None and hint:
            candidate = self.markets.get(hint)
            if candidate is not None and token_id in candidate.token_ids:
                market = candidate
        return market

    def _market_key(self, token_id: str) -> str:
        market = self._market_of(token_id)
        return market.condition_id if market is not None else ""

    def _fees_of(self, token_id: str) -> FeeSchedule:
        market = self._market_of(token_id)
        return market.fees if market is not None else NO_FEES

    def _tick_of(self, token_id: str) -> Decimal:
        """The live tick (the book's, updated by tick_size_change), else the market's."""
        book = self.books.get(token_id)
        if book is not None and book.tick > 0:
            return price_to_decimal(book.tick)
        market = self._market_of(token_id)
        return market.tick_size if market is not None else DEFAULT_TICK

    @staticmethod
    def _taken_side(book: OrderBook, side: Side) -> tuple[BookSide, bool]:
        """The side an order takes from: BUY takes asks, SELL takes bids (is_bid=True)."""
        return (book.asks, False) if side == Side.BUY else (book.bids, True)

    @staticmethod
    def _book_problem(book: OrderBook | None) -> str | None:
        if book is None:
            return "paper: no book for this token"
        if book.stale:
            return "paper: book stale, no fill simulated"
        if book.is_crossed():
            return "paper: book crossed, no fill simulated"
        return None

    def _cash_hold(self, order: Order, size: Decimal) -> Decimal:
        """Cash a BUY of ``size`` may spend: notional at the limit plus the worst taker fee."""
        fees = self._fees_of(order.token_id)
        return size * order.price + size * fees.rate * _QUARTER**fees.exponent

    def _hold(self, order: Order) -> None:
        remaining = order.remaining
        key = (order.strategy, order.token_id)
        if order.side == Side.BUY:
            self._holds[order.client_id] = _Hold(key, cash=self._cash_hold(order, remaining))
        else:
            self._holds[order.client_id] = _Hold(key, shares=remaining)

    def _release(self, order: Order) -> None:
        self._holds.pop(order.client_id, None)

    def _held_shares(self, key: tuple[str, str]) -> Decimal:
        return sum((h.shares for h in self._holds.values() if h.key == key), ZERO)

    def _unrest(self, order: Order) -> None:
        orders = self._resting.get(order.token_id)
        if orders is not None:
            orders.pop(order.client_id, None)
            if not orders:
                del self._resting[order.token_id]
        self._release(order)
        self._fill_seq.pop(order.client_id, None)

    def _cancel(self, order: Order, reason: str) -> Order:
        order.transition(OrderStatus.CANCELED, self._now(), reason)
        self._unrest(order)
        self._notify(order, [])
        return order
