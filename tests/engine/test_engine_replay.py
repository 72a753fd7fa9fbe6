"""Trading over recordings: the signals and trades files, determinism, and leg risk at engine
level (one leg fills, the other's book vanishes during the paper latency)."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from polyarb.config import Settings, load_settings
from polyarb.domain.trading import Signal
from polyarb.engine.core import Engine
from polyarb.engine.runner import RunSummary, run_replay_trading
from polyarb.execution.base import ExecutionReport
from polyarb.marketdata.recorder import RecordingReader

from .replaykit import (
    EPOCH_NS,
    MS,
    EngineDriver,
    book,
    price_change,
    record_windows,
    sim_driver,
    text,
    universe_of,
    write_recording,
)

DECIMAL_FIELDS = ("edge", "size")
LEG_DECIMAL_FIELDS = ("size", "vwap", "limit_price")
LEG_MAX_LOSS = Decimal(5)


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": tmp_path,
        "paper_latency_ms": 20,
        "paper_latency_sigma": 0,  # exactly 20 ms: the frames below are timed against it
        "sniper_enabled": False,
    }
    base.update(overrides)
    return load_settings(None, **base)


def lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        assert isinstance(obj, dict)
        out.append(obj)
    return out


def is_decimal_string(value: object) -> bool:
    if not isinstance(value, str):
        return False
    return Decimal(value).is_finite()


@pytest.fixture(scope="module")
def windows_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 s of a simulator scenario with a window every 1.5 s (binary and negRisk in turn)."""
    return record_windows(tmp_path_factory.mktemp("rec") / "windows", negrisk_events=4, fenced=True)


async def replay_to(
    tmp_path: Path, recording: Path, name: str
) -> tuple[RunSummary, list[dict[str, Any]], list[dict[str, Any]]]:
    signals, trades = tmp_path / f"{name}-signals.jsonl", tmp_path / f"{name}-trades.jsonl"
    # Locked negRisk sets stay positions until their event resolves: room for several.
    summary = await run_replay_trading(
        settings(
            tmp_path,
            risk_max_position=Decimal(1000),
            risk_max_notional=Decimal(1000),
            negrisk_min_edge=Decimal("0.03"),  # the injected windows, not chance dips
            # One attempt per window: a second one would meet the shares the first took (gone
            # for good on a level that stays) and fill its legs unevenly.
            negrisk_cooldown_ms=60_000,
        ),
        recording,
        signals_out=signals,
        trades_out=trades,
    )
    return summary, lines(signals), lines(trades)


async def test_signals_and_trades_files(tmp_path: Path, windows_recording: Path) -> None:
    summary, signals, trades = await replay_to(tmp_path, windows_recording, "a")
    frame_times = {recv_ns for recv_ns, _ in RecordingReader(windows_recording)}
    assert summary.frames == len(frame_times)
    assert len(signals) >= 2
    assert len(trades) >= 6
    strategies = {s["strategy"] for s in signals}
    # The binary windows are torn views (a binary market is one book): refused, never traded.
    assert strategies == {"negrisk"}
    assert summary.torn_views > 0
    for signal in signals:
        assert isinstance(signal["strategy"], str)
        assert isinstance(signal["market"], str)
        assert signal["ts_recv_ns"] in frame_times  # the frame that triggered it
        for key in DECIMAL_FIELDS:
            assert is_decimal_string(signal[key]), (key, signal)
        assert signal["legs"]
        for leg in signal["legs"]:
            assert isinstance(leg["token_id"], str)
            assert leg["side"] in ("BUY", "SELL")
            for key in LEG_DECIMAL_FIELDS:
                assert is_decimal_string(leg[key]), (key, leg)
    taken = {s["signal_id"]: s for s in signals if s["decision"] == "taken"}
    assert summary.taken == len(taken)
    assert summary.signals == len(signals)
    assert summary.fills == len(trades)

    # Every fill belongs to a taken signal; the P&L follows from the fills: each negRisk set is
    # locked until resolution (unrealized), so nothing is realized.
    by_signal: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for trade in trades:
        assert trade["signal_id"] in taken
        assert trade["mode"] == "paper"
        assert trade["side"] == "BUY"
        for key in ("price", "size", "fee"):
            assert is_decimal_string(trade[key])
        by_signal[trade["signal_id"]].append(trade)
    realized = Decimal(0)
    fees = Decimal(0)
    for signal_id, fills in by_signal.items():
        per_token: dict[str, Decimal] = defaultdict(Decimal)
        for f in fills:  # a leg may fill at several price levels
            per_token[f["token_id"]] += Decimal(f["size"])
        assert sorted(per_token) == sorted(leg["token_id"] for leg in taken[signal_id]["legs"])
        sizes = set(per_token.values())
        assert len(sizes) == 1, "every leg filled alike in these windows"
        cost = sum(Decimal(f["price"]) * Decimal(f["size"]) + Decimal(f["fee"]) for f in fills)
        fees += sum((Decimal(f["fee"]) for f in fills), Decimal(0))
        if taken[signal_id]["strategy"] != "negrisk":  # merged: one chain transaction each
            realized += sizes.pop() - cost - Settings(_env_file=None).chain_tx_cost_usd  # type: ignore[call-arg]
    assert summary.realized_pnl == realized
    assert summary.fees == fees


async def test_replay_is_deterministic(tmp_path: Path, windows_recording: Path) -> None:
    first = await replay_to(tmp_path, windows_recording, "a")
    second = await replay_to(tmp_path, windows_recording, "b")
    summary_a, signals_a, trades_a = first
    summary_b, signals_b, trades_b = second
    assert signals_a == signals_b  # signal ids included: they count per strategy
    assert signals_a

    def without_ids(trades: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # Fill ids derive from random client order ids (uuid4); everything else must agree.
        return [{k: v for k, v in t.items() if k != "fill_id"} for t in trades]

    assert without_ids(trades_a) == without_ids(trades_b)
    for field in ("frames", "signals", "taken", "denied", "fills", "realized_pnl", "fees"):
        assert getattr(summary_a, field) == getattr(summary_b, field), field


# --- leg risk --------------------------------------------------------------------------------


def leg_risk_frames(first: tuple[str, str], second: tuple[str, str]) -> list[tuple[int, str]]:
    """A 100-set window on a two-outcome negRisk event, (market, YES token) each: YES of the
    first at 0.45 + YES of the second at 0.50 (independent books, unlike a binary market's two
    views of one book); 5 ms later the second's ask at 0.50 is gone, so its leg (limit 0.50)
    finds nothing after the 20 ms paper latency while the first fills. The first's bids at
    0.42 can take an unwind; the second's asks at 0.55 can complete the set."""
    (cid_a, yes), (cid_b, other) = first, second
    t0 = EPOCH_NS // MS
    snapshot = [
        book(yes, cid_a, [("0.42", "500")], [("0.45", "100"), ("0.60", "100")], t0),
        book(other, cid_b, [("0.40", "500")], [("0.50", "100"), ("0.55", "100")], t0),
    ]
    return [
        (EPOCH_NS, text(snapshot)),
        (EPOCH_NS + 5 * MS, text(price_change(cid_b, t0 + 5, [(other, "SELL", "0.50", "0")]))),
        (EPOCH_NS + 40 * MS, text(price_change(cid_a, t0 + 40, [(yes, "BUY", "0.30", "10")]))),
        (EPOCH_NS + 200 * MS, text(price_change(cid_a, t0 + 200, [(yes, "BUY", "0.31", "10")]))),
    ]


@pytest.fixture
def leg_market() -> Any:
    """A fee-free two-outcome negRisk event (tick 0.01): its legs are independent books."""
    driver = sim_driver(seed=4, binary_markets=0, negrisk_events=1, outcomes_per_event=2)
    first, second = driver.neg_risk_events[0].markets
    for market in (first, second):
        assert market.category.fee_rate == 0
        assert market.tick == 100
    return (
        driver,
        (first.condition_id, first.token_ids[0]),
        (second.condition_id, second.token_ids[0]),
    )


@pytest.mark.parametrize("policy", ["unwind", "complete", "hold"])
async def test_one_leg_fills_the_policy_acts_and_nothing_is_lost(
    tmp_path: Path, leg_market: Any, policy: str
) -> None:
    driver, first, second = leg_market
    yes, no = first[1], second[1]  # the first leg fills, the second does not
    s = settings(tmp_path, leg_policy=policy, leg_max_loss=LEG_MAX_LOSS, clipper_enabled=False)
    run = EngineDriver(s, universe_of(driver.gamma_markets(), s))
    engine = run.engine
    reports: list[tuple[ExecutionReport, Signal]] = []
    engine.trade_sinks.append(lambda report, signal: reports.append((report, signal)))
    for recv_ns, raw in leg_risk_frames(first, second):
        await run.frame(recv_ns, raw)
    await run.settle()

    [(report, signal)] = reports
    assert signal.size == Decimal(100)
    leg_risk = report.leg_risk
    assert leg_risk is not None
    assert leg_risk.policy == policy
    [orphan] = leg_risk.detected
    assert (orphan.token_id, orphan.shares) == (yes, Decimal(100))
    bought = {
        t: sum(f.size for f in report.fills if f.token_id == t and f.side.value == "BUY")
        for t in (yes, no)
    }
    sold = sum(f.size for f in report.fills if f.token_id == yes and f.side.value == "SELL")
    ledger = engine.ledger
    assert signal.strategy == "negrisk"
    assert report.merged == 0  # a negRisk set is locked until its event resolves
    merged = report.locked
    # Never lost: every YES share bought is still held, was sold, or went into a locked set.
    assert ledger.shares(yes) + sold + merged == bought[yes] == Decimal(100)
    assert ledger.shares(no) + merged == bought[no]
    assert -ledger.realized_pnl <= LEG_MAX_LOSS
    assert leg_risk.loss <= LEG_MAX_LOSS
    if policy == "unwind":
        assert leg_risk.actions == ("unwind",)
        assert (sold, ledger.shares(yes)) == (Decimal(100), Decimal(0))
        assert ledger.realized_pnl == Decimal(100) * (Decimal("0.42") - Decimal("0.45"))
        assert leg_risk.remaining == ()
    elif policy == "complete":
        assert leg_risk.actions == ("complete",)
        assert (bought[no], merged) == (Decimal(100), Decimal(100))
        assert ledger.positions() == []
        # The completed set is locked until the event resolves: its cost (the chain transaction
        # its redeem needs included) is realized then, not now.
        [lock] = ledger.locked_sets()
        assert (lock.qty, lock.cost) == (
            Decimal(100),
            Decimal(45) + Decimal(55) + s.chain_tx_cost_usd,
        )
        assert ledger.realized_pnl == 0
        engine.on_resolved(first[0], yes, "Yes")
        assert ledger.locked_sets() == []
        assert ledger.realized_pnl == Decimal(100) - Decimal(45) - Decimal(55) - s.chain_tx_cost_usd
    else:
        assert leg_risk.actions == ("hold",)
        assert ledger.shares(yes) == Decimal(100)
        assert ledger.cost_basis(yes) == Decimal(45)
        assert [o.token_id for o in leg_risk.remaining] == [yes]
        # ... and it is marked: its unrealized P&L is on the published state.
        engine.on_timer()
        [position] = engine.state().positions
        assert (position.token_id, position.size) == (yes, Decimal(100))


async def test_leg_risk_through_run_replay_trading(tmp_path: Path, leg_market: Any) -> None:
    driver, first, second = leg_market
    yes = first[1]
    recording = write_recording(
        tmp_path / "legs", driver.gamma_markets(), leg_risk_frames(first, second)
    )
    trades_out = tmp_path / "trades.jsonl"
    engines: list[Engine] = []
    summary = await run_replay_trading(
        settings(tmp_path, leg_policy="unwind", leg_max_loss=LEG_MAX_LOSS),
        recording,
        trades_out=trades_out,
        inspect=engines.append,
    )
    [engine] = engines
    assert engine.ledger.positions() == []  # the orphan was sold back, not forgotten
    assert engine.ledger.realized_pnl == Decimal(-3)
    trades = [
        (t["token_id"], t["side"], Decimal(t["price"]), Decimal(t["size"]))
        for t in lines(trades_out)
    ]
    hundred = Decimal(100)
    assert trades == [
        (yes, "BUY", Decimal("0.45"), hundred),
        (yes, "SELL", Decimal("0.42"), hundred),
    ]
    assert summary.realized_pnl == Decimal(-3)
    assert summary.unrealized_pnl == 0


async def test_replay_reports_no_wall_clock_latency_against_recording_time(
    tmp_path: Path, windows_recording: Path
) -> None:
    """Tick-to-decision is wall time from a frame's arrival; a replay's frames carry recording
    times, so wall-clock-minus-recv_ns (months, for an old recording) must not be reported."""
    summary, signals, _ = await replay_to(tmp_path, windows_recording, "latency")
    assert any(s["decision"] == "taken" for s in signals)
    one_second_us = Decimal(1_000_000)
    assert all(value < one_second_us for value in summary.decision_us.values()), summary.decision_us
