"""Output a person can read (issue 9), from the installed command: the summary's money format,
labels and opportunity table; the live table's notes and "N of M shown"; progress bars on a
terminal; pure JSON on stderr with LOG_FORMAT=json."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from polyarb.cli.summary import money, shorten

from ..engine.replaykit import record_windows
from .test_recordings_cli import clean_env

TIMEOUT_S = 90
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")
MONEY = re.compile(r"^-?\$\d{1,3}(,\d{3})*\.\d{2}$")


def on_a_terminal(tmp_path: Path, *args: str, **env: str) -> tuple[int, str, str]:
    """Run ``polyarb ARGS`` with stderr on a pseudo-terminal (as a person sees it)."""
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "polyarb", *args],
        cwd=tmp_path,
        env=clean_env(tmp_path, COLUMNS="160", **env),
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the terminal closed: the process is gone
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    os.close(master)
    stdout = process.communicate(timeout=TIMEOUT_S)[0]
    return process.returncode, stdout, ANSI.sub("", seen.decode("utf-8", "replace"))


@pytest.fixture(scope="module")
def windows_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return record_windows(tmp_path_factory.mktemp("rec") / "windows")


def test_money_and_names_are_formatted_for_people() -> None:
    assert money(Decimal("1234.5678")) == "$1,234.57"
    assert money(Decimal("-0.125")) == "-$0.12"  # half-even, like the ledger's rounding
    assert money(Decimal("0.0049")) == "$0.00"
    assert shorten("Will the Lakers win the 2026 NBA Finals?", 24) == "Will the Lakers win the…"
    assert shorten("Supercalifragilisticexpialidocious", 10) == "Supercali…"
    assert shorten("short", 10) == "short"


def test_trading_replay_summary_reads_well_and_shows_progress(
    tmp_path: Path, windows_recording: Path
) -> None:
    signals = tmp_path / "signals.jsonl"
    code, stdout, terminal = on_a_terminal(
        tmp_path, "replay", str(windows_recording), "--signals-out", str(signals)
    )
    assert code == 0, (stdout, terminal)
    assert "replaying" in terminal  # the progress bar was drawn on the terminal
    assert "frames" in terminal
    assert "Traceback" not in terminal
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip("│┃|").split("│") if c.strip()]
        if len(cells) == 2:
            rows[cells[0]] = cells[1]
    for label in ("realized P&L (this run)", "unrealized P&L (this run)", "fees (this run)"):
        assert MONEY.match(rows[label]), (label, rows.get(label))
    assert rows["signals (this run)"] == f"{len(signals.read_text().splitlines()):,}"
    assert "opportunities (this run)" in stdout
    assert "lifetime ms p50 / p90 / max" in stdout
    assert '{"' not in stdout  # no JSON dumps in the human summary
    first = stdout.lstrip().splitlines()
    assert first[0].strip() == "polyarb run summary"
    assert not re.fullmatch(
        r"[┏┃━┡│ ]*", first[2].replace("┃", "").strip() or "x"
    )  # no empty header


def test_live_table_explains_itself(tmp_path: Path) -> None:
    code, _, terminal = on_a_terminal(tmp_path, "run", "--venue", "sim", "--duration", "4")
    assert code == 0, terminal
    assert "levels: price levels held, bids/asks" in terminal
    assert "age ms: since the book last changed" in terminal
    shown = re.search(r"books \((\d+) of (\d+) markets shown\)", terminal)
    assert shown, terminal[-3000:]
    assert int(shown.group(1)) < int(shown.group(2))
    assert re.search(r"realized P&L -?\$\d+\.\d{2}", terminal)


def test_json_logs_leave_stderr_pure_json(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "polyarb", "run", "--venue", "sim", "--duration", "2"],
        cwd=tmp_path,
        env=clean_env(tmp_path, LOG_FORMAT="json"),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert lines, "the engine logs its start"
    for line in lines:
        assert isinstance(json.loads(line), dict), line
    assert "polyarb run summary" in result.stdout
