"""Reconciliation: what the venue says we did, against what the journal, ledger and store say.

One pass (``reconcile``):

1. orders left in flight (recorded, perhaps sent) are settled, never resent: from our trades
   at the venue when it has some of theirs (``LiveExecution.book_trades``: the venue's order
   lookup knows active orders only), else looked up by their ids
   (``LiveExecution.resolve_in_flight``); their fills are booked unless already booked;
2. open orders at the venue (``GET /data/orders``): the executor places FOK/FAK orders
   only, which never rest, so any open order of ours there is one we do not know;
3. every trade of our API key at the venue (``GET /data/trades``, all pages) must be a fill
   the ledger knows (the trade id is the fill id): a trade it does not know is a fill we lost
   or an order we did not place (an orphan);
4. the venue's shares of every token we hold or traded (``GET /balance-allowance``,
   CONDITIONAL) must equal the ledger's; the collateral balance (pUSD) is read, and given an
   earlier pass (``cash_since``: the start's), its move must equal the ledger cash's move
   since then within ``CASH_TOLERANCE``, else it is a mismatch like a position's: the ledger
   books each taker fee as the venue charges it (``execution/live/trades.py``), so a
   difference is a fee, a fill or a payout that one side has and the other has not (or a
   deposit or withdrawal, which the operator checks). At start the engine compares the same
   way against the difference recorded at the first live start (``engine/live.py``).

"Not found" and "equal" count only after successful queries: a query that fails is itself a
problem, so a pass that could not ask the venue never passes. Start-up runs a pass before
trading and stays halted on any problem; the engine repeats it on a timer
(``engine/live.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from polyarb.domain.trading import Fill, Order
from polyarb.execution.live.client import LiveExecution
from polyarb.execution.live.venue import VenueBusy, VenueUnknown

UNITS = Decimal(1_000_000)  # the venue's balances are in 1e-6 units
# The venue's balance is a whole number of 1e-6 pUSD units, and each trade moves it by the
# notional and the fee (5 decimals) in those units, so venue and ledger agree to the unit; a
# tolerance of 1e-5 (the venue's smallest fee) absorbs the truncation of a fill's notional
# finer than a unit, and still catches any fee wrongly charged or booked on one fill.
CASH_TOLERANCE = Decimal("0.00001")
END_CURSOR = "LTE="  # the venue's "no more pages"
MAX_PAGES = 200


class QueryFailed(Exception):
    """A venue query did not answer usefully: nothing may be concluded from it."""


@dataclass(slots=True)
class Reconciliation:
    problems: list[str] = field(default_factory=list)
    booked: list[Fill] = field(default_factory=list)  # fills found and booked by this pass
    resolved: list[Order] = field(default_factory=list)  # in-flight orders settled
    trades: int = 0  # our trades at the venue
    positions: int = 0  # tokens compared
    cash: Decimal | None = None  # the funder's pUSD at the venue
    # The ledger's pUSD when the venue's was read: its cash before on-chain costs, which the
    # wallet pays in POL (a merge's gas is booked as USD cost but never leaves the pUSD balance).
    ledger_cash: Decimal = Decimal(0)

    def check_cash(self, offset: Decimal, what: str) -> None:
        """A mismatch when venue cash - ledger cash moved beyond the tolerance from
        ``offset`` (that difference at ``what``)."""
        if self.cash is None:
            return
        drift = (self.cash - self.ledger_cash) - offset
        if abs(drift) > CASH_TOLERANCE:
            self.problems.append(
                f"cash: the venue's {self.cash} pUSD moved {drift:+} from the ledger's "
                f"{self.ledger_cash} since {what} (fees, fills or payouts disagree, or a "
                "deposit/withdrawal)"
            )

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        head = (
            f"{self.trades} venue trades, {self.positions} positions compared, "
            f"{len(self.resolved)} in-flight orders settled, {len(self.booked)} fills booked"
        )
        if self.cash is not None:
            head += f", venue cash {self.cash} pUSD"
        if self.ok:
            return f"reconciled: {head}"
        return (
            f"reconciliation MISMATCH ({head}): "
            + "; ".join(self.problems[:5])
            + (f" (+{len(self.problems) - 5} more)" if len(self.problems) > 5 else "")
        )


async def _get(live: LiveExecution, path: str) -> Any:
    try:
        answer = await live.rest.l2("GET", path)
    except (VenueBusy, VenueUnknown) as exc:
        raise QueryFailed(f"GET {path.split('?', 1)[0]}: {exc}") from None
    if answer.status != 200:
        raise QueryFailed(f"GET {path.split('?', 1)[0]}: HTTP {answer.status} {answer.body}")
    return answer.body


async def _pages(
    live: LiveExecution, path: str, params: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Every item of a paginated listing (``/data/trades``, ``/data/orders``)."""
    items: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(MAX_PAGES):
        asked = {**(params or {}), **({"next_cursor": cursor} if cursor else {})}
        query = f"?{urlencode(asked)}" if asked else ""
        body = await _get(live, f"{path}{query}")
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise QueryFailed(f"GET {path}: unreadable answer {str(body)[:100]}")
        items += [t for t in body["data"] if isinstance(t, dict)]
        cursor = str(body.get("next_cursor") or END_CURSOR)
        if cursor == END_CURSOR:
            return items
    raise QueryFailed(f"GET {path}: more than {MAX_PAGES} pages")


async def venue_trades(live: LiveExecution, after_s: int | None = None) -> list[dict[str, Any]]:
    """Every trade of our API key (since ``after_s``, unix seconds, when given), all pages."""
    return await _pages(live, "/data/trades", {"after": str(after_s)} if after_s else None)


async def _balance(live: LiveExecution, **query: str) -> Decimal:
    params = {"signature_type": str(int(live.config.signature_type)), **query}
    if live.config.funder:
        params["maker"] = live.config.funder
    body = await _get(live, f"/balance-allowance?{urlencode(params)}")
    try:
        return Decimal(str(body["balance"])) / UNITS
    except (KeyError, TypeError, ArithmeticError):
        raise QueryFailed(f"GET /balance-allowance: unreadable answer {str(body)[:100]}") from None


async def reconcile(
    live: LiveExecution,
    in_flight: Iterable[Order] = (),
    *,
    trades_after_s: int | None = None,
    cash_since: Reconciliation | None = None,
) -> Reconciliation:
    """One pass (module docstring); ``in_flight``: the orders a previous run left open;
    ``trades_after_s``: compare only the trades since then (the passes after the start's,
    which compared every one; positions still cover all of them); ``cash_since``: the pass
    the cash's move is compared from."""
    result = Reconciliation()
    orders = [o for o in in_flight if not o.status.is_terminal]
    orders += [o for o in live.unresolved.values() if o not in orders]
    ledger = live.ledger
    try:
        trades: list[dict[str, Any]] | None = await venue_trades(live, trades_after_s)
    except QueryFailed as exc:
        trades = None
        result.problems.append(f"venue query failed, nothing concluded: {exc}")
    if orders:
        # An order with trades at the venue was placed: booked from them (the venue's order
        # lookup knows active orders only). The others are looked up by id.
        by_order: dict[str, list[str]] = {}
        for trade in trades or []:
            by_order.setdefault(str(trade.get("taker_order_id", "")), []).append(
                str(trade.get("id", ""))
            )
        for order in orders:
            if order.venue_id and order.venue_id in by_order:
                result.booked += await live.book_trades(order, by_order[order.venue_id])
        rest = [o for o in orders if not o.status.is_terminal]
        result.booked += await live.resolve_in_flight(rest)
        result.resolved = [o for o in orders if o.status.is_terminal]
        for order in result.resolved:
            live.unresolved.pop(order.client_id, None)
    for order in live.unresolved.values():
        result.problems.append(f"order {order.client_id} still unresolved: {order.reason}")
    if trades is None:
        return result
    try:
        # FOK/FAK orders never rest: an open order of ours at the venue is one we do not know
        for item in await _pages(live, "/data/orders"):
            result.problems.append(
                f"the venue holds open order {str(item.get('id'))[:18]}… ({item.get('side')} "
                f"{item.get('original_size')} of {str(item.get('asset_id'))[:16]}… at "
                f"{item.get('price')}) that we did not leave open"
            )
        result.trades = len(trades)
        tokens = {p.token_id for p in ledger.positions()}
        for trade in trades:
            if str(trade.get("status", "")).endswith("FAILED"):
                continue
            tokens.add(str(trade.get("asset_id", "")))
            trade_id = str(trade.get("id", ""))
            if not ledger.seen(trade_id):
                result.problems.append(
                    f"the venue holds trade {trade_id} ({trade.get('side')} {trade.get('size')} "
                    f"of {str(trade.get('asset_id'))[:16]}… at {trade.get('price')}, order "
                    f"{str(trade.get('taker_order_id'))[:18]}…) that the ledger does not know"
                )
        for token in sorted(t for t in tokens if t):
            venue = await _balance(live, asset_type="CONDITIONAL", token_id=token)
            ours = ledger.shares(token)
            result.positions += 1
            if venue != ours:
                result.problems.append(
                    f"position of {token[:16]}…: venue {venue} shares, ledger {ours}"
                )
        result.cash = await _balance(live, asset_type="COLLATERAL")
        result.ledger_cash = ledger.cash + ledger.chain_costs
        if cash_since is not None and cash_since.cash is not None:
            result.check_cash(cash_since.cash - cash_since.ledger_cash, "the start")
    except QueryFailed as exc:
        result.problems.append(f"venue query failed, nothing concluded: {exc}")
    return result
