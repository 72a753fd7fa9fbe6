"""The settlement tracker over a real journal: a trade booked once across sightings and
restarts, and a FAILED trade's fills reversed exactly (equal to a ledger that never had them)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from polyarb.domain.book import Side
from polyarb.domain.ledger import Ledger
from polyarb.domain.settlement import Settlement
from polyarb.domain.trading import Fill, Mode
from polyarb.execution.journal import Journal, SettlementRecord, read_journal
from polyarb.execution.settlement import TradeFailure, open_tracker

D = Decimal
T = "1234"


def _fill(fill_id: str, side: Side, price: str, size: str, fee: str = "0") -> Fill:
    return Fill(
        fill_id, "live-o", T, "0xc", side, D(price), D(size), D(fee), 1, "sniper", Mode.LIVE
    )


def _snapshot_without_ids(ledger: Ledger) -> dict[str, object]:
    snap = ledger.snapshot()
    snap.pop("fill_ids")
    return snap


def test_failed_fill_is_reversed_exactly_even_after_later_trades(tmp_path: Path) -> None:
    ledger = Ledger(D(1000))
    failures: list[TradeFailure] = []
    journal = Journal(tmp_path / "j.jsonl")
    tracker = open_tracker(ledger, journal, on_failure=failures.append)
    a = _fill("a", Side.BUY, "0.40", "10", "0.01")
    b = _fill("b", Side.BUY, "0.60", "10", "0.02")
    c = _fill("c", Side.SELL, "0.70", "5", "0.01")
    for trade_id, fill in (("a", a), ("b", b), ("c", c)):
        assert tracker.observe(trade_id, Settlement.MATCHED, [fill]) == [fill]
    ledger.mark(T, D("0.55"))
    realized_before = ledger.realized_pnl
    tracker.observe("b", Settlement.RETRYING, [], reason="tx reverted")
    tracker.observe("b", Settlement.FAILED, [], reason="tx reverted")
    # as if b never happened: the sale realized against a's cost alone
    expected = Ledger.replay([a, c], D(1000))
    expected.mark(T, D("0.55"))
    assert _snapshot_without_ids(ledger) == _snapshot_without_ids(expected)
    assert ledger.shares(T) == D(5)
    assert ledger.seen("b")  # booking b again is a duplicate
    (failure,) = failures
    assert failure.trade_id == "b"
    assert failure.reason == "tx reverted"
    assert failure.realized_change == ledger.realized_pnl - realized_before
    assert failure.positions == {T: (D(5), ledger.cost_basis(T))}
    # a late MATCHED of b (the other source) changes nothing
    assert tracker.observe("b", Settlement.MATCHED, [b]) == []
    assert ledger.shares(T) == D(5)
    journal.close()
    # the journal tells the same story: b is left out of the history, reversed
    contents = read_journal(tmp_path / "j.jsonl")
    assert [e.fill_id for e in contents.fills] == ["a", "c"]
    assert [f.fill_id for f in contents.reversed_fills] == ["b"]
    assert contents.settlements["b"].status == "FAILED"


def test_a_trade_is_booked_once_across_sightings_and_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    ledger = Ledger(D(100))
    journal = Journal(path)
    tracker = open_tracker(ledger, journal)
    statuses: list[SettlementRecord] = []
    tracker.on_status = statuses.append
    fill = _fill("t1", Side.BUY, "0.5", "10")
    assert tracker.observe("t1", Settlement.MATCHED, [fill]) == [fill]
    assert tracker.observe("t1", Settlement.MATCHED, [fill]) == []  # REST after the channel
    tracker.observe("t1", Settlement.MINED, [fill])
    assert [(r.status, r.fill_ids) for r in statuses] == [("MATCHED", ("t1",)), ("MINED", ("t1",))]
    journal.close()
    # restart: the ledger from the journal, the statuses too
    contents = read_journal(path)
    ledger2 = Ledger.replay(contents.events, D(100))
    journal2 = Journal(path)
    tracker2 = open_tracker(ledger2, journal2)
    assert tracker2.status("t1") == Settlement.MINED
    assert tracker2.pending() == ["t1"]
    assert tracker2.observe("t1", Settlement.MATCHED, [fill]) == []  # stale
    assert tracker2.observe("t1", Settlement.FAILED, []) == []
    assert ledger2.shares(T) == 0
    assert ledger2.cash == D(100)
    journal2.close()
    assert read_journal(path).fills == []
    assert len([line for line in path.read_text().splitlines() if '"kind":"fill"' in line]) == 1


def test_a_crash_between_the_fill_and_its_status_still_books_once(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    fill = _fill("t2", Side.BUY, "0.5", "4")
    with Journal(path) as journal:
        journal.append([fill])  # the fill is durable, the settlement line never written
    ledger = Ledger.replay(read_journal(path).events, D(100))
    tracker = open_tracker(ledger, Journal(path))
    assert tracker.observe("t2", Settlement.MINED, [fill]) == []  # already in the ledger
    tracker.observe("t2", Settlement.FAILED, [])
    assert ledger.shares(T) == 0
    assert ledger.cash == D(100)


def test_two_failures_in_turn_without_a_journal() -> None:
    ledger = Ledger(D(50))
    tracker = open_tracker(ledger, None)
    a = _fill("a", Side.BUY, "0.5", "10")
    b = _fill("b", Side.BUY, "0.5", "20")
    tracker.observe("a", Settlement.MATCHED, [a])
    tracker.observe("b", Settlement.MATCHED, [b])
    tracker.observe("a", Settlement.FAILED, [])
    tracker.observe("b", Settlement.FAILED, [])  # "a" stays reversed
    assert ledger.shares(T) == 0
    assert ledger.cash == D(50)


def test_a_history_that_lacks_an_applied_event_reverses_nothing(tmp_path: Path) -> None:
    ledger = Ledger(D(50))
    other = _fill("booked-elsewhere", Side.BUY, "0.5", "2")
    ledger.apply(other)  # applied to the ledger, not through this tracker's journal
    failures: list[TradeFailure] = []
    with Journal(tmp_path / "j.jsonl") as journal:
        tracker = open_tracker(ledger, journal, on_failure=failures.append)
        fill = _fill("t", Side.BUY, "0.5", "10")
        tracker.observe("t", Settlement.MATCHED, [fill])
        before = ledger.snapshot()
        tracker.observe("t", Settlement.FAILED, [])
    assert ledger.snapshot() == before  # fail closed: replaying would have lost "other"
    (failure,) = failures
    assert not failure.reversed
    assert "booked-elsewhere" in failure.problem
    assert "NOT reversed" in failure.message


def test_a_torn_settlement_line_is_set_aside_like_any_other(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    fill = _fill("t3", Side.BUY, "0.5", "2")
    with Journal(path) as journal:
        tracker = open_tracker(Ledger(D(10)), journal)
        tracker.observe("t3", Settlement.MATCHED, [fill])
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"v":1,"kind":"settlement","trade_id":"t3","sta')  # crash mid-write
    contents = read_journal(path)
    assert contents.torn_tail
    assert contents.settlements["t3"].status == "MATCHED"
    with Journal(path):  # reopening sets the torn line aside
        pass
    assert path.read_bytes() == whole
    assert len(list(tmp_path.glob("j.jsonl.torn-*"))) == 1


def test_a_journaled_trade_the_ledger_lacks_is_booked_at_its_next_sighting(
    tmp_path: Path,
) -> None:
    """Live, the ledger at start comes from the database, which a crash can leave behind the
    journal: the user channel booked the fill (journal first), the database never got it."""
    path = tmp_path / "j.jsonl"
    fill = _fill("t3", Side.BUY, "0.5", "6")
    with Journal(path) as journal:
        open_tracker(Ledger(D(100)), journal).observe("t3", Settlement.MATCHED, [fill])
    behind = Ledger(D(100))  # what the database knew
    tracker = open_tracker(behind, Journal(path))
    assert tracker.status("t3") is None  # not booked: unknown, not "MATCHED and booked"
    assert tracker.observe("t3", Settlement.CONFIRMED, [fill]) == [fill]
    assert behind.shares(T) == D(6)
    assert tracker.observe("t3", Settlement.CONFIRMED, [fill]) == []
    # booked once: 6 shares at 0.5
    assert behind.cash == D(97)
