"""Trading replays (issue 9), through the installed command: a replay needs the recording's
markets, and a replay stopped by SIGTERM or Ctrl-C writes what it produced and says so."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from polyarb.marketdata.recorder import Recorder

from ..engine.replaykit import record_windows
from .test_recordings_cli import TIMEOUT_S, clean_env, error_line, frames_of, polyarb

MS = 1_000_000


@pytest.fixture(scope="module")
def windows_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulator scenario with frequent arbitrage windows, then a long quiet tail (so that a
    replay is still running when it is told to stop)."""
    path = record_windows(tmp_path_factory.mktemp("rec") / "windows")
    markets = json.loads((path / "markets.json").read_text())
    condition = markets[0]["conditionId"]
    token = json.loads(markets[0]["clobTokenIds"])[0]
    last = max(ns for ns, _ in frames_of(path))
    with Recorder(path) as recorder:  # a second part: 250,000 small changes far from the touch
        for i in range(250_000):
            ts = last // MS + 1 + i
            frame = {
                "event_type": "price_change",
                "market": condition,
                "timestamp": str(ts),
                "price_changes": [
                    {"asset_id": token, "side": "BUY", "price": "0.01", "size": str(1 + i % 7)}
                ],
            }
            recorder.write(ts * MS, json.dumps(frame))
    return path


def test_trading_replay_without_markets_is_an_error(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    with Recorder(rec) as recorder:
        recorder.write(1, "PONG")
    out = ("--signals-out", str(tmp_path / "s.jsonl"))
    assert "has no markets.json" in error_line(polyarb(tmp_path, "replay", str(rec), *out))
    (rec / "markets.json").write_text("[]")
    assert "has an empty markets.json" in error_line(polyarb(tmp_path, "replay", str(rec), *out))
    assert "has an empty markets.json" in error_line(polyarb(tmp_path, "run", "--replay", str(rec)))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopped_trading_replay_writes_what_it_produced(
    tmp_path: Path, windows_recording: Path, sig: signal.Signals
) -> None:
    signals, trades = tmp_path / "signals.jsonl", tmp_path / "trades.jsonl"
    command = [sys.executable, "-m", "polyarb", "replay", str(windows_recording), "--json"]
    command += ["--signals-out", str(signals), "--trades-out", str(trades)]
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=clean_env(tmp_path, PAPER_LATENCY_MS="20"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # The replay opens its outputs once start-up is over (imports, settings, the recording's
    # markets: seconds on a loaded machine); a second later it is past the windows part and
    # well into the quiet tail.
    deadline = time.monotonic() + TIMEOUT_S
    while not signals.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    assert process.poll() is None, "the replay ended before it could be stopped"
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    summary = json.loads(stdout)
    assert summary["interrupted"] is True
    assert 0 < summary["frames"] < 250_000
    written_signals = signals.read_text().splitlines()
    assert summary["signals"] > 0
    assert len(written_signals) == summary["signals"]
    assert len(trades.read_text().splitlines()) == summary["fills"] > 0
