"""An oracle for the books: positions, locked sets and daily P&L recomputed from the raw journal.

It shares no code with ``polyarb.domain.ledger`` or ``polyarb.store``: it reads the journal's
JSON lines with the stdlib and does the accounting in exact fractions, from the rules as the
docs state them: a BUY adds its notional plus fee to the cost basis; shares leave a position
(SELL, merge, lock) with the pro-rata share of its cost, rounded half-even to 1e-10 (all of it
when the position empties); a SELL realizes notional - fee - that cost; a merge realizes
qty x (number of tokens - 1) - cost (1 a set for a binary merge, n - 1 for a negRisk conversion
of n NO tokens); a lock holds the cost until the event resolves; a merge's or lock's on-chain
``tx_cost`` (absent = 0) is part of that cost; a resolution pays $1 a winning share. Daily rows
are cumulative (since the first event) as of the last event of each UTC day, for the whole ledger
("") and for every strategy that has filled or realized by then.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

QUANTUM = 10**10  # cost removed pro rata is rounded to 1e-10


def _q(value: Any) -> Fraction:
    return Fraction(Decimal(str(value)))


def _day(ts_ns: int) -> date:
    return datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=UTC).date()


@dataclass
class Books:
    positions: dict[tuple[str, str], list[Fraction]] = field(default_factory=dict)  # shares, cost
    markets: dict[tuple[str, str], str] = field(default_factory=dict)
    locked: dict[str, tuple[str, tuple[str, ...], Fraction, Fraction]] = field(default_factory=dict)
    realized: dict[str, Fraction] = field(default_factory=dict)
    fees: dict[str, Fraction] = field(default_factory=dict)
    daily: dict[tuple[date, str], tuple[Fraction, Fraction]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def _take(self, key: tuple[str, str], qty: Fraction) -> Fraction:
        shares, cost = self.positions[key]
        assert shares >= qty, f"{key} holds {shares}, {qty} taken"
        removed = cost if qty == shares else Fraction(round(cost * qty / shares * QUANTUM), QUANTUM)
        if qty == shares:
            del self.positions[key]
        else:
            self.positions[key] = [shares - qty, cost - removed]
        return removed

    def _realize(self, strategy: str, amount: Fraction) -> None:
        self.realized[strategy] = self.realized.get(strategy, Fraction(0)) + amount

    def apply(self, event: dict[str, Any]) -> None:
        event_id = event.get("fill_id") or event.get("merge_id") or event.get("resolution_id")
        assert event_id, event
        if event_id in self.seen:
            return
        self.seen.add(event_id)
        kind = event["kind"]
        if kind == "fill":
            self._fill(event)
        elif kind == "merge":
            self._merge(event)
        else:
            self._resolution(event)
        day = _day(int(event["ts_ns"]))
        total_realized = sum(self.realized.values(), Fraction(0))
        total_fees = sum(self.fees.values(), Fraction(0))
        self.daily[(day, "")] = (total_realized, total_fees)
        for strategy in self.realized.keys() | self.fees.keys():
            self.daily[(day, strategy)] = (
                self.realized.get(strategy, Fraction(0)),
                self.fees.get(strategy, Fraction(0)),
            )

    def _fill(self, event: dict[str, Any]) -> None:
        strategy, key = event["strategy"], (event["strategy"], event["token_id"])
        price, size, fee = _q(event["price"]), _q(event["size"]), _q(event["fee"])
        self.fees[strategy] = self.fees.get(strategy, Fraction(0)) + fee
        if event["side"] == "BUY":
            shares, cost = self.positions.get(key, [Fraction(0), Fraction(0)])
            self.positions[key] = [shares + size, cost + price * size + fee]
            self.markets.setdefault(key, event["market"])
        else:
            self._realize(strategy, price * size - fee - self._take(key, size))

    def _merge(self, event: dict[str, Any]) -> None:
        strategy, qty = event["strategy"], _q(event["qty"])
        cost = sum((self._take((strategy, t), qty) for t in event["token_ids"]), Fraction(0))
        cost += _q(event.get("tx_cost", "0"))
        if event["locked"]:
            self.locked[event["merge_id"]] = (strategy, tuple(event["token_ids"]), qty, cost)
        else:
            self._realize(strategy, qty * (len(event["token_ids"]) - 1) - cost)

    def _resolution(self, event: dict[str, Any]) -> None:
        winner, tokens = event["winning_token_id"], {*event["token_ids"], event["winning_token_id"]}
        for key in list(self.positions):
            if key[1] in tokens or self.markets.get(key) == event["market"]:
                shares, cost = self.positions.pop(key)
                self._realize(key[0], (shares if key[1] == winner else Fraction(0)) - cost)
        for lock_id, (strategy, lock_tokens, qty, cost) in list(self.locked.items()):
            if winner in lock_tokens:
                self._realize(strategy, qty - cost)
                del self.locked[lock_id]


def books_from_journal(path: Path) -> Books:
    """Replay the journal's complete lines (a torn last line is not an event) in file order."""
    books = Books()
    lines = path.read_bytes().splitlines() if path.exists() else []
    for n, line in enumerate(lines):
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            assert n == len(lines) - 1, f"line {n + 1} of {path} is not JSON"
            continue
        books.apply(event)
    return books


def events_in_journal(path: Path) -> dict[str, dict[str, Any]]:
    """The journal's events by id, as raw JSON objects."""
    out: dict[str, dict[str, Any]] = {}
    for line in path.read_bytes().splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        out[event.get("fill_id") or event.get("merge_id") or event["resolution_id"]] = event
    return out
