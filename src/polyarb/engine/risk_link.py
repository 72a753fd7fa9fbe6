"""How the engine's risk manager sees execution and the ledger.

``EngineRiskGate`` is the ``RiskGate`` the paper executor asks about the orders it decides on
its own (leg completion and unwinds are checked as reducing orders) and tells about every fill
as it happens. ``risk_holding`` is what risk counts as held for a token when it is (re)loaded
from the ledger: open positions plus the shares of locked negRisk sets, which are still held on
the venue until their event resolves.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from decimal import Decimal

import structlog

from polyarb.domain.clock import Clock
from polyarb.domain.ledger import Ledger
from polyarb.domain.trading import Fill, Signal
from polyarb.risk.manager import RiskManager

log = structlog.get_logger(__name__)

_COST_QUANTUM = Decimal("1e-10")  # the ledger's cost unit


class EngineRiskGate:
    """The engine's ``RiskGate`` (see ``execution.base``)."""

    def __init__(self, risk: RiskManager, clock: Clock) -> None:
        self.risk = risk
        self.clock = clock

    def halted(self) -> str | None:
        gate = self.risk.kill_switch
        return None if gate is None else gate.reason

    def approve(self, signal: Signal, completing: Collection[str]) -> str | None:
        now = self.clock.now_ns()
        denial = self.risk.check(signal, now, completing=completing)
        if denial is not None:
            log.warning(
                "leg-risk order denied",
                signal_id=signal.signal_id,
                kind=signal.kind,
                reason=denial.reason,
                detail=denial.detail,
            )
            return f"risk denied ({denial.reason}): {denial.detail}"
        self.risk.on_submit(signal, now)
        return None

    def on_fills(self, signal_id: str, fills: Sequence[Fill]) -> None:
        for fill in fills:
            self.risk.on_fill(fill, signal_id)

    def on_done(self, signal: Signal) -> None:
        self.risk.on_done(signal)


def risk_holding(ledger: Ledger, token_id: str) -> tuple[Decimal, Decimal]:
    """(shares, cost) risk holds of ``token_id``: open positions plus locked sets.

    A locked set's cost still at stake is split evenly over its tokens not yet resolved (the
    last takes the remainder, so the parts add up to it exactly); a token whose market already
    resolved (and paid) is no longer held, and a set already paid more than it cost counts 0.
    """
    shares = ledger.shares(token_id)
    cost = ledger.cost_basis(token_id)
    for lock in ledger.locked_sets():
        if token_id not in lock.token_ids or token_id in lock.settled:
            continue
        open_tokens = [t for t in lock.token_ids if t not in lock.settled]
        n = len(open_tokens)
        at_stake = max(lock.cost, Decimal(0))
        part = (at_stake / n).quantize(_COST_QUANTUM)
        last = open_tokens.index(token_id) == n - 1
        shares += lock.qty
        cost += at_stake - part * (n - 1) if last else part
    return shares, cost


def sync_risk_positions(risk: RiskManager, ledger: Ledger, token_ids: Collection[str]) -> None:
    """Replace risk's positions of ``token_ids`` by what the ledger holds (locked sets too)."""
    for token_id in token_ids:
        shares, cost = risk_holding(ledger, token_id)
        risk.set_position(token_id, shares, cost)
