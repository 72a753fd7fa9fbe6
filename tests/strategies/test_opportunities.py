from __future__ import annotations

from decimal import Decimal

from polyarb.domain.trading import Signal
from polyarb.strategies import SumTo100
from polyarb.strategies.base import Sighting, SumTo100Config
from polyarb.strategies.opportunities import Distribution, OpportunityTracker

from .helpers import MS, NOW, FakeView, binary_market, make_book, set_ask


def sight(market: str, edge: str = "0.01", size: str = "10", signal_id: str = "") -> Sighting:
    return Sighting(market, Decimal(edge), Decimal(size), signal_id)


def signal(signal_id: str, market: str = "a") -> Signal:
    return Signal("s", market, 0, Decimal("0.01"), Decimal(10), (), signal_id=signal_id)


def test_lifetime_from_first_to_last_sighting() -> None:
    tracker = OpportunityTracker()
    tracker.observe("s", ["a"], [sight("a", "0.01", "10")], NOW)
    tracker.observe("s", ["a"], [sight("a", "0.03", "5")], NOW + 100 * MS)
    tracker.observe("s", ["b"], [], NOW + 150 * MS)  # another key: "a" stays open
    tracker.observe("s", ["a"], [sight("a", "0.02", "40")], NOW + 250 * MS)
    assert tracker.drain_closed() == []
    tracker.observe("s", ["a"], [], NOW + 300 * MS)
    [opp] = tracker.drain_closed()
    assert opp.lifetime_ns == 250 * MS
    assert opp.closed_ns == NOW + 300 * MS
    assert (opp.best_edge, opp.max_size, opp.sightings) == (Decimal("0.03"), Decimal(40), 3)
    assert opp.outcome == "missed"
    assert tracker.drain_closed() == []


def test_a_late_outcome_reaches_a_closed_record() -> None:
    tracker = OpportunityTracker()
    tracker.observe("s", ["a"], [sight("a", signal_id="s-1")], NOW)
    assert tracker.resolve(signal("s-1"), "taken")
    tracker.observe("s", ["a"], [], NOW + 10 * MS)  # the fill took the edge away
    assert tracker.drain_closed() == []  # waits for the signal's outcome
    assert tracker.resolve(signal("s-1"), "filled", "100 sets")
    [opp] = tracker.drain_closed()
    assert (opp.outcome, opp.detail, opp.signal_ids) == ("filled", "100 sets", ["s-1"])
    assert not tracker.resolve(signal("s-1"), "filled")  # settled already
    assert not tracker.resolve(signal("unknown"), "filled")


def test_best_outcome_of_several_signals_wins() -> None:
    tracker = OpportunityTracker()
    tracker.observe("s", ["a"], [sight("a", signal_id="s-1")], NOW)
    tracker.resolve(signal("s-1"), "partial")
    tracker.observe("s", ["a"], [sight("a", signal_id="s-2")], NOW + MS)
    tracker.resolve(signal("s-2"), "denied:exposure_limit", "exposure 2000")
    tracker.observe("s", ["a"], [], NOW + 2 * MS)
    [opp] = tracker.drain_closed()
    assert opp.outcome == "partial"
    assert opp.signal_ids == ["s-1", "s-2"]


def test_report_counts_and_percentiles() -> None:
    tracker = OpportunityTracker()
    for i, life_ms in enumerate([10, 20, 30, 40, 1000]):
        key = f"m{i}"
        sid = f"s-{i}"
        tracker.observe("s", [key], [sight(key, size=str(i + 1), signal_id=sid)], NOW)
        tracker.observe("s", [key], [sight(key, size=str(i + 1))], NOW + life_ms * MS)
        tracker.resolve(signal(sid, key), "filled" if i < 2 else "denied:rate_limit")
        tracker.observe("s", [key], [], NOW + (life_ms + 1) * MS)
    tracker.observe("other", ["x"], [sight("x")], NOW)
    report = tracker.report()
    assert set(report) == {"s", "other"}
    s = report["s"]
    assert (s.opened, s.closed, s.open_now) == (5, 5, 0)
    assert s.by_outcome == {"denied:rate_limit": 3, "filled": 2}
    assert s.lifetime_ms == Distribution(
        5, Decimal(30), Decimal(1000), Decimal(1000), Decimal(1000)
    )
    assert s.size.p50 == Decimal(3)
    assert report["other"].open_now == 1
    assert report["other"].closed == 0
    as_dict = s.as_dict()
    assert as_dict["by_outcome"] == {"denied:rate_limit": 3, "filled": 2}


def test_memory_is_bounded() -> None:
    tracker = OpportunityTracker(max_open=3, max_closed=2, max_awaiting=2)
    for i in range(6):
        tracker.observe("s", [], [sight(f"m{i}")], NOW + i)
    assert len(tracker.open_records()) == 3
    assert tracker.dropped == 1  # 3 closed by eviction, the queue keeps 2
    assert [o.market for o in tracker.drain_closed()] == ["m1", "m2"]
    for i in range(4):
        tracker.observe("s", [], [sight(f"m{i}", signal_id=f"x-{i}")], NOW + 10 + i)
    assert not tracker.resolve(signal("x-0"), "filled")  # forgotten: only 2 awaited


def test_close_all_at_shutdown() -> None:
    tracker = OpportunityTracker()
    tracker.observe("s", ["a", "b"], [sight("a"), sight("b")], NOW)
    tracker.close_all(NOW + MS)
    assert sorted(o.market for o in tracker.drain_closed()) == ["a", "b"]


def test_with_a_strategy_an_edge_held_back_by_cooldown_stays_one_opportunity() -> None:
    strategy = SumTo100(
        SumTo100Config(fee_rate=Decimal("0.01"), cooldown_ms=100), independent_books=True
    )
    strategy.set_universe([binary_market()], [])
    view = FakeView().add(
        make_book("cond-1-yes", [("0.45", "100")]), make_book("cond-1-no", [("0.50", "100")])
    )
    tracker = OpportunityTracker()

    def step(now: int) -> list[Signal]:
        view.now = now
        for book in view.books.values():
            book.ts_recv_ns = now
        out = strategy.on_book(view, {"cond-1"}, now)
        tracker.observe(strategy.name, strategy.last_evaluated, strategy.last_sightings, now)
        return out

    [first] = step(NOW)
    tracker.resolve(first, "denied:rate_limit")
    strategy.on_result(first, "denied:rate_limit", NOW)
    assert step(NOW + 50 * MS) == []  # cooling down, edge still there
    [second] = step(NOW + 150 * MS)
    tracker.resolve(second, "taken")
    set_ask(view.books["cond-1-yes"], "0.45", "0", NOW + 200 * MS)
    set_ask(view.books["cond-1-yes"], "0.60", "100", NOW + 200 * MS)
    assert step(NOW + 200 * MS) == []
    tracker.resolve(second, "filled")
    strategy.on_result(second, "filled", NOW + 200 * MS)
    [opp] = tracker.drain_closed()
    assert opp.sightings == 3
    assert opp.lifetime_ns == 150 * MS
    assert opp.outcome == "filled"
    assert opp.signal_ids == [first.signal_id, second.signal_id]
    assert opp.best_edge == Decimal("0.0399")  # 4c a set less the $0.01 merge over 100 sets
