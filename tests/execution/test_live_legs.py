"""Leg risk in live execution, against the simulator over real HTTP: a complete set whose legs
come back unevenly (the simulator kills one leg or fills it in part) is handled by the
configured policy with real signed orders; afterwards the ledger, the simulator's positions and
cash agree (reconciliation clean) and no trade is booked twice."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from tests.execution.test_live import Rig, _asks, _binary, rig

from polyarb.clob.errors import FOK_KILLED
from polyarb.domain.book import Side
from polyarb.domain.market import Market
from polyarb.domain.trading import Leg, OrderStatus, OrderType, Signal
from polyarb.execution.base import ExecutionReport, LegPolicy, LegRiskReport
from polyarb.execution.live.reconcile import reconcile

__all__ = ["rig"]  # the fixture, shared with test_live
D = Decimal
SIZE = D(10)
KILLED = D(0)


def _set(market: Market, rig: Rig, size: Decimal = SIZE) -> Signal:
    """BUY YES + NO of a binary market, each at its best ask (+ 2 ticks of room)."""
    legs = []
    for outcome in market.outcomes:
        best, depth = _asks(rig, outcome.token_id)[0]
        assert depth >= size  # the set would fill whole but for the simulator's fault
        legs.append(
            Leg(outcome.token_id, Side.BUY, size, best, best + D("0.02"), market.condition_id)
        )
    return Signal("sum_to_100", market.condition_id, 0, D("0.01"), size, tuple(legs))


async def _run(
    rig: Rig, policy: LegPolicy, *, kill: Decimal | None = KILLED, kind: OrderType = OrderType.FOK
) -> tuple[ExecutionReport, list[LegRiskReport], Market]:
    rig.live.config = replace(rig.live.config, leg_policy=policy)
    alerts: list[LegRiskReport] = []
    rig.live.on_alert = alerts.append
    market = _binary(rig)
    if kill is not None:  # the NO leg matches at most this much (0: killed)
        rig.sim.exchange.cap_next_fill(market.outcomes[1].token_id, kill)
    report = await rig.live.execute(_set(market, rig), order_type=kind)
    return report, alerts, market


async def _assert_agrees(rig: Rig, report: ExecutionReport) -> None:
    """Ledger == venue: positions, every trade booked once, cash moved alike (fees included)."""
    exchange = rig.sim.exchange
    ours = rig.live.rest.wallet.address
    trades = [t for t in exchange.trades.values() if t.maker_address == ours]
    fill_ids = [f.fill_id for f in report.fills]
    assert sorted(fill_ids) == sorted(t.id for t in trades)  # each trade once, nothing else
    assert all(rig.ledger.seen(t.id) for t in trades)
    for token in {t.asset_id for t in trades}:
        assert rig.ledger.shares(token) == exchange.position(ours, token)
    venue_spent = exchange.starting_balance - exchange.balance(ours)
    assert venue_spent == D(1000) - rig.ledger.cash  # the rig's ledger started with 1000
    assert rig.ledger.fees_paid == sum(t.fee for t in trades)
    result = await reconcile(rig.live)
    assert result.ok, result.problems
    assert not rig.live.unresolved


async def test_a_killed_leg_is_unwound_within_the_loss_cap(rig: Rig) -> None:
    report, alerts, market = await _run(rig, "unwind")
    yes, no = (o.token_id for o in market.outcomes)
    leg_yes, leg_no, *handling = report.orders
    assert leg_yes.status == OrderStatus.FILLED
    assert (leg_no.status, leg_no.reason) == (OrderStatus.CANCELED, FOK_KILLED)
    leg = report.leg_risk
    assert leg is not None
    assert alerts == [leg]
    assert (leg.policy, leg.actions) == ("unwind", ("unwind",))
    assert [(o.token_id, o.shares) for o in leg.detected] == [(yes, SIZE)]
    assert leg.resolved
    assert leg.remaining == ()
    assert 0 < leg.loss <= leg.max_loss
    (unwind,) = handling
    assert (unwind.token_id, unwind.side, unwind.order_type) == (yes, Side.SELL, OrderType.FAK)
    assert unwind.status == OrderStatus.FILLED
    assert unwind.client_id in leg.order_ids
    assert unwind.venue_id in rig.sim.exchange.orders  # a real signed order, matched
    assert report.outcome == "partial"
    assert rig.ledger.shares(yes) == rig.ledger.shares(no) == 0
    # the unwind's intent was committed before its request, like a leg's
    assert [v for v, _ in rig.intents.recorded][-1] == unwind.venue_id
    await _assert_agrees(rig, report)


async def test_a_killed_leg_is_completed_by_buying_it(rig: Rig) -> None:
    report, alerts, market = await _run(rig, "complete")
    yes, no = (o.token_id for o in market.outcomes)
    leg = report.leg_risk
    assert leg is not None
    assert alerts == [leg]
    assert (leg.actions, leg.resolved) == (("complete",), True)
    (completion,) = report.orders[2:]
    assert (completion.token_id, completion.side, completion.status) == (
        no,
        Side.BUY,
        OrderStatus.FILLED,
    )
    assert rig.ledger.shares(yes) == rig.ledger.shares(no) == SIZE  # a complete set
    await _assert_agrees(rig, report)


async def test_hold_keeps_the_orphan_and_reports_it(rig: Rig) -> None:
    report, alerts, market = await _run(rig, "hold")
    yes = market.outcomes[0].token_id
    leg = report.leg_risk
    assert leg is not None
    assert alerts == [leg]
    assert (leg.actions, leg.resolved) == (("hold",), False)
    assert [(o.token_id, o.shares) for o in leg.remaining] == [(yes, SIZE)]
    assert len(report.orders) == 2  # nothing was sent for it
    assert rig.ledger.shares(yes) == SIZE
    await _assert_agrees(rig, report)


async def test_a_part_filled_fak_leg_too_small_to_complete_is_unwound(rig: Rig) -> None:
    """The NO leg (FAK) fills 9.5 of 10: no order for the 0.5 missing meets the venue's rules
    (amount precision at the cap, the $1 minimum), so that completion is refused before it is
    signed, like any order; the orphan is sold."""
    report, alerts, market = await _run(rig, "complete", kill=D("9.5"), kind=OrderType.FAK)
    yes, no = (o.token_id for o in market.outcomes)
    leg_no = report.orders[1]
    assert leg_no.filled == D("9.5")
    leg = report.leg_risk
    assert leg is not None
    assert alerts == [leg]
    assert [(o.token_id, o.shares) for o in leg.detected] == [(yes, D("0.5"))]
    assert leg.actions == ("complete", "unwind")
    assert leg.resolved
    completion, unwind = report.orders[2:]
    assert completion.status == OrderStatus.FAILED
    assert completion.reason.startswith("not sent: ")
    assert completion.venue_id == ""  # never signed, never sent
    assert (unwind.side, unwind.size, unwind.status) == (Side.SELL, D("0.5"), OrderStatus.FILLED)
    assert rig.ledger.shares(yes) == rig.ledger.shares(no) == D("9.5")
    await _assert_agrees(rig, report)


async def test_a_whole_set_needs_no_leg_risk(rig: Rig) -> None:
    report, alerts, _ = await _run(rig, "unwind", kill=None)
    assert report.outcome == "filled"
    assert report.leg_risk is None
    assert alerts == []
    assert len(report.orders) == 2
    await _assert_agrees(rig, report)


@pytest.mark.parametrize("policy", ["unwind", "complete"])
async def test_an_unresolved_leg_leaves_the_set_to_reconciliation(
    rig: Rig, policy: LegPolicy
) -> None:
    """A leg whose answer is lost and whose lookups fail is not guessed at: no leg-risk order
    goes out until reconciliation knows what it did."""
    rig.sim.exchange.inject("500")  # the batch: not processed, the legs UNKNOWN
    rig.live.config = replace(rig.live.config, resolve_attempts=0)
    report, alerts, _ = await _run(rig, policy)
    assert report.leg_risk is None
    assert alerts == []
    assert "left to reconciliation" in report.reason
    assert len(report.orders) == 2
    assert rig.sim.exchange.requests == 1


@pytest.mark.parametrize("policy", ["unwind", "complete"])
async def test_a_negrisk_set_with_a_killed_leg(rig: Rig, policy: LegPolicy) -> None:
    """YES of every outcome of a negRisk event in one batch; the middle leg is killed: unwind
    sells the two orphans back, complete buys the missing YES (the negRisk exchange's domain)."""
    rig.live.config = replace(rig.live.config, leg_policy=policy, leg_max_loss=D(20))
    markets = [m for m in dict.fromkeys(rig.markets.values()) if m.neg_risk]
    legs = []
    for market in markets:
        token = market.outcomes[0].token_id
        best, _ = _asks(rig, token)[0]
        legs.append(Leg(token, Side.BUY, SIZE, best, best + D("0.02"), market.condition_id))
    killed = legs[1].token_id
    rig.sim.exchange.cap_next_fill(killed)
    report = await rig.live.execute(Signal("negrisk", "event", 0, D("0.01"), SIZE, tuple(legs)))
    leg = report.leg_risk
    assert leg is not None
    assert leg.resolved
    assert {o.token_id for o in leg.detected} == {legs[0].token_id, legs[2].token_id}
    handling = report.orders[len(legs) :]
    if policy == "unwind":
        assert {(o.token_id, o.side) for o in handling} == {
            (legs[0].token_id, Side.SELL),
            (legs[2].token_id, Side.SELL),
        }
        expected = D(0)
    else:
        assert [(o.token_id, o.side) for o in handling] == [(killed, Side.BUY)]
        expected = SIZE
    assert all(o.status == OrderStatus.FILLED for o in handling)
    for item in legs:
        assert rig.ledger.shares(item.token_id) == expected
    await _assert_agrees(rig, report)


async def test_an_orphan_below_the_venue_size_step_is_held_and_reported(rig: Rig) -> None:
    """The NO leg (FAK) matches 9.995 shares: the 0.005 YES orphan is under the venue's
    0.01-share size step, so no order can sell it: it is held, reported and alerted."""
    report, alerts, market = await _run(rig, "unwind", kill=D("9.995"), kind=OrderType.FAK)
    yes = market.outcomes[0].token_id
    leg = report.leg_risk
    assert leg is not None
    assert alerts == [leg]
    assert not leg.resolved
    assert [(o.token_id, o.shares) for o in leg.remaining] == [(yes, D("0.005"))]
    assert "no unwind possible" in leg.detail
    assert len(report.orders) == 2  # nothing was sent for it
    assert rig.ledger.shares(yes) - rig.ledger.shares(market.outcomes[1].token_id) == D("0.005")
    await _assert_agrees(rig, report)
