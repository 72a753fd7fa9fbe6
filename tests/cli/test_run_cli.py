"""`polyarb run` refusing bad input the way users meet it: the installed command in a process,
a clear error on stderr, exit code 2, never a traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.envs import settings_free_env

TIMEOUT_S = 60


def polyarb_run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = settings_free_env("DRY_RUN")
    clean.update(DATA_DIR=str(tmp_path / "data"), **env)
    return subprocess.run(
        [sys.executable, "-m", "polyarb", "run", *args],
        cwd=tmp_path,  # no .env here
        env=clean,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("polyarb: error:")]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


def test_unknown_venue(tmp_path: Path) -> None:
    result = polyarb_run(tmp_path, "--venue", "nasdaq", "--no-display")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    # typer's usage error: the reason fits on one line and names what is accepted.
    [reason] = [
        line for line in result.stderr.splitlines() if "--venue" in line and "nasdaq" in line
    ]
    assert "accepted: polymarket, sim" in reason
    assert result.stdout == ""


def test_dry_run_must_be_true_or_false(tmp_path: Path) -> None:
    result = polyarb_run(tmp_path, "--venue", "sim", "--no-display", DRY_RUN="yes")
    assert result.returncode == 2
    [line] = error_lines(result)
    assert "DRY_RUN" in line
    assert "true or false" in line
    assert "'yes'" in line
    assert result.stdout == ""


def test_unreachable_venue(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = polyarb_run(tmp_path, "--no-display", POLY_GAMMA_URL=url)
    assert result.returncode == 2
    [line] = error_lines(result)
    assert url in line
    assert "unreachable" in line
    assert result.stdout == ""


def test_replay_of_a_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-recording"
    result = polyarb_run(tmp_path, "--replay", str(missing))
    assert result.returncode == 2
    [line] = error_lines(result)
    assert str(missing) in line
    assert "not found" in line
    assert result.stdout == ""
