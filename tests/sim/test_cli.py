"""`polyarb sim`: serving until SIGTERM, writing a recording, refusing bad arguments."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import structlog
from tests.recording_lines import frame_records
from typer.testing import CliRunner

from polyarb.cli import app


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    """The command points structlog at CliRunner's stderr, which is closed afterwards."""
    yield
    structlog.reset_defaults()


def test_generate_recording_command(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    result = CliRunner().invoke(
        app, ["sim", "--generate-recording", str(out), "--frames", "700", "--markets", "10"]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 700 frames of 10 markets" in result.output
    assert len(frame_records(out / "frames.jsonl.gz")) == 700
    assert (out / "markets.json").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "abc"], "--port must be an integer"),
        (["--port", "70000"], "--port must be <= 65535"),
        (["--rate", "0"], "--rate must be >= 0.001"),
        (["--speed", "fast"], "--speed must be a number"),
        (["--negrisk", "-2"], "--negrisk must be >= 0"),
        (["--recording", "nowhere"], "no markets.json"),
        (["--generate-recording", "x", "--frames", "0"], "--frames must be >= 1"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["sim", *args])
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("polyarb: error: ")
    assert message in line


def test_sim_serves_until_sigterm() -> None:
    command = [
        sys.executable,
        "-m",
        "polyarb",
        "sim",
        "--port",
        "0",
        "--binary",
        "2",
        "--negrisk",
        "0",
        "--games",
        "1",
        "--window-every",
        "1",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        urls: dict[str, str] = {}
        deadline = time.monotonic() + 30
        assert process.stdout is not None
        while len(urls) < 5 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            for name in ("CLOB WS", "CLOB REST", "Gamma", "ESPN", "Polygon"):
                if line.strip().startswith(name):
                    urls[name] = line.split()[-1]
        assert urls["CLOB WS"].startswith("ws://127.0.0.1:")
        assert urls["CLOB WS"].endswith("/ws/market")
        assert httpx.get(f"{urls['CLOB REST']}/ok").status_code == 200
        markets = httpx.get(f"{urls['Gamma']}/markets").json()
        assert len(markets) == 2 + 1 + 1  # binaries, the moneyline, a closed market
        board = httpx.get(f"{urls['ESPN']}/apis/site/v2/sports/basketball/nba/scoreboard").json()
        assert len(board["events"]) == 1
        chain_id = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        assert httpx.post(urls["Polygon"], json=chain_id).json()["result"] == "0x89"
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=20)
        assert process.returncode == 0
        assert "simulator stopped" in rest
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
