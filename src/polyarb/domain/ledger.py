"""The ledger: positions, cash and P&L from fills, merges and resolutions, exact and idempotent.

Accounting rules (all amounts exact ``Decimal``):

- Positions are kept per (strategy, token), so every realization belongs to exactly one strategy;
  ``shares``/``cost_basis`` also answer per token across strategies.
- A BUY adds its notional plus its taker fee to the cost basis; a SELL realizes
  ``proceeds - fee - average cost x shares sold``. Realized P&L is therefore net of fees;
  ``fees_paid`` still reports what the fees were.
- Cost removed on a partial disposal is ``cost x sold / held`` rounded to 1e-10 $ (the cost
  unit of ``numbers``); the rest stays in the position, so nothing is ever lost to rounding:
  ``cash + cost basis of everything held == starting balance + realized P&L`` holds exactly.
- A merge turns ``qty`` of each outcome of a binary market into ``qty`` dollars now; a negRisk
  conversion (an unlocked merge of the NO tokens of n outcomes, through the adapter's
  ``convertPositions``) turns ``qty`` of each into ``qty x (n - 1)`` dollars: an unlocked merge
  of k tokens pays ``k - 1`` per set (``Merge.collateral_per_set``). A locked set (negRisk: YES
  of every outcome of an event) moves ``qty`` of each token into a ``LockedSet`` that is paid by
  the actual resolutions of its tokens' markets.
- A resolution pays $1 per share of the winning token, 0 for the others of that market; a
  resolution without a single winner (``winning_token_id == ""``, a 50/50 market) pays each
  listed token an equal share. A locked set receives ``qty x payout`` for each of its tokens
  as their markets resolve; it is released (its P&L realized) when one of its tokens pays in
  full (a negRisk winner determines the event) or when every token of it has resolved (the
  winner was outside the set, ties and splits), never kept at $1 for an event that paid less.
- A merge's ``tx_cost`` (the on-chain transaction: the merge, conversion, or the redeem a locked
  set needs) is paid from cash when the merge is applied: realized at once for a merge, part of
  the locked set's cost (realized at resolution) for a lock. A resolution's ``tx_cost`` (live:
  the redeem that paid it) is paid from cash and realized when it is applied, by the first
  strategy (by name) it pays. ``chain_costs`` reports the total.
- Every event carries an id; applying the same id twice is a no-op reported as a duplicate.
- A fill whose trade FAILED on chain is reversed exactly (``reverse_fills``): the state becomes
  what the events without it give, and its id stays seen.
- ``recompute``/``replay`` rebuild the state from the events and equal incremental application.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from polyarb.domain.book import Side
from polyarb.domain.errors import FatalError
from polyarb.domain.trading import Fill

SNAPSHOT_VERSION = 1
ZERO = Decimal(0)
_ONE = Decimal(1)
_COST_QUANTUM = Decimal("1e-10")
# Wide enough that no product or sum of our amounts is ever rounded by the context.
_CTX = Context(prec=60, rounding=ROUND_HALF_EVEN)


class LedgerError(FatalError):
    """An event the ledger cannot apply (selling or merging shares that are not held)."""


@dataclass(frozen=True, slots=True)
class Merge:
    """Complete sets turned into collateral (``locked=False``) or held as a negRisk set.

    ``token_ids`` lists one token per outcome; ``qty`` shares of each are consumed. ``market`` is
    the condition id of a binary market, or the event id of a negRisk set.
    """

    merge_id: str
    market: str
    token_ids: tuple[str, ...]
    qty: Decimal
    ts_ns: int
    strategy: str
    locked: bool = False
    tx_cost: Decimal = Decimal(0)  # USD: the on-chain transaction (CHAIN_TX_COST_USD)

    @property
    def collateral_per_set(self) -> int:
        """Dollars one set returns now: 1 for a binary merge, n - 1 for a negRisk conversion of
        the NO tokens of n outcomes, 0 for a locked set (paid at resolution)."""
        return 0 if self.locked else len(self.token_ids) - 1


@dataclass(frozen=True, slots=True)
class Resolution:
    """A market resolved: ``winning_token_id`` pays $1 a share, its other tokens pay nothing.

    The market's tokens are those of positions filled with ``market`` as their market, plus
    ``token_ids`` when given (positions whose fills did not name the market). An empty
    ``winning_token_id`` is a resolution without a single winner (50/50): each of
    ``token_ids`` pays ``1 / len(token_ids)`` a share.
    """

    resolution_id: str
    market: str
    winning_token_id: str
    ts_ns: int
    token_ids: tuple[str, ...] = ()
    tx_cost: Decimal = Decimal(0)  # USD: the redeem transaction that paid it (live), if any

    def payout(self, token_id: str) -> Decimal:
        """What one share of ``token_id`` (a token of this market) is paid."""
        if self.winning_token_id:
            return _ONE if token_id == self.winning_token_id else ZERO
        if token_id in self.token_ids:
            return _CTX.divide(_ONE, Decimal(len(self.token_ids)))
        return ZERO


LedgerEvent = Fill | Merge | Resolution


def _resolved_tokens(resolution: Resolution) -> set[str]:
    """The tokens ``resolution`` names (besides those of positions filled on its market)."""
    tokens = set(resolution.token_ids)
    if resolution.winning_token_id:
        tokens.add(resolution.winning_token_id)
    return tokens


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying one event did: ``duplicate`` when its id was already applied."""

    duplicate: bool
    realized: Decimal = ZERO


@dataclass(slots=True)
class Position:
    """Shares of one token held for one strategy, with their cost basis (fees included)."""

    token_id: str
    strategy: str
    market: str = ""
    shares: Decimal = ZERO
    cost: Decimal = ZERO

    @property
    def avg_cost(self) -> Decimal:
        if not self.shares:
            return ZERO
        return _CTX.divide(self.cost, self.shares)


@dataclass(slots=True)
class LockedSet:
    """A negRisk complete set (YES of every outcome) waiting for the event to resolve.

    ``cost`` is what is still at stake: the set's cost less what resolutions already paid
    (``paid``, for the tokens in ``settled``).
    """

    lock_id: str
    market: str
    token_ids: tuple[str, ...]
    strategy: str
    qty: Decimal
    cost: Decimal
    paid: Decimal = ZERO
    settled: tuple[str, ...] = ()

    @property
    def value(self) -> Decimal:
        """What the set is still expected to pay: $1 a set less what it was paid (never < 0)."""
        return max(self.qty - self.paid, ZERO)


def utc_day(ts_ns: int) -> str:
    """The UTC calendar day ("2026-05-02") of a unix-nanosecond timestamp."""
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC).date().isoformat()


def event_id(event: LedgerEvent) -> str:
    """The id a ledger event is known by (idempotency)."""
    if isinstance(event, Fill):
        return event.fill_id
    if isinstance(event, Merge):
        return event.merge_id
    return event.resolution_id


def _dec(value: object) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | str):
        return Decimal(value)
    raise LedgerError(f"not an exact number: {value!r}")


@dataclass(slots=True)
class _State:
    cash: Decimal
    realized: Decimal = ZERO
    fees: Decimal = ZERO
    chain_costs: Decimal = ZERO
    positions: dict[tuple[str, str], Position] = field(default_factory=dict)
    locked: dict[str, LockedSet] = field(default_factory=dict)
    daily: dict[str, Decimal] = field(default_factory=dict)
    by_strategy: dict[str, Decimal] = field(default_factory=dict)
    fees_by_strategy: dict[str, Decimal] = field(default_factory=dict)
    marks: dict[str, Decimal] = field(default_factory=dict)
    fill_ids: set[str] = field(default_factory=set)
    merge_ids: set[str] = field(default_factory=set)
    resolution_ids: set[str] = field(default_factory=set)


class Ledger:
    """Positions, cash and P&L; see the module docstring for the accounting rules."""

    def __init__(self, starting_balance: Decimal = ZERO) -> None:
        self.starting_balance = _dec(starting_balance)
        self._s = _State(cash=self.starting_balance)

    # ----------------------------------------------------------------------------- reading
    @property
    def cash(self) -> Decimal:
        return self._s.cash

    @property
    def realized_pnl(self) -> Decimal:
        return self._s.realized

    @property
    def fees_paid(self) -> Decimal:
        return self._s.fees

    @property
    def chain_costs(self) -> Decimal:
        """On-chain transaction costs booked with merges (CHAIN_TX_COST_USD each)."""
        return self._s.chain_costs

    def shares(self, token_id: str, strategy: str | None = None) -> Decimal:
        return sum(
            (p.shares for p in self._positions_of(token_id, strategy)),
            ZERO,
        )

    def cost_basis(self, token_id: str, strategy: str | None = None) -> Decimal:
        return sum((p.cost for p in self._positions_of(token_id, strategy)), ZERO)

    def avg_cost(self, token_id: str, strategy: str | None = None) -> Decimal:
        shares = self.shares(token_id, strategy)
        return _CTX.divide(self.cost_basis(token_id, strategy), shares) if shares else ZERO

    def positions(self) -> list[Position]:
        """Copies of every open position (per strategy and token)."""
        return [
            Position(p.token_id, p.strategy, p.market, p.shares, p.cost)
            for p in self._s.positions.values()
        ]

    def locked_sets(self) -> list[LockedSet]:
        return [
            LockedSet(
                s.lock_id, s.market, s.token_ids, s.strategy, s.qty, s.cost, s.paid, s.settled
            )
            for s in self._s.locked.values()
        ]

    def daily_realized(self, day: str) -> Decimal:
        """Realized P&L of one UTC day ("YYYY-MM-DD")."""
        return self._s.daily.get(day, ZERO)

    def daily_realized_pnl(self) -> dict[str, Decimal]:
        return dict(self._s.daily)

    def pnl_by_strategy(self) -> dict[str, Decimal]:
        """Realized P&L per strategy (net of fees)."""
        return dict(self._s.by_strategy)

    def fees_by_strategy(self) -> dict[str, Decimal]:
        return dict(self._s.fees_by_strategy)

    def seen(self, event_id: str) -> bool:
        s = self._s
        return event_id in s.fill_ids or event_id in s.merge_ids or event_id in s.resolution_ids

    def event_ids(self) -> frozenset[str]:
        """The id of every event applied (fills, merges, resolutions; reversed fills too)."""
        s = self._s
        return frozenset(s.fill_ids | s.merge_ids | s.resolution_ids)

    # ------------------------------------------------------------------------------- marks
    def mark(self, token_id: str, price: Decimal) -> Decimal:
        """Record the mark price of a token; return that token's unrealized P&L."""
        price = _dec(price)
        if not ZERO <= price <= _ONE:
            raise ValueError(f"mark price {price} outside [0, 1]")
        self._s.marks[token_id] = price
        return self.unrealized_pnl(token_id)

    def mark_of(self, token_id: str) -> Decimal | None:
        """The last mark price of a token (None: never marked, e.g. its book was empty)."""
        return self._s.marks.get(token_id)

    def unrealized_pnl(self, token_id: str | None = None) -> Decimal:
        """Marked value minus cost of open positions (unmarked ones count at cost).

        Locked sets count at what they are still expected to pay ($1 a set until a
        resolution pays part of it).
        """
        total = ZERO
        marks = self._s.marks
        for p in self._s.positions.values():
            if token_id is not None and p.token_id != token_id:
                continue
            mark = marks.get(p.token_id)
            if mark is not None:
                total += p.shares * mark - p.cost
        if token_id is None:
            for s in self._s.locked.values():
                total += s.value - s.cost
        return total

    def equity(self) -> Decimal:
        """Cash plus open positions at their marks (at cost when unmarked) and locked sets."""
        held = sum(
            (p.cost for p in self._s.positions.values()),
            ZERO,
        ) + sum((s.cost for s in self._s.locked.values()), ZERO)
        return self._s.cash + held + self.unrealized_pnl()

    # ----------------------------------------------------------------------------- applying
    def apply(self, event: LedgerEvent) -> Applied:
        if isinstance(event, Fill):
            return self.apply_fill(event)
        if isinstance(event, Merge):
            return self.apply_merge(event)
        return self.apply_resolution(event)

    def apply_fill(self, fill: Fill) -> Applied:
        s = self._s
        if fill.fill_id in s.fill_ids:
            return Applied(duplicate=True)
        size, price, fee = _dec(fill.size), _dec(fill.price), _dec(fill.fee)
        if size <= 0 or price < 0 or price > _ONE or fee < 0:
            raise LedgerError(
                f"fill {fill.fill_id}: invalid size {size}, price {price} or fee {fee}"
            )
        key = (fill.strategy, fill.token_id)
        notional = price * size
        realized = ZERO
        if fill.side == Side.BUY:
            pos = s.positions.get(key)
            if pos is None:
                pos = s.positions[key] = Position(fill.token_id, fill.strategy, fill.market)
            pos.shares += size
            pos.cost += notional + fee
            if not pos.market:
                pos.market = fill.market
            s.cash -= notional + fee
        else:
            pos = s.positions.get(key)
            held = pos.shares if pos is not None else ZERO
            if pos is None or held < size:
                raise LedgerError(
                    f"fill {fill.fill_id}: sells {size} of {fill.token_id} for "
                    f"{fill.strategy!r} but only {held} are held"
                )
            removed = self._remove(pos, size)
            realized = notional - fee - removed
            s.cash += notional - fee
            self._realize(realized, fill.ts_ns, fill.strategy)
        s.fees += fee
        s.fees_by_strategy[fill.strategy] = s.fees_by_strategy.get(fill.strategy, ZERO) + fee
        s.fill_ids.add(fill.fill_id)
        return Applied(duplicate=False, realized=realized)

    def apply_merge(self, merge: Merge) -> Applied:
        s = self._s
        if merge.merge_id in s.merge_ids:
            return Applied(duplicate=True)
        qty = _dec(merge.qty)
        tx_cost = _dec(merge.tx_cost)
        if tx_cost < 0:
            raise LedgerError(f"merge {merge.merge_id}: negative tx_cost {tx_cost}")
        if (
            qty <= 0
            or len(merge.token_ids) < 2
            or len(set(merge.token_ids)) != len(merge.token_ids)
        ):
            raise LedgerError(f"merge {merge.merge_id}: needs qty > 0 and distinct tokens")
        positions = []
        for token_id in merge.token_ids:
            pos = s.positions.get((merge.strategy, token_id))
            held = pos.shares if pos is not None else ZERO
            if pos is None or held < qty:
                raise LedgerError(
                    f"merge {merge.merge_id}: needs {qty} of {token_id} for "
                    f"{merge.strategy!r} but only {held} are held"
                )
            positions.append(pos)
        cost = sum((self._remove(pos, qty) for pos in positions), ZERO) + tx_cost
        s.cash -= tx_cost
        s.chain_costs += tx_cost
        realized = ZERO
        if merge.locked:
            s.locked[merge.merge_id] = LockedSet(
                merge.merge_id, merge.market, merge.token_ids, merge.strategy, qty, cost
            )
        else:
            collateral = qty * merge.collateral_per_set
            realized = collateral - cost
            s.cash += collateral
            self._realize(realized, merge.ts_ns, merge.strategy)
        s.merge_ids.add(merge.merge_id)
        return Applied(duplicate=False, realized=realized)

    def resolution_payouts(self, resolution: Resolution) -> dict[str, Decimal]:
        """What applying ``resolution`` now would pay each strategy holding a token of its market
        (positions and locked sets; 0 for a strategy holding only losers); ``{}`` when it was
        applied already. Reads only: the daily report sums it over a replay."""
        s = self._s
        if resolution.resolution_id in s.resolution_ids:
            return {}
        tokens = _resolved_tokens(resolution)
        out: dict[str, Decimal] = {}
        for pos in s.positions.values():
            if pos.token_id in tokens or pos.market == resolution.market:
                paid = pos.shares * resolution.payout(pos.token_id)
                out[pos.strategy] = out.get(pos.strategy, ZERO) + paid
        for lock in s.locked.values():
            resolved = [t for t in lock.token_ids if t in tokens and t not in lock.settled]
            if resolved:
                paid = lock.qty * sum((resolution.payout(t) for t in resolved), ZERO)
                out[lock.strategy] = out.get(lock.strategy, ZERO) + paid
        return out

    def apply_resolution(self, resolution: Resolution) -> Applied:
        s = self._s
        if resolution.resolution_id in s.resolution_ids:
            return Applied(duplicate=True)
        tx_cost = _dec(resolution.tx_cost)
        if tx_cost < 0:
            raise LedgerError(f"resolution {resolution.resolution_id}: negative tx_cost {tx_cost}")
        tokens = _resolved_tokens(resolution)
        realized = ZERO
        payees: set[str] = set()  # the strategies paid (the first by name bears the tx cost)
        for key, pos in list(s.positions.items()):
            if pos.token_id not in tokens and pos.market != resolution.market:
                continue
            payout = pos.shares * resolution.payout(pos.token_id)
            amount = payout - pos.cost
            s.cash += payout
            self._realize(amount, resolution.ts_ns, pos.strategy)
            realized += amount
            payees.add(pos.strategy)
            del s.positions[key]
            s.marks.pop(pos.token_id, None)
        for lock_id, lock in list(s.locked.items()):
            resolved = [t for t in lock.token_ids if t in tokens and t not in lock.settled]
            if not resolved:
                continue
            rates = [resolution.payout(t) for t in resolved]
            paid = lock.qty * sum(rates, ZERO)
            s.cash += paid
            lock.paid += paid
            lock.cost -= paid
            lock.settled = (*lock.settled, *resolved)
            payees.add(lock.strategy)
            if _ONE in rates or len(lock.settled) == len(lock.token_ids):
                amount = -lock.cost  # everything paid less what the set cost
                self._realize(amount, resolution.ts_ns, lock.strategy)
                realized += amount
                del s.locked[lock_id]
        if tx_cost:
            s.cash -= tx_cost
            s.chain_costs += tx_cost
            self._realize(-tx_cost, resolution.ts_ns, min(payees, default=""))
            realized -= tx_cost
        s.resolution_ids.add(resolution.resolution_id)
        return Applied(duplicate=False, realized=realized)

    def _positions_of(self, token_id: str, strategy: str | None) -> Iterable[Position]:
        if strategy is not None:
            pos = self._s.positions.get((strategy, token_id))
            return () if pos is None else (pos,)
        return (p for p in self._s.positions.values() if p.token_id == token_id)

    def _remove(self, pos: Position, qty: Decimal) -> Decimal:
        """Take ``qty`` shares out of ``pos``; return the cost basis they carried."""
        if qty == pos.shares:
            removed = pos.cost
        else:
            removed = _CTX.divide(_CTX.multiply(pos.cost, qty), pos.shares).quantize(
                _COST_QUANTUM, context=_CTX
            )
        pos.shares -= qty
        pos.cost -= removed
        if not pos.shares:
            del self._s.positions[(pos.strategy, pos.token_id)]
        return removed

    def _realize(self, amount: Decimal, ts_ns: int, strategy: str) -> None:
        s = self._s
        s.realized += amount
        day = utc_day(ts_ns)
        s.daily[day] = s.daily.get(day, ZERO) + amount
        s.by_strategy[strategy] = s.by_strategy.get(strategy, ZERO) + amount

    # -------------------------------------------------------------------- rebuild & persist
    @classmethod
    def replay(
        cls,
        events: Iterable[LedgerEvent],
        starting_balance: Decimal = ZERO,
        *,
        reversed_fills: Collection[str] = (),
    ) -> Ledger:
        """Apply ``events`` in the given order (e.g. a journal) to a fresh ledger. Fills whose
        id is in ``reversed_fills`` (trades that failed on chain) are not applied, but their
        ids count as seen, so that booking them again is a duplicate."""
        ledger = cls(starting_balance)
        for event in events:
            if isinstance(event, Fill) and event.fill_id in reversed_fills:
                continue
            ledger.apply(event)
        ledger._s.fill_ids.update(reversed_fills)
        return ledger

    def reverse_fills(self, events: Iterable[LedgerEvent], fill_ids: Collection[str]) -> Decimal:
        """Undo fills that did not happen (a trade FAILED on chain), exactly: the state becomes
        what replaying ``events`` (every event applied so far, e.g. the journal, in order)
        without those fills gives, marks kept. Returns the change of realized P&L. Raises
        ``LedgerError`` (the ledger unchanged) when ``events`` lack an event the ledger has
        applied: the replay would lose it."""
        events = list(events)
        known = {event_id(e) for e in events} | set(fill_ids)
        missing = self.event_ids() - known
        if missing:
            raise LedgerError(
                f"cannot reverse {sorted(fill_ids)}: the history lacks {len(missing)} applied "
                f"event(s), e.g. {sorted(missing)[0]}"
            )
        rebuilt = Ledger.replay(events, self.starting_balance, reversed_fills=fill_ids)
        change = rebuilt._s.realized - self._s.realized
        rebuilt._s.marks = self._s.marks
        rebuilt._s.fill_ids.update(self._s.fill_ids)
        self._s = rebuilt._s
        return change

    @classmethod
    def recompute(
        cls,
        fills: Iterable[Fill],
        merges: Iterable[Merge] = (),
        resolutions: Iterable[Resolution] = (),
        starting_balance: Decimal = ZERO,
    ) -> Ledger:
        """Rebuild from separate event lists, in time order (fills, then merges, then
        resolutions at equal timestamps); equals incremental application in that order."""
        ordered: list[tuple[int, int, int, LedgerEvent]] = []
        groups: tuple[Iterable[LedgerEvent], ...] = (fills, merges, resolutions)
        for rank, events in enumerate(groups):
            ordered.extend((e.ts_ns, rank, i, e) for i, e in enumerate(events))
        ordered.sort(key=lambda item: item[:3])
        return cls.replay((item[3] for item in ordered), starting_balance)

    def snapshot(self) -> dict[str, Any]:
        """The whole state as plain JSON-able data (amounts as exact decimal strings)."""
        s = self._s
        return {
            "version": SNAPSHOT_VERSION,
            "starting_balance": str(self.starting_balance),
            "cash": str(s.cash),
            "realized": str(s.realized),
            "fees": str(s.fees),
            "chain_costs": str(s.chain_costs),
            "positions": [
                {
                    "token_id": p.token_id,
                    "strategy": p.strategy,
                    "market": p.market,
                    "shares": str(p.shares),
                    "cost": str(p.cost),
                }
                for p in sorted(s.positions.values(), key=lambda p: (p.strategy, p.token_id))
            ],
            "locked": [
                {
                    "lock_id": x.lock_id,
                    "market": x.market,
                    "token_ids": list(x.token_ids),
                    "strategy": x.strategy,
                    "qty": str(x.qty),
                    "cost": str(x.cost),
                    "paid": str(x.paid),
                    "settled": list(x.settled),
                }
                for x in sorted(s.locked.values(), key=lambda x: x.lock_id)
            ],
            "daily": {k: str(v) for k, v in sorted(s.daily.items())},
            "by_strategy": {k: str(v) for k, v in sorted(s.by_strategy.items())},
            "fees_by_strategy": {k: str(v) for k, v in sorted(s.fees_by_strategy.items())},
            "marks": {k: str(v) for k, v in sorted(s.marks.items())},
            "fill_ids": sorted(s.fill_ids),
            "merge_ids": sorted(s.merge_ids),
            "resolution_ids": sorted(s.resolution_ids),
        }

    @classmethod
    def restore(cls, data: Mapping[str, Any]) -> Ledger:
        """Rebuild a ledger from ``snapshot()`` data; raises ``LedgerError`` on bad data."""
        try:
            if data.get("version") != SNAPSHOT_VERSION:
                raise LedgerError(f"unsupported ledger snapshot version {data.get('version')!r}")
            ledger = cls(_dec(data["starting_balance"]))
            s = ledger._s
            s.cash = _dec(data["cash"])
            s.realized = _dec(data["realized"])
            s.fees = _dec(data["fees"])
            s.chain_costs = _dec(data.get("chain_costs", "0"))  # absent in older snapshots
            for p in data["positions"]:
                pos = Position(
                    str(p["token_id"]),
                    str(p["strategy"]),
                    str(p["market"]),
                    _dec(p["shares"]),
                    _dec(p["cost"]),
                )
                s.positions[(pos.strategy, pos.token_id)] = pos
            for x in data["locked"]:
                lock = LockedSet(
                    str(x["lock_id"]),
                    str(x["market"]),
                    tuple(str(t) for t in x["token_ids"]),
                    str(x["strategy"]),
                    _dec(x["qty"]),
                    _dec(x["cost"]),
                    _dec(x.get("paid", "0")),
                    tuple(str(t) for t in x.get("settled", ())),
                )
                s.locked[lock.lock_id] = lock
            s.daily = {str(k): _dec(v) for k, v in data["daily"].items()}
            s.by_strategy = {str(k): _dec(v) for k, v in data["by_strategy"].items()}
            s.fees_by_strategy = {str(k): _dec(v) for k, v in data["fees_by_strategy"].items()}
            s.marks = {str(k): _dec(v) for k, v in data["marks"].items()}
            s.fill_ids = {str(i) for i in data["fill_ids"]}
            s.merge_ids = {str(i) for i in data["merge_ids"]}
            s.resolution_ids = {str(i) for i in data["resolution_ids"]}
        except (KeyError, TypeError, AttributeError, ArithmeticError) as exc:
            raise LedgerError(f"invalid ledger snapshot: {exc!r}") from None
        return ledger
