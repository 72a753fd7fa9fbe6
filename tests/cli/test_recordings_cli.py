"""Recordings are never damaged (issue 9), through the installed command: a recording folder is
not written into by accident, a damaged part is reported with what was lost, a trading replay
needs its markets, and a stopped trading replay keeps what it produced."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from polyarb.config import Settings
from polyarb.marketdata.recorder import Recorder

from ..engine.replaykit import record_scenario, sim_driver

TIMEOUT_S = 60
MS = 1_000_000


def clean_env(tmp_path: Path, **env: str) -> dict[str, str]:
    known = {name.upper() for name in Settings.model_fields}
    clean = {k: v for k, v in os.environ.items() if k.upper() not in known}
    clean.update(DATA_DIR=str(tmp_path / "data"), SNIPER_ENABLED="false", **env)
    return clean


def polyarb(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polyarb", *args],
        cwd=tmp_path,
        env=clean_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def error_line(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("polyarb: error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def frames_of(folder: Path) -> list[tuple[int, str]]:
    out = []
    for part in sorted(folder.glob("frames*")):
        opener: Any = gzip.open if part.suffix == ".gz" else open
        with opener(part, "rt") as text:
            out += [(r["recv_ns"], r["raw"]) for r in map(json.loads, text)]
    return out


# ------------------------------------------------------------------ writing into a folder


def identities(markets: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(m["conditionId"], m["clobTokenIds"]) for m in markets}


def test_record_refuses_a_non_empty_folder_and_leaves_it_untouched(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "markets.json").write_text('[{"conditionId": "0xkeep"}]')
    (rec / "notes.txt").write_text("mine")
    result = polyarb(tmp_path, "record", str(rec), "--venue", "sim", "--duration", "1")
    line = error_line(result)
    assert "is not empty" in line and "--append" in line and "--force" in line
    assert (rec / "markets.json").read_text() == '[{"conditionId": "0xkeep"}]'
    assert sorted(p.name for p in rec.iterdir()) == ["markets.json", "notes.txt"]


def test_record_append_adds_a_part_and_keeps_markets_force_replaces(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    first = polyarb(tmp_path, "record", str(rec), "--venue", "sim", "--duration", "1")
    assert first.returncode == 0, first.stderr
    markets = json.loads((rec / "markets.json").read_text())
    parts = sorted(p.name for p in rec.glob("frames-*"))
    frames = frames_of(rec)
    assert markets and parts and frames

    again = polyarb(tmp_path, "record", str(rec), "--venue", "sim", "--duration", "1", "--append")
    assert again.returncode == 0, again.stderr
    assert identities(json.loads((rec / "markets.json").read_text())) == identities(markets)
    assert len(sorted(rec.glob("frames-*"))) == len(parts) + 1
    assert frames_of(rec)[: len(frames)] == frames  # the first session's frames untouched

    forced = polyarb(tmp_path, "record", str(rec), "--venue", "sim", "--duration", "1", "--force")
    assert forced.returncode == 0, forced.stderr
    assert len(sorted(rec.glob("frames-*"))) == 1


def test_record_append_refuses_a_market_whose_tokens_changed(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    assert polyarb(tmp_path, "record", str(rec), "--venue", "sim", "--duration", "1").returncode == 0
    markets = json.loads((rec / "markets.json").read_text())
    markets[0]["clobTokenIds"] = json.dumps(["111", "222"])  # the same market, other tokens
    (rec / "markets.json").write_text(json.dumps(markets))
    result = polyarb(tmp_path, "record", str(rec), "--venue", "sim", "--duration", "1", "--append")
    assert "has other tokens than in the recording" in error_line(result)


def test_generate_recording_refuses_a_non_empty_folder_unless_forced(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    args = ("sim", "--generate-recording", str(rec), "--frames", "50", "--markets", "4")
    assert polyarb(tmp_path, *args).returncode == 0
    before = (rec / "frames.jsonl.gz").read_bytes()
    assert "is not empty" in error_line(polyarb(tmp_path, *args, "--seed", "9"))
    assert (rec / "frames.jsonl.gz").read_bytes() == before
    assert "cannot be added to" in error_line(polyarb(tmp_path, *args, "--append"))
    assert polyarb(tmp_path, *args, "--seed", "9", "--force").returncode == 0
    assert (rec / "frames.jsonl.gz").read_bytes() != before


# ------------------------------------------------------------------ damaged parts


def gz_recording(folder: Path, frames: int) -> Path:
    """One gzip part of ``frames`` frames (random text: several read chunks on disk)."""
    folder.mkdir()
    (folder / "markets.json").write_text("[]")
    rng = random.Random(5)
    lines = b"".join(
        json.dumps({"recv_ns": i, "raw": f"PONG {i} {rng.randbytes(24).hex()}"}).encode() + b"\n"
        for i in range(frames)
    )
    (folder / "frames-000001.jsonl.gz").write_bytes(gzip.compress(lines))
    return folder / "frames-000001.jsonl.gz"


def test_truncated_part_is_reported_and_fails(tmp_path: Path) -> None:
    part = gz_recording(tmp_path / "rec", 2000)
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])
    result = polyarb(tmp_path, "replay", str(tmp_path / "rec"))
    assert "the recording is damaged" in error_line(result, code=1)
    assert "damaged part frames-000001.jsonl.gz: unreadable from line" in result.stdout
    assert "the frames after it are lost" in result.stdout

    tolerated = polyarb(tmp_path, "replay", str(tmp_path / "rec"), "--tolerate-damage")
    assert tolerated.returncode == 0, tolerated.stderr
    assert "damaged part frames-000001.jsonl.gz" in tolerated.stdout


def test_bit_flipped_part_reports_how_many_frames_were_lost(tmp_path: Path) -> None:
    part = gz_recording(tmp_path / "rec", 20000)
    data = bytearray(part.read_bytes())
    data[len(data) * 3 // 4] ^= 0xFF
    part.write_bytes(bytes(data))
    result = polyarb(tmp_path, "replay", str(tmp_path / "rec"))
    error_line(result, code=1)
    [damage] = [line for line in result.stdout.splitlines() if line.startswith("damaged part")]
    match = re.search(r"; ([\d,]+) frames read before it, about ([\d,]+) frames lost$", damage)
    assert match, damage
    read, lost = (int(group.replace(",", "")) for group in match.groups())
    assert 10_000 < read < 20_000  # the frames before the damage were kept
    assert abs(read + lost - 20_000) <= 20_000 // 10  # an estimate from the gzip trailer's size


# ------------------------------------------------------------------ trading replays


@pytest.fixture(scope="module")
def windows_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulator scenario with frequent arbitrage windows, then a long quiet tail (so that a
    replay is still running when it is told to stop)."""
    driver = sim_driver(
        seed=17,
        binary_markets=3,
        negrisk_events=1,
        outcomes_per_event=3,
        updates_per_s=300.0,
        window_every_s=1.5,
        closed_markets=0,
    )
    path = tmp_path_factory.mktemp("rec") / "windows"
    record_scenario(path, driver, 12.0)
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
    time.sleep(4.0)  # start-up, the windows part, then well into the quiet tail
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
