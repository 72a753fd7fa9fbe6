"""`polyarb record`: the simulator recorded through the CLI (CliRunner and a real process)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from polyarb.cli import app
from polyarb.marketdata.gamma import parse_market
from polyarb.marketdata.recorder import (
    Recorder,
    frame_files,
    iter_recording,
    load_recording_markets,
)
from polyarb.sim.server import SimServer


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    # The command points structlog at the CliRunner's captured stderr; undo that afterwards.
    yield
    structlog.reset_defaults()


def recorded_tokens(out: Path) -> set[str]:
    tokens: set[str] = set()
    for raw in load_recording_markets(out):
        tokens.update(parse_market(raw).token_ids)
    return tokens


def check_recording(out: Path) -> list[tuple[int, str]]:
    """Every line parses, receive times never go back, frames are the venue's JSON."""
    frames = list(iter_recording(out))
    assert frames, "no frame recorded"
    tokens = recorded_tokens(out)
    assert tokens
    previous = 0
    for recv_ns, raw in frames:
        assert recv_ns >= previous
        previous = recv_ns
        assert raw != "PONG"  # heartbeats are not market data
        decoded = json.loads(raw)
        for item in decoded if isinstance(decoded, list) else [decoded]:
            asset = item.get("asset_id")
            assert asset is None or asset in tokens
    first = json.loads(frames[0][1])
    assert isinstance(first, list)
    assert first
    assert {item["event_type"] for item in first} == {"book"}
    return frames


def test_record_sim_writes_markets_and_frames_and_never_truncates(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    runner = CliRunner()
    base = ["record", str(out), "--venue", "sim", "--max-markets", "3"]
    result = runner.invoke(app, [*base, "--duration", "2"])
    assert result.exit_code == 0, result.output
    assert "recorded" in result.stdout
    markets = load_recording_markets(out)
    assert 1 <= len(markets) <= 3
    assert all("clobTokenIds" in m and "conditionId" in m for m in markets)
    first_files = frame_files(out)
    frames = check_recording(out)
    # The snapshot array, then the updates the simulator streams (several per second here).
    assert sum('"price_change"' in raw for _, raw in frames) >= 2
    contents = {path: path.read_bytes() for path in first_files}

    # A second session into the same folder (--append) adds a new part; the old bytes stay.
    result = runner.invoke(app, [*base, "--duration", "0.5", "--append"])
    assert result.exit_code == 0, result.output
    for path, content in contents.items():
        assert path.read_bytes() == content
    assert len(frame_files(out)) > len(first_files)
    assert len(check_recording(out)) > len(frames)


def test_record_selected_tokens_only(tmp_path: Path) -> None:
    # The command's simulator runs the default scenario, whose token ids are seeded.
    token = SimServer().token_ids()[3]
    selected = tmp_path / "one"
    result = CliRunner().invoke(
        app, ["record", str(selected), "--venue", "sim", "--duration", "0.8", "--tokens", token]
    )
    assert result.exit_code == 0, result.output
    markets = load_recording_markets(selected)
    assert len(markets) == 1
    market_tokens = set(parse_market(markets[0]).token_ids)
    assert token in market_tokens
    frames = list(iter_recording(selected))
    assert frames
    assert [b["asset_id"] for b in json.loads(frames[0][1])] == [token]  # subscribed alone
    for _, raw in frames:
        decoded = json.loads(raw)
        items = decoded if isinstance(decoded, list) else [decoded]
        for item in items:
            # A price_change names both tokens of the market (one mirrored matching book).
            entries = item.get("price_changes") or [item]
            assert {e.get("asset_id") for e in entries} <= market_tokens | {None}


def test_unreachable_venue_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("POLY_CLOB_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("POLY_GAMMA_URL", f"http://127.0.0.1:{port}/gamma")
    monkeypatch.setenv("POLY_HTTP_TIMEOUT_S", "2")
    result = CliRunner().invoke(app, ["record", str(tmp_path / "rec"), "--duration", "1"])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("polyarb: error:")]
    assert len(lines) == 1
    assert "cannot reach the CLOB" in lines[0]
    assert f"127.0.0.1:{port}" in lines[0]
    assert "Traceback" not in result.output


def test_a_failing_disk_stops_the_recording_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(self: Recorder, recv_ns: int, raw: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Recorder, "write", disk_full)
    # Were it to record on until the duration, the test's timeout would end it first.
    args = ["record", str(tmp_path / "rec"), "--venue", "sim", "--duration", "3600"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2  # it stopped at the failure
    lines = [line for line in result.stderr.splitlines() if line.startswith("polyarb: error:")]
    assert len(lines) == 1
    assert "recording failed" in lines[0]
    assert "No space left on device" in lines[0]


def test_sigint_stops_cleanly_with_every_frame_on_disk(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "polyarb", "record", str(out), "--venue", "sim"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while not (out.is_dir() and any(out.glob("frames-*"))):
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "the recorder never started"
            time.sleep(0.1)
        # Interrupted while frames are being written, once some are on disk.
        while sum(f.stat().st_size for f in out.glob("frames-*")) < 4096:
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "the recorder wrote no frames"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr.decode()[-2000:]
    assert b"recorded" in stdout
    # A clean close writes the gzip trailer: the whole part decompresses without error.
    import gzip

    for part in frame_files(out):
        with gzip.open(part, "rb") as f:
            data = f.read()
        assert data.endswith(b"\n")
    check_recording(out)
