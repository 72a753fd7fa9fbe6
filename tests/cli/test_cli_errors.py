"""One-line errors everywhere (issue 9): every command given bad arguments or an unusable place
to work answers with exactly one line on stderr, ``polyarb: error: …``, exit code 2 (the README's
promise), and never a traceback or a boxed usage message."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from polyarb.config import Settings
from polyarb.marketdata.recorder import Recorder

TIMEOUT_S = 90


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    expected: str  # a part of the error line
    env: dict[str, str] = field(default_factory=dict)


# {rec}: a small recording, {out}: a folder, {file}: a plain file, {fresh}: a new DATA_DIR.
CASES: dict[str, Case] = {
    "unknown-option": Case(("--bogus",), "No such option: --bogus"),
    "unknown-command": Case(("nosuch",), "No such command 'nosuch'"),
    "run-venue": Case(("run", "--venue", "moon"), "'moon'; accepted: polymarket, sim"),
    "run-duration": Case(("run", "--duration", "soon"), "Invalid value for '--duration'"),
    "run-replay-missing": Case(("run", "--replay", "{out}/nope"), "nope"),
    "run-data-dir-unusable": Case(
        ("run", "--venue", "sim", "--duration", "1", "--no-display"),
        "/proc/polyarb",
        {"DATA_DIR": "/proc/polyarb"},
    ),
    "replay-no-folder": Case(("replay",), "Missing argument 'directory'"),
    "replay-missing-folder": Case(("replay", "{out}/nope"), "recording folder not found"),
    "replay-speed": Case(("replay", "{rec}", "--speed", "0"), "replay speed must be a positive"),
    "replay-signals-out-folder": Case(
        ("replay", "{rec}", "--signals-out", "{out}"), "it is a folder (give a file name)"
    ),
    "replay-books-out-folder": Case(
        ("replay", "{rec}", "--books-out", "{out}"), "it is a folder (give a file name)"
    ),
    "record-no-folder": Case(("record",), "Missing argument 'out_dir'"),
    "record-venue": Case(("record", "{out}/r", "--venue", "moon"), "Invalid value for '--venue'"),
    "record-append-force": Case(
        ("record", "{out}/r", "--append", "--force"), "--append and --force exclude each other"
    ),
    "record-into-file": Case(("record", "{file}"), "it is not a folder"),
    "markets-limit": Case(("markets", "--limit", "0"), "Invalid value for '--limit'"),
    "markets-venue": Case(("markets", "--venue", "moon"), "Invalid value for '--venue'"),
    "config-option": Case(("config", "--yaml"), "No such option: --yaml"),
    "config-data-dir-file": Case(("config",), "is a file, not a folder", {"DATA_DIR": "{file}"}),
    "ctl-action": Case(("ctl", "explode"), "'explode'; accepted: pause, resume"),
    "ctl-no-redis": Case(("ctl", "pause"), "REDIS_URL is not set"),
    "sim-port": Case(("sim", "--port", "http"), "--port must be an integer"),
    "sim-recording": Case(("sim", "--recording", "{out}/nope"), "no markets.json there"),
    "sim-generate-into-file": Case(
        ("sim", "--generate-recording", "{file}", "--frames", "5", "--markets", "2"),
        "it is not a folder",
    ),
    "db-prune-missing-option": Case(("db", "prune"), "Missing option '--older-than'"),
    "db-prune-inf": Case(("db", "prune", "--older-than", "inf"), "inf days; give a number"),
    "db-prune-unmigrated": Case(
        ("db", "prune", "--older-than", "30"), "run `polyarb db upgrade` first"
    ),
    "db-export-unmigrated": Case(("db", "export-trades", "-"), "run `polyarb db upgrade` first"),
    "db-export-since": Case(
        ("db", "export-trades", "-", "--since", "2024-13-01"), "expected a day as YYYY-MM-DD"
    ),
    "db-export-mode": Case(("db", "export-trades", "-", "--mode", "real"), "'real'; accepted"),
    "db-upgrade-revision": Case(
        ("db", "upgrade", "--revision", "bogus"), "cannot upgrade to revision 'bogus'"
    ),
    "db-current-data-dir-file": Case(
        ("db", "current"), "is a file, not a folder", {"DATA_DIR": "{file}"}
    ),
}


def _env(places: dict[str, str], extra: dict[str, str], data_dir: Path) -> dict[str, str]:
    known = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in known}
    env["DATA_DIR"] = str(data_dir)
    env.update({k: v.format(**places) for k, v in extra.items()})
    return env


Results = dict[str, subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    """Every case run once, a few at a time (each is a fresh process of the installed command)."""
    root = tmp_path_factory.mktemp("errors")
    rec = root / "rec"
    with Recorder(rec) as recorder:
        recorder.write_markets([{"conditionId": "0xdd", "question": "?"}])
        recorder.write(1, "PONG")
    (root / "out").mkdir()
    (root / "file").write_text("not a folder")
    places = {"rec": str(rec), "out": str(root / "out"), "file": str(root / "file")}

    def run(name: str) -> subprocess.CompletedProcess[str]:
        case = CASES[name]
        data_dir = root / "data" / name  # each its own (fresh, un-migrated) database
        return subprocess.run(
            [sys.executable, "-m", "polyarb", *(a.format(**places) for a in case.args)],
            cwd=root,
            env=_env(places, case.env, data_dir),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(CASES, pool.map(run, CASES), strict=True))


@pytest.mark.parametrize("name", list(CASES))
def test_bad_arguments_are_one_line_exit_2(results: Results, name: str) -> None:
    result = results[name]
    assert "Traceback" not in result.stderr, result.stderr
    assert "╭" not in result.stderr, result.stderr  # no boxed usage message
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("polyarb: error: "), lines[0]
    assert CASES[name].expected in lines[0], lines[0]
    assert result.returncode == 2, (result.returncode, result.stderr)


def test_group_without_a_command_prints_its_help_and_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "polyarb", "db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 2
    assert "Commands:" in result.stdout
    assert "Traceback" not in result.stderr


def test_closed_output_pipe_ends_export_quietly(tmp_path: Path) -> None:
    env = _env({}, {}, tmp_path / "data")
    upgrade = [sys.executable, "-m", "polyarb", "db", "upgrade"]
    subprocess.run(upgrade, cwd=tmp_path, env=env, check=True, capture_output=True)
    read, write = os.pipe()
    os.close(read)  # `| head -0`: the reader is gone before anything is written
    try:
        result = subprocess.run(
            [sys.executable, "-m", "polyarb", "db", "export-trades", "-"],
            cwd=tmp_path,
            env=env,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    finally:
        os.close(write)
    assert result.stderr == ""
    assert result.returncode == 0
