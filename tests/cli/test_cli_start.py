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

from polyarb.cli import COMMAND_MODULES, app

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


def python(tmp_path: Path, *args: str) -> str:
    """stdout of a fresh ``python ARGS`` in ``tmp_path`` (no settings of the developer's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLY_", "DATABASE", "REDIS"))}
    result = subprocess.run(
        [sys.executable, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def modules_after(tmp_path: Path, *args: str) -> set[str]:
    return set(json.loads(python(tmp_path, "-c", PROBE, *args).splitlines()[-1]))


@pytest.mark.parametrize("args", [("--help",), ("config",), ("db", "--help")])
def test_no_heavy_import_to_start(tmp_path: Path, args: tuple[str, ...]) -> None:
    loaded = modules_after(tmp_path, *args)
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert heavy == []
    assert "structlog" not in loaded  # `config` logs nothing
    assert "rich.markdown" not in loaded  # plain help text


def test_a_command_imports_only_its_own_module(tmp_path: Path) -> None:
    """`polyarb config` registers (imports) the config command alone; `db --help` the db group
    alone; the help without a command lists every command."""
    command_modules = {f"polyarb.cli.{m}" for m in COMMAND_MODULES.values()}
    for args, own in ((("config",), "config_cmd"), (("db", "--help"), "db_cmd")):
        loaded = modules_after(tmp_path, *args) & command_modules
        assert loaded == {f"polyarb.cli.{own}"}, args
    help_text = python(tmp_path, "-m", "polyarb", "--help")
    listed = {line.split()[0] for line in help_text.splitlines() if line.startswith("  ")}
    assert set(COMMAND_MODULES) <= listed


def test_every_command_is_mapped_to_the_module_that_registers_it() -> None:
    """A command added to a module but not to COMMAND_MODULES would be missing from
    `polyarb NAME` while `app` (all modules) still had it."""
    registered = {c.name: c.callback.__module__ for c in app.registered_commands if c.callback}
    registered |= {
        g.name: sys.modules[g.typer_instance.registered_commands[0].callback.__module__].__name__
        for g in app.registered_groups
        if g.name and g.typer_instance and g.typer_instance.registered_commands
    }
    assert registered == {name: f"polyarb.cli.{m}" for name, m in COMMAND_MODULES.items()}
