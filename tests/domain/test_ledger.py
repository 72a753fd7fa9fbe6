"""Ledger: exact positions and P&L, idempotency, merges, locked sets, resolutions, persistence."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyarb.domain.book import Side
from polyarb.domain.ledger import Ledger, LedgerError, LedgerEvent, Merge, Resolution, utc_day
from polyarb.domain.trading import Fill, Mode

D = Decimal
T0 = 1_760_000_000_000_000_000  # 2025-10-09 UTC, in ns


def fill(
    fill_id: str,
    token: str,
    side: Side,
    price: str,
    size: str,
    fee: str = "0",
    ts: int = T0,
    strategy: str = "sumto100",
    market: str = "cond-1",
) -> Fill:
    return Fill(
        fill_id, f"order-{fill_id}", token, market, side, D(price), D(size), D(fee), ts, strategy,
        Mode.PAPER,
    )  # fmt: skip


def conserved(ledger: Ledger) -> bool:
    held = sum((p.cost for p in ledger.positions()), D(0))
    locked = sum((s.cost for s in ledger.locked_sets()), D(0))
    return ledger.cash + held + locked == ledger.starting_balance + ledger.realized_pnl


def test_buys_average_and_sells_realize_against_average_cost() -> None:
    ledger = Ledger(D(1000))
    ledger.apply_fill(fill("f1", "yes", Side.BUY, "0.40", "10", fee="0.01"))
    ledger.apply_fill(fill("f2", "yes", Side.BUY, "0.50", "30"))
    assert ledger.shares("yes") == D(40)
    assert ledger.cost_basis("yes") == D("19.01")  # 4.00 + 0.01 fee + 15.00
    assert ledger.cash == D("980.99")
    applied = ledger.apply_fill(fill("f3", "yes", Side.SELL, "0.60", "10", fee="0.02"))
    # average cost 19.01 / 40 = 0.47525; proceeds 6.00 - 0.02 fee - 4.7525
    assert applied.realized == D("1.2275")
    assert ledger.realized_pnl == D("1.2275")
    assert ledger.shares("yes") == D(30)
    assert ledger.cost_basis("yes") == D("14.2575")
    assert ledger.fees_paid == D("0.03")
    assert ledger.cash == D("986.97")
    assert conserved(ledger)


def test_partial_sell_cost_rounding_never_leaks_value() -> None:
    ledger = Ledger(D(100))
    ledger.apply_fill(fill("b", "yes", Side.BUY, "0.33", "3", fee="0.00001"))
    for i in range(3):
        ledger.apply_fill(fill(f"s{i}", "yes", Side.SELL, "0.34", "1"))
    assert ledger.shares("yes") == 0
    assert ledger.positions() == []
    assert ledger.realized_pnl == D("1.02") - D("0.99001")
    assert conserved(ledger)


def test_fill_ids_are_idempotent() -> None:
    ledger = Ledger(D(100))
    f = fill("same", "yes", Side.BUY, "0.5", "10")
    assert ledger.apply_fill(f).duplicate is False
    again = ledger.apply_fill(f)
    assert again.duplicate is True
    assert again.realized == 0
    assert ledger.shares("yes") == D(10)
    assert ledger.cash == D(95)
    merge = Merge("m1", "cond-1", ("yes", "no"), D(1), T0, "sumto100")
    ledger.apply_fill(fill("n", "no", Side.BUY, "0.4", "10"))
    assert ledger.apply_merge(merge).duplicate is False
    assert ledger.apply_merge(merge).duplicate is True
    assert ledger.shares("yes") == D(9)
    res = Resolution("r1", "cond-1", "yes", T0 + 1)
    assert ledger.apply_resolution(res).duplicate is False
    assert ledger.apply_resolution(res).duplicate is True
    assert ledger.seen("same")
    assert ledger.seen("m1")
    assert ledger.seen("r1")


def test_selling_more_than_held_is_refused_and_changes_nothing() -> None:
    ledger = Ledger(D(100))
    ledger.apply_fill(fill("b", "yes", Side.BUY, "0.5", "10"))
    before = ledger.snapshot()
    with pytest.raises(LedgerError, match="only 10 are held"):
        ledger.apply_fill(fill("s", "yes", Side.SELL, "0.5", "11"))
    with pytest.raises(LedgerError, match="held"):
        ledger.apply_fill(fill("s2", "yes", Side.SELL, "0.5", "1", strategy="other"))
    with pytest.raises(LedgerError):
        ledger.apply_merge(Merge("m", "cond-1", ("yes", "no"), D(1), T0, "sumto100"))
    assert ledger.snapshot() == before
    assert not ledger.seen("s")


def test_merge_realizes_one_dollar_per_set_minus_cost() -> None:
    ledger = Ledger(D(1000))
    ledger.apply_fill(fill("y", "yes", Side.BUY, "0.45", "100"))
    ledger.apply_fill(fill("n", "no", Side.BUY, "0.50", "100"))
    applied = ledger.apply_merge(Merge("m", "cond-1", ("yes", "no"), D(100), T0 + 1, "sumto100"))
    assert applied.realized == D("5.00")
    assert ledger.realized_pnl == D(5)
    assert ledger.cash == D(1005)
    assert ledger.positions() == []
    assert ledger.pnl_by_strategy() == {"sumto100": D(5)}


def test_a_merge_books_its_chain_transaction() -> None:
    ledger = Ledger(D(1000))
    ledger.apply_fill(fill("y", "yes", Side.BUY, "0.45", "100"))
    ledger.apply_fill(fill("n", "no", Side.BUY, "0.50", "100"))
    merge = Merge("m", "cond-1", ("yes", "no"), D(100), T0 + 1, "sumto100", tx_cost=D("0.01"))
    assert ledger.apply_merge(merge).realized == D("4.99")
    assert ledger.cash == D("1004.99")
    assert ledger.chain_costs == D("0.01")
    assert ledger.fees_paid == 0  # a chain cost is not a venue fee
    restored = Ledger.restore(ledger.snapshot())
    assert restored.chain_costs == D("0.01")
    assert restored.snapshot() == ledger.snapshot()
    with pytest.raises(LedgerError, match="negative tx_cost"):
        ledger.apply_merge(Merge("m2", "cond-1", ("yes", "no"), D(1), T0, "s", tx_cost=D(-1)))


def test_a_lock_pays_its_redeem_now_and_realizes_it_at_resolution() -> None:
    ledger = Ledger(D(100))
    tokens = ("a-yes", "b-yes")
    for i, (token, price) in enumerate(zip(tokens, ("0.40", "0.50"), strict=True)):
        ledger.apply_fill(fill(f"f{i}", token, Side.BUY, price, "10", market=f"cond-{i}"))
    lock = Merge("lock", "ev", tokens, D(10), T0 + 1, "sumto100", locked=True, tx_cost=D("0.02"))
    assert ledger.apply_merge(lock).realized == 0
    assert ledger.cash == D(100) - D(9) - D("0.02")
    [held] = ledger.locked_sets()
    assert held.cost == D("9.02")
    assert ledger.equity() == D(100) + D(1) - D("0.02")
    paid = ledger.apply_resolution(Resolution("r", "cond-1", "b-yes", T0 + 2))
    assert paid.realized == D("0.98")
    assert ledger.cash == D("100.98")


def test_locked_set_pays_on_the_winning_resolution_only() -> None:
    ledger = Ledger(D(100))
    tokens = ("a-yes", "b-yes", "c-yes")
    for i, (token, price) in enumerate(zip(tokens, ("0.30", "0.30", "0.35"), strict=True)):
        ledger.apply_fill(fill(f"f{i}", token, Side.BUY, price, "10", market=f"cond-{i}"))
    lock = Merge("lock", "event-1", tokens, D(10), T0 + 1, "sumto100", locked=True)
    assert ledger.apply_merge(lock).realized == 0
    assert ledger.positions() == []
    [held] = ledger.locked_sets()
    assert (held.qty, held.cost) == (D(10), D("9.50"))
    assert ledger.unrealized_pnl() == D("0.50")  # a sure dollar per set
    assert ledger.equity() == D(100) + D("0.50")
    # outcome A loses (its NO wins): nothing is paid, the set is still whole
    assert ledger.apply_resolution(Resolution("r0", "cond-0", "a-no", T0 + 2)).realized == 0
    assert len(ledger.locked_sets()) == 1
    # outcome B wins: the set pays $1 each
    assert ledger.apply_resolution(Resolution("r1", "cond-1", "b-yes", T0 + 3)).realized == D(
        "0.50"
    )
    assert ledger.locked_sets() == []
    assert ledger.cash == D("100.50")
    assert conserved(ledger)


def test_resolution_pays_winners_and_zeroes_losers() -> None:
    ledger = Ledger(D(100))
    ledger.apply_fill(fill("y", "yes", Side.BUY, "0.40", "10"))
    ledger.apply_fill(fill("n", "no", Side.BUY, "0.30", "5", strategy="clipper"))
    ledger.apply_fill(fill("o", "other", Side.BUY, "0.50", "2", market="cond-2"))
    applied = ledger.apply_resolution(Resolution("r", "cond-1", "yes", T0 + 5))
    assert applied.realized == D(6) - D("1.5")
    assert ledger.pnl_by_strategy() == {"sumto100": D(6), "clipper": D("-1.5")}
    assert ledger.shares("yes") == 0
    assert ledger.shares("no") == 0
    assert ledger.shares("other") == D(2)  # another market is untouched
    assert ledger.cash == D(100) - D(4) - D("1.5") - D(1) + D(10)


def test_resolution_also_covers_listed_tokens_without_market() -> None:
    ledger = Ledger(D(100))
    ledger.apply_fill(fill("y", "yes", Side.BUY, "0.40", "10", market=""))
    ledger.apply_resolution(Resolution("r", "cond-1", "no", T0, token_ids=("yes", "no")))
    assert ledger.shares("yes") == 0
    assert ledger.realized_pnl == D(-4)


def test_daily_realized_follows_the_utc_day_of_each_realization() -> None:
    ledger = Ledger(D(100))
    late = int(datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC).timestamp()) * 10**9
    early = int(datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC).timestamp()) * 10**9
    ledger.apply_fill(fill("b", "yes", Side.BUY, "0.50", "20", ts=late - 10**9))
    ledger.apply_fill(fill("s1", "yes", Side.SELL, "0.60", "10", ts=late))
    ledger.apply_fill(fill("s2", "yes", Side.SELL, "0.40", "10", ts=early))
    assert utc_day(late) == "2026-03-01"
    assert utc_day(early) == "2026-03-02"
    assert ledger.daily_realized("2026-03-01") == D(1)
    assert ledger.daily_realized("2026-03-02") == D(-1)
    assert ledger.daily_realized("2026-03-03") == 0
    assert ledger.daily_realized_pnl() == {"2026-03-01": D(1), "2026-03-02": D(-1)}


def test_marks_give_unrealized_pnl() -> None:
    ledger = Ledger(D(100))
    ledger.apply_fill(fill("b", "yes", Side.BUY, "0.40", "10", fee="0.1"))
    assert ledger.unrealized_pnl() == 0  # unmarked counts at cost
    assert ledger.mark("yes", D("0.55")) == D("5.5") - D("4.1")
    assert ledger.equity() == ledger.cash + D("5.5")
    with pytest.raises(ValueError, match="outside"):
        ledger.mark("yes", D("1.5"))


def test_snapshot_restore_round_trips_through_json() -> None:
    ledger = Ledger(D(500))
    ledger.apply_fill(fill("y", "yes", Side.BUY, "0.45", "100", fee="0.12345"))
    ledger.apply_fill(fill("n", "no", Side.BUY, "0.50", "100"))
    ledger.apply_merge(Merge("m", "cond-1", ("yes", "no"), D(40), T0 + 1, "sumto100"))
    ledger.apply_fill(fill("s", "yes", Side.SELL, "0.47", "7", ts=T0 + 2))
    ledger.mark("no", D("0.51"))
    data = json.loads(json.dumps(ledger.snapshot()))
    restored = Ledger.restore(data)
    assert restored.snapshot() == ledger.snapshot()
    assert restored.cash == ledger.cash
    assert restored.unrealized_pnl() == ledger.unrealized_pnl()
    assert restored.apply_fill(fill("y", "yes", Side.BUY, "0.45", "100")).duplicate
    with pytest.raises(LedgerError, match="version"):
        Ledger.restore({**data, "version": 99})
    with pytest.raises(LedgerError, match="invalid"):
        Ledger.restore({k: v for k, v in data.items() if k != "cash"})


def test_recompute_equals_incremental() -> None:
    events: list[LedgerEvent] = [
        fill("y", "yes", Side.BUY, "0.45", "100", ts=T0),
        fill("n", "no", Side.BUY, "0.50", "80", fee="0.2", ts=T0 + 1),
        Merge("m", "cond-1", ("yes", "no"), D(80), T0 + 2, "sumto100"),
        fill("s", "yes", Side.SELL, "0.44", "20", fee="0.00001", ts=T0 + 3),
        fill("o", "other", Side.BUY, "0.2", "10", market="cond-2", ts=T0 + 4),
        Resolution("r", "cond-2", "other", T0 + 5),
    ]
    incremental = Ledger(D(1000))
    for e in events:
        incremental.apply(e)
    fills = [e for e in events if isinstance(e, Fill)]
    merges = [e for e in events if isinstance(e, Merge)]
    resolutions = [e for e in events if isinstance(e, Resolution)]
    rebuilt = Ledger.recompute(
        reversed(fills), merges, resolutions, starting_balance=D(1000)
    )  # input order does not matter, time does
    assert rebuilt.snapshot() == incremental.snapshot()
    assert Ledger.replay(events, D(1000)).snapshot() == incremental.snapshot()


# ----------------------------------------------------------------------------- property test
TOKENS = {"cond-a": ("a-yes", "a-no"), "cond-b": ("b-yes", "b-no")}
NEG_RISK = ("a-yes", "b-yes")  # treat the two YES tokens as a complete negRisk set

op = st.one_of(
    st.tuples(
        st.just("buy"),
        st.sampled_from(["a-yes", "a-no", "b-yes", "b-no"]),
        st.integers(1, 99),  # price in cents
        st.integers(1, 50_000),  # size in 1e-2 shares
        st.integers(0, 500),  # fee in 1e-5 $
        st.sampled_from(["s1", "s2"]),
    ),
    st.tuples(
        st.just("sell"),
        st.sampled_from(["a-yes", "a-no", "b-yes", "b-no"]),
        st.integers(1, 99),
        st.integers(1, 100),  # percent of the holding
        st.integers(0, 500),
        st.sampled_from(["s1", "s2"]),
    ),
    st.tuples(st.just("merge"), st.sampled_from(list(TOKENS)), st.integers(1, 100)),
    st.tuples(st.just("lock"), st.integers(1, 100), st.sampled_from(["s1", "s2"])),
    st.tuples(st.just("resolve"), st.sampled_from(list(TOKENS)), st.booleans()),
    st.tuples(st.just("dup")),
)


def build(
    ops: list[tuple[Any, ...]],
) -> tuple[Ledger, list[Fill], list[Merge], list[Resolution]]:
    ledger = Ledger(D(10_000))
    fills: list[Fill] = []
    merges: list[Merge] = []
    resolutions: list[Resolution] = []
    ts = T0
    for n, o in enumerate(ops):
        ts += 3_600 * 10**9  # an hour apart: realizations spread over several UTC days
        kind = o[0]
        if kind == "buy":
            _, token, cents, hundredths, fee, strat = o
            f = Fill(
                f"f{n}", f"o{n}", str(token), "cond-" + str(token)[0], Side.BUY,
                D(int(cents)) / 100, D(int(hundredths)) / 100, D(int(fee)) / 100_000, ts,
                str(strat), Mode.PAPER,
            )  # fmt: skip
        elif kind == "sell":
            _, token, cents, percent, fee, strat = o
            held = ledger.shares(str(token), str(strat))
            size = (held * int(percent) / 100).quantize(D("0.000001"))
            if size <= 0:
                continue
            f = Fill(
                f"f{n}", f"o{n}", str(token), "cond-" + str(token)[0], Side.SELL,
                D(int(cents)) / 100, size, D(int(fee)) / 100_000, ts, str(strat), Mode.PAPER,
            )  # fmt: skip
        elif kind in ("merge", "lock"):
            if kind == "merge":
                _, cond, percent = o
                tokens, strat, locked = TOKENS[str(cond)], "s1", False
            else:
                _, percent, strat = o
                tokens, locked = NEG_RISK, True
            qty = min(ledger.shares(t, str(strat)) for t in tokens) * int(percent) / 100
            qty = qty.quantize(D("0.000001"))
            if qty <= 0:
                continue
            m = Merge(f"m{n}", str(cond) if not locked else "event", tokens, qty, ts, str(strat),
                      locked)  # fmt: skip
            ledger.apply_merge(m)
            merges.append(m)
            continue
        elif kind == "resolve":
            _, cond, yes_wins = o
            yes, no = TOKENS[str(cond)]
            r = Resolution(f"r{n}", str(cond), yes if yes_wins else no, ts)
            ledger.apply_resolution(r)
            resolutions.append(r)
            continue
        else:
            if fills:
                assert ledger.apply_fill(fills[-1]).duplicate
            continue
        ledger.apply_fill(f)
        fills.append(f)
    return ledger, fills, merges, resolutions


@settings(max_examples=150, deadline=None)
@given(st.lists(op, max_size=40))
def test_property_recompute_equals_incremental_and_value_is_conserved(
    ops: list[tuple[Any, ...]],
) -> None:
    ledger, fills, merges, resolutions = build(ops)
    assert conserved(ledger)
    assert ledger.realized_pnl == sum(ledger.daily_realized_pnl().values(), D(0))
    assert ledger.realized_pnl == sum(ledger.pnl_by_strategy().values(), D(0))
    assert all(p.shares > 0 and p.cost >= 0 for p in ledger.positions())
    rebuilt = Ledger.recompute(fills, merges, resolutions, starting_balance=D(10_000))
    assert rebuilt.snapshot() == ledger.snapshot()
    assert Ledger.restore(ledger.snapshot()).snapshot() == ledger.snapshot()
