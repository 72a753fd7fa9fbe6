"""negRisk through the engine (issue 8, items 4-5): conversion windows of the simulator replayed
into conversions and their P&L; augmented events are no YES sets; a locked set is paid by what
actually resolved."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from polyarb.config import Settings, load_settings
from polyarb.engine.runner import RunSummary, run_replay_trading
from polyarb.marketdata.recorder import RecordingReader
from polyarb.sim import ArbWindow

from .replaykit import EngineDriver, record_scenario, sim_driver, universe_of

D = Decimal
OUTCOMES = 3


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {"data_dir": tmp_path, "paper_latency_ms": 20, "sniper_enabled": False}
    base.update(overrides)
    return load_settings(None, **base)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def window(kind: str, start_s: float) -> ArbWindow:
    return ArbWindow(
        kind=kind,  # type: ignore[arg-type]
        target=0,
        start_s=start_s,
        duration_s=3.0,
        edge=D("0.06"),
        depth=D(200),
    )


def driver(*windows: ArbWindow) -> Any:
    return sim_driver(
        seed=23,
        binary_markets=0,
        negrisk_events=1,
        outcomes_per_event=OUTCOMES,
        updates_per_s=200.0,
        windows=windows,
        closed_markets=0,
    )


@pytest.fixture(scope="module")
def convert_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 s of one negRisk event with a conversion window from 2 s to 5 s."""
    path = tmp_path_factory.mktemp("rec") / "convert"
    record_scenario(path, driver(window("negrisk_convert", 2.0)), 8.0)
    return path


async def test_a_conversion_window_is_bought_and_converted(
    tmp_path: Path, convert_recording: Path
) -> None:
    signals_out, trades_out = tmp_path / "signals.jsonl", tmp_path / "trades.jsonl"
    summary: RunSummary = await run_replay_trading(
        settings(tmp_path), convert_recording, signals_out=signals_out, trades_out=trades_out
    )
    taken = {
        s["signal_id"]: s
        for s in lines(signals_out)
        if s["decision"] == "taken" and s["strategy"] == "neg_risk_convert"
    }
    # The window (2 s to 5 s) is found: NO of the three outcomes for n - 1 - 0.06 a set.
    # The chain transaction (CHAIN_TX_COST_USD, 0.01) is spread over the sets bought.
    assert any(D(s["edge"]) == D("0.06") - D("0.01") / D(s["size"]) for s in taken.values())
    trades = [t for t in lines(trades_out) if t["signal_id"] in taken]
    assert trades
    # Independently of the ledger: the sets every taken signal bought on all of its NO legs
    # were converted into n - 1 dollars a set. The simulator's windows are unfenced and other
    # traders take them (wip/honest), so a leg can fill short: the surplus of the other legs is
    # then unwound (leg policy "unwind": SELLs of that surplus only, never of converted shares).
    by_signal: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for trade in trades:
        by_signal[trade["signal_id"]].append(trade)
    held: dict[str, tuple[Decimal, Decimal]] = defaultdict(lambda: (D(0), D(0)))  # shares, cost
    realized = D(0)
    converted = D(0)
    complete = 0
    for signal_id, fills in by_signal.items():
        bought: dict[str, Decimal] = defaultdict(Decimal)
        for f in fills:
            if f["side"] == "BUY":
                bought[f["token_id"]] += D(f["size"])
                shares, cost = held[f["token_id"]]
                held[f["token_id"]] = (
                    shares + D(f["size"]),
                    cost + D(f["price"]) * D(f["size"]) + D(f["fee"]),
                )
        assert sorted(bought) == sorted(leg["token_id"] for leg in taken[signal_id]["legs"])
        assert len(bought) == OUTCOMES
        sets = min(bought.values())
        sold: dict[str, Decimal] = defaultdict(Decimal)
        for f in fills:
            if f["side"] == "SELL":
                token, size = f["token_id"], D(f["size"])
                sold[token] += size
                assert sold[token] <= bought[token] - sets, "only the surplus is unwound"
                shares, cost = held[token]
                basis = cost * size / shares
                realized += D(f["price"]) * size - D(f["fee"]) - basis
                held[token] = (shares - size, cost - basis)
        complete += not sold and len(set(bought.values())) == 1
        basis = D(0)
        for token in bought:
            shares, cost = held[token]
            basis += cost * sets / shares
            held[token] = (shares - sets, cost - cost * sets / shares)
        realized += (OUTCOMES - 1) * sets - basis - D("0.01")  # one CHAIN_TX_COST_USD a conversion
        converted += sets
    assert complete >= 1  # the window is bought in full at least once
    assert realized > 0
    row = summary.strategies["neg_risk_convert"]
    assert abs(D(row["realized_pnl"]) - realized) < D("1e-9")
    assert D(row["sets_converted"]) == converted
    assert "sets_locked" not in row  # nothing waits for a resolution
    assert summary.opportunities["neg_risk_convert"]["by_outcome"]


async def test_replay_cli_shows_conversions_per_strategy(convert_recording: Path) -> None:
    ours = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in ours}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "polyarb",
        "replay",
        str(convert_recording),
        "--signals-out",
        os.devnull,
        "--trades-out",
        os.devnull,
        "--json",
        env={**env, "SNIPER_ENABLED": "false", "PAPER_LATENCY_MS": "20"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    data = json.loads(out)
    row = data["strategies"]["neg_risk_convert"]
    assert D(row["sets_converted"]) > 0
    assert D(row["realized_pnl"]) > 0


async def test_an_augmented_event_is_no_yes_set(tmp_path: Path) -> None:
    """The same YES-set window on an augmented event: a placeholder may win, nothing is bought."""
    sim = driver(window("negrisk", 1.0))
    plain = tmp_path / "plain"
    record_scenario(plain, sim, 5.0)
    summary = await run_replay_trading(settings(tmp_path, negrisk_convert_enabled=False), plain)
    assert summary.strategies["negrisk"].get("sets_locked")

    sim = driver(window("negrisk", 1.0))
    augmented = tmp_path / "augmented"
    record_scenario(augmented, sim, 5.0)
    raw = json.loads((augmented / "markets.json").read_text())
    for market in raw:
        market["events"][0]["negRiskAugmented"] = True
    (augmented / "markets.json").write_text(json.dumps(raw))
    summary = await run_replay_trading(settings(tmp_path, negrisk_convert_enabled=False), augmented)
    assert summary.taken == 0
    assert "sets_locked" not in summary.strategies["negrisk"]


async def test_a_locked_set_whose_winner_was_outside_it_is_released(tmp_path: Path) -> None:
    """Every outcome of the set resolves NO (the event's winner was not in it): the lock is
    released at its loss and leaves risk, instead of staying booked at $1."""
    sim = driver(window("negrisk", 1.0))
    rec = tmp_path / "rec"
    record_scenario(rec, sim, 5.0)
    s = settings(tmp_path, negrisk_convert_enabled=False)
    run = EngineDriver(s, universe_of(sim.gamma_markets(), s))
    for recv_ns, raw in RecordingReader(rec):
        await run.frame(recv_ns, raw)
    await run.settle()
    engine = run.engine
    [lock] = engine.ledger.locked_sets()
    assert engine.ledger.unrealized_pnl() > 0  # a sure dollar a set, as long as it is one
    [event] = engine.universe.events
    before = engine.ledger.realized_pnl
    for market in event.markets[:-1]:
        engine.on_resolved(market.condition_id, market.outcomes[1].token_id, "No")
        assert len(engine.ledger.locked_sets()) == 1
    last = event.markets[-1]
    engine.on_resolved(last.condition_id, last.outcomes[1].token_id, "No")
    assert engine.ledger.locked_sets() == []
    assert engine.ledger.realized_pnl == before - lock.cost
    assert engine.ledger.unrealized_pnl() == 0
    assert not any(engine.risk.positions().get(t) for t in lock.token_ids)
    assert engine.risk.exposure() == 0
