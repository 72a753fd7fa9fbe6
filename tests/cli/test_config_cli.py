"""Configuration means what it says (issue 9): every case a user meets is one clear line on
stderr and exit code 2 from the installed command, never a silent default or a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from polyarb.config import NOT_YET_USED, SNIPER_LEAGUE_KEYS, Settings
from polyarb.marketdata.espn import LEAGUE_PATHS

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / ".env.example"
TIMEOUT_S = 60


def polyarb(
    tmp_path: Path, *args: str, env_file: bytes | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """`polyarb ARGS` in ``tmp_path`` (with ``env_file`` as its .env), none of our variables
    inherited from the test's environment."""
    known = {name.upper() for name in Settings.model_fields}
    clean = {k: v for k, v in os.environ.items() if k.upper() not in known}
    clean.update(DATA_DIR=str(tmp_path / "data"), **env)
    if env_file is not None:
        (tmp_path / ".env").write_bytes(env_file)
    return subprocess.run(
        [sys.executable, "-m", "polyarb", *args],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a refused configuration (asserting exit 2, no traceback)."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("polyarb: error: "), lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("env_file", "env", "expected"),
    [
        pytest.param(
            b"RISK_MAX_DAILY_LOSS 50\n",
            {},
            r"\.env line 1: expected NAME=value, got 'RISK_MAX_DAILY_LOSS 50'",
            id="dotenv-line-without-equals",
        ),
        pytest.param(
            b"# limits\nRISK_MAX_DAILY_LOSS=50\nSUMTO100_MIN_EDGE=0.01 \xe9\n",
            {},
            r"\.env is not UTF-8 text \(byte 0xe9 on line 3\)",
            id="dotenv-not-utf8",
        ),
        pytest.param(
            b"PAPER_TRADING=false\nSUMTO100_PAPER_TRADING=true\n",
            {},
            r"PAPER_TRADING and SUMTO100_PAPER_TRADING disagree",
            id="paper-trading-disagree-in-dotenv",
        ),
        pytest.param(
            None,
            {"DATABSE_URL": "postgresql+asyncpg://u@h/db"},
            r"unknown setting\(s\) in the environment: DATABSE_URL \(did you mean DATABASE_URL\?\)",
            id="typo-in-environment",
        ),
        pytest.param(
            None,
            {"RISK_MAX_DAILY_LOS": "50"},
            r"RISK_MAX_DAILY_LOS \(did you mean RISK_MAX_DAILY_LOSS\?\)",
            id="typo-with-our-prefix",
        ),
        pytest.param(
            b"DATABSE_URL=postgresql+asyncpg://u@h/db\n",
            {},
            r"DATABSE_URL: unknown setting \(in \.env\); did you mean DATABASE_URL\?",
            id="typo-in-dotenv",
        ),
        pytest.param(
            None,
            {"DATABASE_URL": "postgresql+asyncpg://"},
            r"DATABASE_URL: a PostgreSQL URL must name its database",
            id="postgres-url-without-database",
        ),
        pytest.param(
            None,
            {"DATABASE_URL": "postgresql+asyncpg://trader:hunter2@db.example:5432/"},
            r"DATABASE_URL: a PostgreSQL URL must name its database",
            id="postgres-url-with-slash-only",
        ),
        pytest.param(
            None,
            {"SNIPER_LEAGUES": "nba,cricket"},
            r"SNIPER_LEAGUES: unknown league\(s\) cricket; accepted: nba, wnba",
            id="sniper-league-unknown",
        ),
    ],
)
def test_bad_configuration_is_one_line(
    tmp_path: Path, env_file: bytes | None, env: dict[str, str], expected: str
) -> None:
    line = one_error_line(polyarb(tmp_path, "config", env_file=env_file, **env))
    assert re.search(expected, line), line
    assert "hunter2" not in line  # a URL's password is never echoed back


def test_the_same_settings_written_correctly_are_accepted(tmp_path: Path) -> None:
    env_file = (
        b"# comment\n\nexport RISK_MAX_DAILY_LOSS=50\nSUMTO100_MIN_EDGE='0.01'\n"
        b'PAPER_TRADING=true  # same as below\nSUMTO100_PAPER_TRADING="true"\n'
        b"SNIPER_LEAGUES=NBA, epl\n"
    )
    result = polyarb(
        tmp_path,
        "config",
        "--json",
        env_file=env_file,
        DATABASE_URL="postgresql+asyncpg://trader@db.example:5432/polyarb",
    )
    assert result.returncode == 0, result.stderr
    assert '"RISK_MAX_DAILY_LOSS": "50"' in result.stdout
    assert '"SUMTO100_MIN_EDGE": "0.01"' in result.stdout
    assert '"SNIPER_LEAGUES": "nba,epl"' in result.stdout
    assert '"MODE": "paper"' in result.stdout


def test_environment_variables_far_from_ours_are_ignored(tmp_path: Path) -> None:
    result = polyarb(tmp_path, "config", DATABASE_HOST="x", REDIS_PASSWORD="y", LOGNAME="z")
    assert result.returncode == 0, result.stderr


def test_sniper_league_keys_are_the_scoreboard_leagues() -> None:
    assert set(SNIPER_LEAGUE_KEYS) == set(LEAGUE_PATHS)


def _read_by_code(name: str) -> bool:
    """Whether anything but the settings module names setting ``name`` (lower case)."""
    pattern = re.compile(rf"\b{name}\b")
    for path in (ROOT / "src" / "polyarb").rglob("*.py"):
        if path.name == "config.py" and path.parent.name == "polyarb":
            continue
        if pattern.search(path.read_text(encoding="utf-8")):
            return True
    return False


def _documentation(text: str) -> dict[str, str]:
    """Each variable of .env.example with the comment block above it (variables listed under
    one comment share it)."""
    docs: dict[str, str] = {}
    block: list[str] = []
    after_variable = False
    for line in text.splitlines():
        match = re.match(r"^#?\s?([A-Z][A-Z0-9_]+)=", line)
        if match:
            docs[match.group(1)] = " ".join(block)
            after_variable = True
        elif line.startswith("#"):
            block = [line] if after_variable else [*block, line]
            after_variable = False
        else:
            block, after_variable = [], False
    return docs


def test_settings_read_by_nothing_are_marked_not_yet_used(tmp_path: Path) -> None:
    docs = _documentation(ENV_EXAMPLE.read_text())
    marked = {name for name, doc in docs.items() if "not yet used" in doc.lower()}
    assert marked == {name.upper() for name in NOT_YET_USED}
    still_unread = [name for name in NOT_YET_USED if not _read_by_code(name)]
    assert still_unread == list(NOT_YET_USED), "wired now: drop it from NOT_YET_USED"
    shown = polyarb(tmp_path, "config").stdout.splitlines()
    for line in shown:
        name = line.split(" ", 1)[0]
        assert line.endswith("(not yet used)") == (name in marked), line
