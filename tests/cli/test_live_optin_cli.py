"""Live opt-in (issue 14 item 7): `polyarb run` with DRY_RUN=false refuses, in one line naming
the missing condition, unless paper is off, the credentials are present, the database is a live
one and LIVE_TRADING_CONFIRM says I-understand-real-money; when all hold it prints what it will
do and the limits in force. The wallet's key never appears in any output."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from polyarb.config import Settings

KEY = "0x" + "c0ffee" * 10 + "abcd"
LIVE_OK = {
    "DRY_RUN": "false",
    "SUMTO100_PAPER_TRADING": "false",
    "POLY_PRIVATE_KEY": KEY,
    "DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/polyarb_live_gate",
    "LIVE_TRADING_CONFIRM": "I-understand-real-money",
}
# one broken condition each -> a part of the one error line
REFUSALS: dict[str, tuple[dict[str, str], str]] = {
    "paper-on": ({"SUMTO100_PAPER_TRADING": "true"}, "ambiguous"),
    "no-key": ({"POLY_PRIVATE_KEY": ""}, "live trading needs POLY_PRIVATE_KEY"),
    "bad-key": ({"POLY_PRIVATE_KEY": "0x1234"}, "POLY_PRIVATE_KEY is not a 32-byte hex key"),
    "partial-creds": ({"POLY_API_KEY": "a-key-only"}, "set all of POLY_API_KEY, POLY_API_SECRET"),
    "safe-no-funder": ({"POLY_SIGNATURE_TYPE": "2"}, "(POLY_GNOSIS_SAFE) needs POLY_FUNDER"),
    "no-database": ({"DATABASE_URL": ""}, "live trading needs a live database"),
    "sqlite": ({"DATABASE_URL": "sqlite+aiosqlite:///live.db"}, "needs a live database"),
    "no-confirm": ({"LIVE_TRADING_CONFIRM": ""}, "LIVE_TRADING_CONFIRM=I-understand-real-money"),
    "wrong-confirm": ({"LIVE_TRADING_CONFIRM": "yes"}, "LIVE_TRADING_CONFIRM=I-understand-real"),
}


def _run(root: Path, changes: dict[str, str]) -> subprocess.CompletedProcess[str]:
    known = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in known}
    env.update({**LIVE_OK, "DATA_DIR": str(root / "data"), "HEALTH_PORT": "0", **changes})
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "polyarb",
            "run",
            "--venue",
            "sim",
            "--duration",
            "1",
            "--no-display",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@pytest.fixture(scope="module")
def results(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("live")
    cases = {name: changes for name, (changes, _) in REFUSALS.items()}
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(cases, pool.map(lambda c: _run(root, c), cases.values()), strict=True))


@pytest.mark.parametrize("name", list(REFUSALS))
def test_each_missing_condition_is_refused_in_one_line(
    results: dict[str, subprocess.CompletedProcess[str]], name: str
) -> None:
    result = results[name]
    assert result.stderr.splitlines() == [result.stderr.strip()], result.stderr
    assert result.stderr.startswith("polyarb: error: "), result.stderr
    assert REFUSALS[name][1] in result.stderr
    assert result.returncode == 2
    assert KEY[2:] not in result.stdout + result.stderr


def test_with_every_condition_met_it_says_what_it_will_do_then_trades_live(
    tmp_path: Path, postgres_url: str
) -> None:
    result = _run(tmp_path, {"DATABASE_URL": postgres_url, "API_ENABLED": "false"})
    out = result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "LIVE TRADING: orders will be signed and sent" in out
    assert "venue          the simulator (--venue sim)" in out
    assert "limits         position 100 shares/token" in out
    assert "daily loss $200" in out
    assert "signer         0x" in out
    assert KEY[2:] not in result.stdout + out
    # the engine runs the live executor on the simulator's CLOB: an API key derived with L1,
    # heartbeats, and a reconciliation with the venue before anything trades
    heartbeat = out.index("heartbeat ok; submitting allowed")
    reconciled = out.index("reconciled: 0 venue trades")
    assert heartbeat < reconciled < out.index("feed_ready")
