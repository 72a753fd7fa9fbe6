"""A CLI that starts at once (issue 9): `polyarb --help` and `polyarb config` do not import the
heavy libraries (SQLAlchemy, Alembic, the HTTP and WebSocket clients, the engine, the store);
the commands import them when they run. The time itself is measured by bench/bench_cli_start.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "sqlalchemy",
    "alembic",
    "httpx",
    "websockets",
    "redis",
    "uvicorn",
    "msgspec",
    "polyarb.engine",
    "polyarb.store",
    "polyarb.marketdata",
    "polyarb.sim",
    "polyarb.bus",
    "pydantic_settings",
    "asyncio",
    # typer coerces a parameter through a pydantic TypeAdapter unless its value is already of
    # its type: the help flag, not given, used to be None and cost ~50 ms (cli/plain_help.py)
    "typer._adapters",
)
PROBE = """
import json, sys
from polyarb.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""


def modules_after(tmp_path: Path, *args: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLY_", "DATABASE", "REDIS"))}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize("args", [("--help",), ("config",), ("db", "--help")])
def test_no_heavy_import_to_start(tmp_path: Path, args: tuple[str, ...]) -> None:
    loaded = modules_after(tmp_path, *args)
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert heavy == []
    assert "structlog" not in loaded  # `config` logs nothing
    assert "rich.markdown" not in loaded  # plain help text
