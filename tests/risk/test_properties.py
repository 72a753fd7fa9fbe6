"""Property: no sequence of signals, fills, outcomes and P&L lets the manager approve a breach.

Hypothesis drives a random session; the harness plays the engine (submits what is approved, fills
at or below the limit price with fees within the estimate, ends orders) and checks after every
step that every limit holds, computed independently from the harness's own records.
"""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from polyarb.domain.book import Side
from polyarb.domain.trading import Fill, Leg, Mode, Signal
from polyarb.risk import RiskLimits, RiskManager, TradingState

SECOND = 1_000_000_000
START = 1_780_000_000 * SECOND
TOKENS = ("a", "b", "c")
LIMITS = RiskLimits(
    max_position=Decimal(40),
    max_notional=Decimal(15),
    max_daily_loss=Decimal(20),
    max_exposure=Decimal(25),
    max_orders_per_minute=3,
)

# Sizes and prices that often land near the limits, so approvals and denials both happen.
price = st.integers(10, 90).map(lambda c: Decimal(c) / 100)
size = st.integers(1, 25).map(Decimal)
leg = st.tuples(
    st.sampled_from(TOKENS),
    st.sampled_from([Side.BUY, Side.BUY, Side.BUY, Side.SELL]),
    size,
    price,
)
signal_op = st.tuples(st.just("signal"), st.lists(leg, min_size=1, max_size=2), st.integers(0, 200))
fill_op = st.tuples(st.just("fill"), st.integers(0, 10), st.integers(1, 100))
wait_op = st.tuples(st.just("wait"), st.one_of(st.integers(1, 30), st.integers(60, 7200)))
op = st.one_of(
    *[signal_op] * 4,
    *[fill_op] * 2,
    *[wait_op] * 2,
    st.tuples(st.just("done"), st.integers(0, 10)),
    st.tuples(st.just("pnl"), st.integers(-12, 10), st.integers(-10, 10)),
    st.tuples(
        st.just("command"), st.sampled_from(["engage", "clear", "clear", "reduce", "resume"])
    ),
)


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(op, min_size=30, max_size=80))
def test_no_sequence_breaches_a_limit(ops: list[tuple[object, ...]]) -> None:
    risk = RiskManager(LIMITS, now_ns=START)
    now = START
    seq = 0
    held: dict[str, Decimal] = dict.fromkeys(TOKENS, Decimal(0))
    cost: dict[str, Decimal] = dict.fromkeys(TOKENS, Decimal(0))
    open_signals: list[tuple[Signal, list[Decimal]]] = []  # signal, remaining per leg
    submits: deque[int] = deque()
    day_start_marks: Decimal | None = None  # unrealized P&L carried into the UTC day
    marks: Decimal | None = None
    day = now // (86_400 * SECOND)

    for item in ops:
        kind = item[0]
        if kind == "signal":
            _, legs, fee_cents = item
            seq += 1
            signal = Signal(
                strategy="p",
                market="m",
                ts_recv_ns=now,
                edge=Decimal(0),
                size=legs[0][2],  # type: ignore[index]
                legs=tuple(Leg(t, s, q, p, p) for t, s, q, p in legs),  # type: ignore[misc, union-attr]
                fees=Decimal(fee_cents) / 100,  # type: ignore[operator]
                signal_id=f"s{seq}",
            )
            status = risk.status(now)  # rolls the UTC day first, as check does
            state_before, daily_before = status.state, status.daily_pnl
            if risk.check(signal, now) is None:
                # The approved signal keeps every limit, checked independently.
                notional = sum((lg.size * lg.limit_price for lg in signal.legs), Decimal(0))
                assert notional + signal.fees <= LIMITS.max_notional
                assert state_before is not TradingState.HALTED
                sells_only = all(lg.side == Side.SELL for lg in signal.legs)
                if not sells_only:
                    assert state_before is TradingState.ACTIVE
                    assert daily_before > -LIMITS.max_daily_loss
                risk.on_submit(signal, now)
                submits.extend([now] * len(signal.legs))
                open_signals.append((signal, [lg.size for lg in signal.legs]))
        elif kind == "fill" and open_signals:
            _, index, percent = item
            signal, remaining = open_signals[index % len(open_signals)]  # type: ignore[operator]
            for i, lg in enumerate(signal.legs):
                qty = (remaining[i] * percent / 100).quantize(Decimal("0.01"))  # type: ignore[operator]
                if qty <= 0:
                    continue
                if lg.side == Side.SELL:
                    qty = min(qty, held[lg.token_id])
                    if qty <= 0:
                        continue
                remaining[i] -= qty
                buy_notional = sum(
                    (x.size * x.limit_price for x in signal.legs if x.side == Side.BUY),
                    Decimal(0),
                )
                fee = Decimal(0)
                if lg.side == Side.BUY and buy_notional:
                    fee = signal.fees * lg.limit_price * qty / buy_notional
                fill_price = lg.limit_price  # the worst a fill may cost
                risk.on_fill(
                    Fill(
                        f"f{seq}-{i}-{now}",
                        "c",
                        lg.token_id,
                        "m",
                        lg.side,
                        fill_price,
                        qty,
                        fee,
                        now,
                        "p",
                        Mode.PAPER,
                    ),
                    signal.signal_id,
                )
                if lg.side == Side.BUY:
                    held[lg.token_id] += qty
                    cost[lg.token_id] += fill_price * qty + fee
                else:
                    cost[lg.token_id] -= cost[lg.token_id] * qty / held[lg.token_id]
                    held[lg.token_id] -= qty
        elif kind == "done" and open_signals:
            signal, _ = open_signals.pop(item[1] % len(open_signals))  # type: ignore[operator]
            risk.on_done(signal)
        elif kind == "pnl":
            realized, unrealized = Decimal(item[1]), Decimal(item[2])  # type: ignore[arg-type]
            new_day = now // (86_400 * SECOND)
            if new_day != day:
                day, day_start_marks = new_day, marks
            marks = unrealized
            if day_start_marks is None:
                day_start_marks = marks
            daily = realized + marks - day_start_marks
            risk.update_pnl(realized, unrealized, now)
            assert risk.daily_pnl == daily
            if daily <= -LIMITS.max_daily_loss:  # reducing at least (halted by the kill switch)
                assert risk.state is not TradingState.ACTIVE
        elif kind == "wait":
            now += item[1] * SECOND  # type: ignore[operator]
        elif kind == "command":
            action = item[1]
            if action == "engage":
                risk.engage("test", "op", now)
            elif action == "clear":
                risk.clear("op", now)
            elif action == "reduce":
                risk.set_reducing("test", "op", now)
            else:
                risk.resume("op", now)

        # Invariants after every step.
        in_flight_buys = dict.fromkeys(TOKENS, Decimal(0))
        flying_spend = Decimal(0)
        for signal, remaining in open_signals:
            buy_notional = sum(
                (x.size * x.limit_price for x in signal.legs if x.side == Side.BUY), Decimal(0)
            )
            for lg, left in zip(signal.legs, remaining, strict=True):
                if lg.side == Side.BUY:
                    in_flight_buys[lg.token_id] += left
                    share = signal.fees * lg.limit_price / buy_notional if buy_notional else 0
                    flying_spend += left * (lg.limit_price + share)
        for token in TOKENS:
            assert held[token] + in_flight_buys[token] <= LIMITS.max_position
            assert held[token] >= 0
        exposure = sum((c for t, c in cost.items() if held[t] > 0), Decimal(0)) + flying_spend
        assert exposure <= LIMITS.max_exposure + Decimal("1e-20")
        while submits and submits[0] <= now - 60 * SECOND:
            submits.popleft()
        assert len(submits) <= LIMITS.max_orders_per_minute
