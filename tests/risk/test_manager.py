from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from polyarb.config import Settings
from polyarb.domain.book import Side
from polyarb.domain.trading import Fill, Leg, Mode, Signal
from polyarb.risk import Denial, RiskLimits, RiskManager, TradingState, utc_day

SECOND = 1_000_000_000
# 2026-05-02 23:59:00 UTC
NOW = int(datetime(2026, 5, 2, 23, 59, tzinfo=UTC).timestamp()) * SECOND

_ids = iter(range(1, 1_000_000))


def sig(*legs: tuple[str, Side, str, str], fees: str = "0") -> Signal:
    """legs: (token, side, size, limit price)."""
    return Signal(
        strategy="test",
        market="m",
        ts_recv_ns=NOW,
        edge=Decimal("0.01"),
        size=Decimal(legs[0][2]),
        legs=tuple(
            Leg(token, side, Decimal(size), Decimal(price), Decimal(price))
            for token, side, size, price in legs
        ),
        fees=Decimal(fees),
        signal_id=f"sig-{next(_ids)}",
    )


def buy(token: str = "t1", size: str = "10", price: str = "0.5", fees: str = "0") -> Signal:
    return sig((token, Side.BUY, size, price), fees=fees)


def fill(token: str, side: Side, size: str, price: str, fee: str = "0") -> Fill:
    return Fill(
        fill_id=f"f-{next(_ids)}",
        client_order_id="c",
        token_id=token,
        market="m",
        side=side,
        price=Decimal(price),
        size=Decimal(size),
        fee=Decimal(fee),
        ts_ns=NOW,
        strategy="test",
        mode=Mode.PAPER,
    )


def manager(**limits: object) -> RiskManager:
    return RiskManager(RiskLimits(**limits), now_ns=NOW)  # type: ignore[arg-type]


def approve(risk: RiskManager, signal: Signal, now: int = NOW) -> None:
    assert risk.check(signal, now) is None
    risk.on_submit(signal, now)


def test_limits_from_settings() -> None:
    settings = Settings(_env_file=None, risk_max_position=Decimal(7), risk_max_orders_per_minute=3)  # type: ignore[call-arg]
    limits = RiskLimits.from_settings(settings)
    assert limits.max_position == Decimal(7)
    assert limits.max_orders_per_minute == 3
    assert limits.max_notional == Decimal(500)
    with pytest.raises(ValueError, match="RISK_MAX_EXPOSURE"):
        RiskLimits(max_exposure=Decimal(0))


def test_notional_limit_counts_limit_prices_and_fees() -> None:
    risk = manager(max_notional=Decimal(50))
    assert risk.check(buy(size="99", price="0.5"), NOW) is None  # 49.5
    denial = risk.check(buy(size="99", price="0.5", fees="0.6"), NOW)  # 50.1
    assert denial is not None
    assert denial.reason == "notional_limit"
    assert risk.denials == {"notional_limit": 1}
    assert risk.approvals == 1


def test_position_limit_counts_held_and_in_flight() -> None:
    risk = manager(max_position=Decimal(100))
    risk.on_fill(fill("t1", Side.BUY, "60", "0.5"))
    first = buy(size="30")
    approve(risk, first)  # 60 held + 30 in flight
    denial = risk.check(buy(size="11"), NOW)
    assert denial == Denial("position_limit", "t1: 101 shares > 100")
    risk.on_fill(fill("t1", Side.BUY, "30", "0.5"))  # in flight becomes held: still 90
    assert risk.check(buy(size="11"), NOW) is not None
    risk.on_done(first)
    assert risk.check(buy(size="10"), NOW) is None
    assert risk.check(buy("t2", size="100"), NOW) is None  # per token


def test_sells_need_inventory() -> None:
    risk = manager()
    sell = sig(("t1", Side.SELL, "5", "0.5"))
    assert risk.check(sell, NOW) == Denial("insufficient_position", "sell 5 of t1, 0 free")
    risk.on_fill(fill("t1", Side.BUY, "5", "0.4"))
    approve(risk, sell)
    assert risk.check(sig(("t1", Side.SELL, "1", "0.5")), NOW) is not None  # 5 already selling


def test_exposure_includes_in_flight_orders() -> None:
    risk = manager(max_exposure=Decimal(100), max_notional=Decimal(100))
    risk.on_fill(fill("t1", Side.BUY, "100", "0.4", fee="1"))  # $41 at cost
    assert risk.exposure() == Decimal(41)
    pending = buy("t2", size="80", price="0.5", fees="2")  # up to $42
    approve(risk, pending)
    assert risk.exposure() == Decimal(83)
    denial = risk.check(buy("t3", size="40", price="0.5"), NOW)  # $20 more
    assert denial is not None
    assert denial.reason == "exposure_limit"
    risk.on_fill(fill("t2", Side.BUY, "80", "0.45", fee="1.5"))  # filled below its limit
    risk.on_done(pending)
    assert risk.exposure() == Decimal(41) + Decimal("37.5")
    assert risk.check(buy("t3", size="40", price="0.5"), NOW) is None
    # Selling reduces the cost basis proportionally.
    risk.on_fill(fill("t1", Side.SELL, "50", "0.6"))
    assert risk.exposure() == Decimal("20.5") + Decimal("37.5")


def test_order_rate_limit_is_a_sliding_minute() -> None:
    risk = manager(max_orders_per_minute=4)
    two_legs = sig(("a", Side.BUY, "5", "0.4"), ("b", Side.BUY, "5", "0.5"))
    approve(risk, two_legs, NOW)
    approve(risk, buy("c"), NOW + 30 * SECOND)
    denial = risk.check(
        sig(("d", Side.BUY, "5", "0.4"), ("e", Side.BUY, "5", "0.5")), NOW + 59 * SECOND
    )
    assert denial is not None
    assert denial.reason == "rate_limit"
    assert risk.check(buy("d"), NOW + 59 * SECOND) is None  # 3 + 1 fits
    # At NOW + 60 s the first two orders leave the window.
    later = sig(("d", Side.BUY, "5", "0.4"), ("e", Side.BUY, "5", "0.5"))
    assert risk.check(later, NOW + 60 * SECOND) is None


def test_daily_loss_moves_to_reducing_and_stays_across_the_day_boundary() -> None:
    """Reaching the loss limit stops new risk but not the orders that reduce it (an unwind, a
    sell of held shares): halting those too would leave the loss open. Only the kill switch
    halts."""
    risk = manager(max_daily_loss=Decimal(100))
    risk.on_fill(fill("held", Side.BUY, "10", "0.5"))
    risk.update_pnl(Decimal(0), Decimal(0), NOW)
    risk.update_pnl(Decimal(-60), Decimal(-39), NOW + SECOND)  # realized + marked: -99
    assert risk.state is TradingState.ACTIVE
    risk.update_pnl(Decimal(-60), Decimal(-40), NOW + 2 * SECOND)  # -100 today
    assert risk.state is TradingState.REDUCING
    assert [e.kind for e in risk.drain_events()] == ["loss_limit"]
    denial = risk.check(buy(), NOW + 3 * SECOND)
    assert denial is not None
    assert denial.reason == "reducing"
    assert risk.check(sig(("held", Side.SELL, "10", "0.4")), NOW + 3 * SECOND) is None
    # Midnight UTC: the day's figure restarts at 0 (the ledger's realized-today resets and the
    # marks carried over are the new baseline); the gate does not lift by itself (K1).
    midnight = NOW + 60 * SECOND
    assert utc_day(midnight).isoformat() == "2026-05-03"
    risk.update_pnl(Decimal(0), Decimal(-40), midnight)
    assert risk.daily_pnl == 0
    risk.update_pnl(Decimal(0), Decimal(-55), midnight + SECOND)
    assert risk.daily_pnl == Decimal(-15)  # only today's change of the marks
    assert risk.state is TradingState.REDUCING
    assert [g.name for g in risk.gates(midnight)] == ["loss_limit"]
    gates = risk.clear("alice", midnight)
    assert gates == []
    assert risk.state is TradingState.ACTIVE
    assert risk.check(buy(), midnight) is None
    assert [e.kind for e in risk.drain_events()] == ["day_rollover", "loss_limit_cleared"]


def test_a_loss_limit_gate_survives_a_restart_also_from_the_old_snapshot_name() -> None:
    risk = manager(max_daily_loss=Decimal(10))
    risk.update_pnl(Decimal(0), Decimal(0), NOW)
    risk.update_pnl(Decimal(-20), Decimal(0), NOW + SECOND)
    saved = json.loads(json.dumps(risk.snapshot()))
    assert saved["state"] == "reducing"
    restarted = manager(max_daily_loss=Decimal(10))
    restarted.restore(saved, NOW + 2 * SECOND)
    assert restarted.state is TradingState.REDUCING
    # A snapshot written before the gate was renamed ("loss_halt") still restores it.
    saved["loss_halt"] = saved.pop("loss_limit")
    older = manager(max_daily_loss=Decimal(10))
    older.restore(saved, NOW + 2 * SECOND)
    assert older.state is TradingState.REDUCING


def test_a_loss_marked_yesterday_and_realized_today_is_not_counted_twice() -> None:
    risk = manager(max_daily_loss=Decimal(50))
    risk.update_pnl(Decimal(0), Decimal(0), NOW)
    risk.update_pnl(Decimal(0), Decimal(-40), NOW + SECOND)  # marked down yesterday
    risk.update_pnl(Decimal(-40), Decimal(0), NOW + 90 * SECOND)  # sold today at that mark
    assert risk.daily_pnl == 0
    assert risk.state is TradingState.ACTIVE


def test_clearing_a_loss_halt_the_same_day_still_denies_new_risk_but_allows_reducing() -> None:
    risk = manager(max_daily_loss=Decimal(100))
    risk.on_fill(fill("t1", Side.BUY, "10", "0.5"))
    risk.update_pnl(Decimal(0), Decimal(0), NOW)
    risk.update_pnl(Decimal(-150), Decimal(0), NOW + SECOND)
    gates = risk.clear("alice", NOW + SECOND)
    assert [g.name for g in gates] == ["daily_loss"]  # K4: say what still blocks
    assert risk.state is TradingState.ACTIVE
    denial = risk.check(buy(), NOW + SECOND)
    assert denial is not None
    assert denial.reason == "daily_loss"
    assert risk.check(sig(("t1", Side.SELL, "10", "0.4")), NOW + SECOND) is None


def test_reducing_allows_only_position_reducing_signals() -> None:
    risk = manager()
    risk.on_fill(fill("t1", Side.BUY, "10", "0.5"))
    risk.set_reducing("pause", "bob", NOW)
    assert risk.state is TradingState.REDUCING
    denial = risk.check(buy(), NOW)
    assert denial is not None
    assert denial.reason == "reducing"
    assert risk.check(sig(("t1", Side.SELL, "10", "0.4")), NOW) is None
    assert risk.check(sig(("t1", Side.SELL, "11", "0.4")), NOW) is not None
    assert risk.resume("bob", NOW) == []
    assert risk.check(buy(), NOW) is None


def test_leg_completion_buys_are_reducing_only_up_to_the_fullest_leg_of_the_set() -> None:
    """A completion buy that pairs with shares already held reduces risk (allowed while
    reducing, outside the exposure limit); one that would leave its token above the fullest
    other leg is new exposure; the kill switch stops both."""
    risk = manager(max_exposure=Decimal(40))
    risk.on_fill(fill("yes", Side.BUY, "100", "0.45"))
    risk.set_reducing("pause", "bob", NOW)
    completion = sig(("no", Side.BUY, "100", "0.55"))
    assert risk.check(completion, NOW, completing=("yes", "no")) is None  # beyond exposure too
    too_many = sig(("no", Side.BUY, "101", "0.55"))
    assert risk.check(too_many, NOW, completing=("yes", "no")) == Denial(
        "reducing", "only position-reducing signals are allowed (reducing: pause (bob))"
    )
    not_a_set = risk.check(completion, NOW)  # without the set it is a plain buy
    assert not_a_set is not None
    assert not_a_set.reason == "reducing"
    # Shares already being bought count: a second completion of the same leg is new exposure.
    risk.on_submit(completion, NOW)
    again = risk.check(sig(("no", Side.BUY, "1", "0.55")), NOW, completing=("yes", "no"))
    assert again is not None
    assert again.reason == "reducing"
    risk.on_done(completion)
    risk.engage("stop", "alice", NOW)
    halted = risk.check(completion, NOW, completing=("yes", "no"))
    assert halted is not None
    assert halted.reason == "halted"


def test_kill_switch_only_changes_by_explicit_commands_and_survives_restart() -> None:
    risk = manager()
    risk.update_pnl(Decimal(10), Decimal(0), NOW)
    risk.engage("venue outage", "alice", NOW)
    risk.set_reducing("pause", "bob", NOW)
    revision = risk.revision
    # Nothing but clear() lifts it: P&L updates, checks, a new day.
    risk.update_pnl(Decimal(20), Decimal(0), NOW + SECOND)
    risk.check(buy(), NOW + 90 * SECOND)
    assert risk.state is TradingState.HALTED
    assert risk.revision > revision  # the day rollover is persistent state too
    status = risk.status(NOW + 90 * SECOND)
    assert [g.name for g in status.gates] == ["kill_switch", "reducing"]  # every gate, K4
    assert status.gates[0].reason == "venue outage"
    assert status.gates[0].actor == "alice"

    saved = json.loads(json.dumps(risk.snapshot()))
    assert saved["state"] == "halted"
    restarted = RiskManager(RiskLimits(), now_ns=NOW + 100 * SECOND)
    restarted.restore(saved, NOW + 100 * SECOND)
    assert restarted.state is TradingState.HALTED
    assert restarted.snapshot()["kill_switch"] == saved["kill_switch"]
    assert restarted.check(buy(), NOW + 100 * SECOND) == Denial(
        "halted", "kill_switch: venue outage (alice); reducing: pause (bob)"
    )
    assert [g.name for g in restarted.clear("alice", NOW + 101 * SECOND)] == ["reducing"]
    assert restarted.state is TradingState.REDUCING


def test_restore_keeps_the_days_pnl_baseline() -> None:
    risk = manager(max_daily_loss=Decimal(100))
    risk.update_pnl(Decimal(0), Decimal(30), NOW)  # marks carried into the day: +30
    risk.update_pnl(Decimal(0), Decimal(-30), NOW + SECOND)
    saved = risk.snapshot()
    assert saved["daily_pnl"] == "-60"
    assert saved["day_start_unrealized"] == "30"
    restarted = RiskManager(RiskLimits(max_daily_loss=Decimal(100)), now_ns=NOW + 2 * SECOND)
    restarted.restore(saved, NOW + 2 * SECOND)
    restarted.update_pnl(Decimal(-40), Decimal(-30), NOW + 3 * SECOND)  # -40 - 60 = -100
    assert restarted.state is TradingState.REDUCING


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"version": 2},
        {"version": 1, "day": "yesterday"},
        {"version": 1, "day": "2026-05-02", "kill_switch": "on"},
        {"version": 1, "day": "2026-05-02", "kill_switch": {"since_ns": "x"}},
        {"version": 1, "day": "2026-05-02", "day_start_unrealized": "abc"},
        {"version": 1, "day": "2026-05-02", "day_start_unrealized": "NaN"},
    ],
)
def test_restore_refuses_malformed_snapshots_and_changes_nothing(bad: dict[str, object]) -> None:
    risk = manager()
    risk.engage("keep me", "alice", NOW)
    with pytest.raises(ValueError, match="risk snapshot"):
        risk.restore(bad, NOW)
    assert risk.state is TradingState.HALTED


def test_invalid_signals_are_denied() -> None:
    risk = manager()
    empty = Signal("s", "m", NOW, Decimal(0), Decimal(0), ())
    assert risk.check(empty, NOW) == Denial("invalid_signal", "no legs")
    assert risk.check(buy(price="1.5"), NOW) is not None
    assert risk.check(buy(size="0"), NOW) is not None


def test_status_reports_every_gate() -> None:
    risk = manager(max_exposure=Decimal(10), max_orders_per_minute=1, max_daily_loss=Decimal(1))
    risk.on_fill(fill("t1", Side.BUY, "30", "0.5"))
    approve(risk, sig(("t1", Side.SELL, "1", "0.5")))
    risk.update_pnl(Decimal(0), Decimal(0), NOW)
    risk.update_pnl(Decimal(-2), Decimal(0), NOW + 1)
    risk.clear("alice", NOW + 1)
    names = [g.name for g in risk.status(NOW + 1).gates]
    assert names == ["daily_loss", "exposure", "rate_limit"]
    assert risk.status(NOW + 1).as_dict()["state"] == "active"


def test_a_fill_releases_the_in_flight_shares_of_its_own_signal() -> None:
    risk = manager(max_position=Decimal(100))
    first, second = buy(size="40"), buy(size="40")
    approve(risk, first)
    approve(risk, second)
    risk.on_fill(fill("t1", Side.BUY, "40", "0.5"), second.signal_id)
    risk.on_done(second)
    # 40 held + 40 still in flight for the first signal.
    denial = risk.check(buy(size="21"), NOW)
    assert denial is not None
    assert denial.reason == "position_limit"
    assert risk.check(buy(size="20"), NOW) is None


def test_reducing_sources_are_independent_and_persisted() -> None:
    risk = manager()
    risk.set_reducing("maintenance", "alice", NOW)
    risk.set_reducing("database down", "store", NOW, source="store")
    assert [g.name for g in risk.resume("store", NOW, source="store")] == ["reducing"]
    assert risk.state is TradingState.REDUCING  # the store coming back keeps alice's pause
    risk.set_reducing("database down", "store", NOW, source="store")
    restarted = manager()
    restarted.restore(json.loads(json.dumps(risk.snapshot())), NOW)
    assert sorted(g.source for g in restarted.status(NOW).gates) == ["operator", "store"]
    restarted.resume("bob", NOW)
    assert restarted.state is TradingState.REDUCING
    restarted.resume("store", NOW, source="store")
    assert restarted.state is TradingState.ACTIVE
