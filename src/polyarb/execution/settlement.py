"""Settlement of live trades: each trade's status, its fills booked once, reversed if it FAILS.

Every sighting of a trade (the user channel, ``GET /data/trades``, a restart reading the
journal) goes through ``SettlementTracker.observe`` with the trade id, the status seen and our
fills in it. The pure state machine (``domain.settlement``) decides; this module does it,
journal first:

- the first sighting books the fills (journal, then ledger; a fill the ledger has already seen
  is not booked again: the trade id is the fill id) and tells the risk gate;
- every status change is a journal line (``settlement``): the status survives restarts;
- FAILED after booking reverses the fills exactly (``Ledger.reverse_fills``: the ledger
  becomes what the journal without them gives), then ``on_failure`` gets a ``TradeFailure``
  (the engine: risk positions from the ledger, an error event and an alert). The journal must
  hold every event the ledger applied (one journal per ledger); if it does not, nothing is
  reversed and the failure says so (``reversed=False``): the engine must halt.

Restart: ``SettlementTracker.restore`` reads the journal's settlement lines, so a trade seen
again (on the channel, in REST) is neither booked twice nor forgotten if it fails later.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import structlog

from polyarb.domain.clock import Clock, WallClock
from polyarb.domain.ledger import Ledger, LedgerError, LedgerEvent
from polyarb.domain.settlement import Settlement, step
from polyarb.domain.trading import Fill
from polyarb.execution.base import RiskGate
from polyarb.execution.journal import (
    Journal,
    JournalContents,
    SettlementRecord,
    journal_then_apply,
    read_journal,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class TradeFailure:
    """A trade that FAILED on chain after its fills were booked, and what reversing them did."""

    trade_id: str
    fills: tuple[Fill, ...]
    realized_change: Decimal  # realized P&L after the reversal minus before
    positions: dict[str, tuple[Decimal, Decimal]]  # token -> (shares, cost) after it
    reason: str
    ts_ns: int
    reversed: bool = True  # False: the ledger could not be rebuilt (``problem``): halt
    problem: str = ""

    @property
    def fills_text(self) -> str:
        """``SIDE size @ price`` of each fill, comma-separated."""
        return ", ".join(f"{f.side.value} {f.size} @ {f.price}" for f in self.fills)

    @property
    def message(self) -> str:
        sizes = self.fills_text
        head = f"trade {self.trade_id} FAILED on chain; fills"
        if not self.reversed:
            return f"{head} NOT reversed ({sizes}): {self.problem}"
        return f"{head} reversed ({sizes})"


FailureCallback = Callable[[TradeFailure], None]


@dataclass(slots=True)
class TradeState:
    status: Settlement
    fills: tuple[Fill, ...]  # our fills in it, as booked (empty: nothing booked)
    signal_id: str = ""


class SettlementTracker:
    """Trade id -> settlement status and fills; see the module docstring."""

    def __init__(
        self,
        ledger: Ledger,
        journal: Journal | None,
        *,
        risk: RiskGate | None = None,
        on_failure: FailureCallback | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.ledger = ledger
        self.journal = journal
        self.risk = risk
        self.on_failure = on_failure
        self.clock: Clock = clock or WallClock()
        self.trades: dict[str, TradeState] = {}
        self.failures: list[TradeFailure] = []
        # every status change, after the journal has it (the engine: the store's
        # ``trade_settlements`` rows, ``TradeSettlementRecord``)
        self.on_status: Callable[[SettlementRecord], None] | None = None
        self._history: list[LedgerEvent] = []  # what we booked, when there is no journal
        self.reversed_ids: set[str] = set()  # fills of FAILED trades, reversed

    def restore(self, contents: JournalContents) -> None:
        """Take the settlement statuses of a journal (a restart).

        A trade not FAILED whose fills the ledger lacks is left out: booked means in the
        ledger, and a ledger rebuilt from elsewhere (live: the database) can be behind the
        journal (a crash after the journal took a fill, before the database did). Its next
        sighting is then a first one and books it (once: the ledger dedupes by fill id)."""
        fills = {f.fill_id: f for f in (*contents.fills, *contents.reversed_fills)}
        self.reversed_ids.update(f.fill_id for f in contents.reversed_fills)
        for record in contents.settlements.values():
            status = Settlement(record.status)
            if status != Settlement.FAILED and not all(map(self.ledger.seen, record.fill_ids)):
                log.warning("journaled trade not in the ledger: booked again when seen",
                            trade_id=record.trade_id)  # fmt: skip
                continue
            booked = tuple(fills[i] for i in record.fill_ids if i in fills)
            self.trades[record.trade_id] = TradeState(status, booked)

    def status(self, trade_id: str) -> Settlement | None:
        state = self.trades.get(trade_id)
        return None if state is None else state.status

    def pending(self) -> list[str]:
        """Trades not yet final (CONFIRMED or FAILED)."""
        return [t for t, s in self.trades.items() if not s.status.is_final]

    def observe(
        self,
        trade_id: str,
        status: Settlement,
        fills: Sequence[Fill],
        *,
        signal_id: str = "",
        reason: str = "",
    ) -> list[Fill]:
        """One sighting of a trade; returns the fills newly booked by it."""
        state = self.trades.get(trade_id)
        booked = state is not None and bool(state.fills)
        result = step(None if state is None else state.status, status, booked=booked)
        if result.action == "ignore" or result.state is None:
            return []
        now = self.clock.now_ns()
        new: list[Fill] = []
        if result.action == "book":
            new = [f for f in fills if not self.ledger.seen(f.fill_id)]
            if new:
                journal_then_apply(self.journal, self.ledger, new)
                if self.journal is None:
                    self._history.extend(new)
            state = TradeState(result.state, tuple(fills), signal_id)
            self.trades[trade_id] = state
        elif state is None:  # first seen FAILED: nothing was booked, nothing to reverse
            state = self.trades[trade_id] = TradeState(result.state, (), signal_id)
        else:
            state.status = result.state
        self._journal(SettlementRecord(trade_id, result.state.value, _ids(state), now, reason))
        if new and self.risk is not None:
            self.risk.on_fills(state.signal_id or signal_id, new)
        if result.action == "reverse":
            self._reverse(trade_id, state, reason, now)
        log.info("trade settlement", trade_id=trade_id, status=result.state.value)
        return new

    def _journal(self, record: SettlementRecord) -> None:
        if self.journal is not None:
            self.journal.append_settlement(record)
        if self.on_status is not None:
            try:
                self.on_status(record)
            except Exception:
                log.exception("settlement status callback failed", trade_id=record.trade_id)

    def _reverse(self, trade_id: str, state: TradeState, reason: str, now: int) -> None:
        if self.journal is not None:
            history = read_journal(self.journal.path).events  # the FAILED fills already left out
        else:
            history = self._history
        fill_ids = {f.fill_id for f in state.fills} | self.reversed_ids
        problem = ""
        change = Decimal(0)
        try:
            change = self.ledger.reverse_fills(history, fill_ids)
            self.reversed_ids.update(fill_ids)
        except LedgerError as exc:  # fail closed: the ledger is left as it was
            problem = str(exc)
        tokens = dict.fromkeys(f.token_id for f in state.fills)
        positions = {t: (self.ledger.shares(t), self.ledger.cost_basis(t)) for t in tokens}
        failure = TradeFailure(
            trade_id, state.fills, change, positions, reason, now, not problem, problem
        )
        self.failures.append(failure)
        if problem:
            log.critical(
                "trade failed on chain; fills NOT reversed", trade_id=trade_id, problem=problem
            )
        else:
            log.error("trade failed on chain; fills reversed", trade_id=trade_id, reason=reason)
        if self.on_failure is not None:
            try:
                self.on_failure(failure)
            except Exception:
                log.exception("trade failure callback failed", trade_id=trade_id)


def _ids(state: TradeState) -> tuple[str, ...]:
    return tuple(f.fill_id for f in state.fills)


def open_tracker(
    ledger: Ledger,
    journal: Journal | None,
    *,
    risk: RiskGate | None = None,
    on_failure: FailureCallback | None = None,
    clock: Clock | None = None,
) -> SettlementTracker:
    """A tracker with the statuses of ``journal``'s file (empty when there is none)."""
    tracker = SettlementTracker(ledger, journal, risk=risk, on_failure=on_failure, clock=clock)
    if journal is not None and Path(journal.path).exists():
        tracker.restore(read_journal(journal.path))
    return tracker
