"""`polyarb` command line: one module per command, all registered on one typer app.

Every command turns a ``PolyarbError`` into one clear line on stderr and a non-zero exit;
a traceback is reserved for real bugs.
"""

from __future__ import annotations

import sys

import typer

from polyarb.domain.errors import PolyarbError

app = typer.Typer(
    name="polyarb",
    help="Polymarket arbitrage: market data, simulator, strategies, paper trading.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Polymarket arbitrage: market data, simulator, strategies, paper trading."""


# Importing the command modules registers their commands on ``app``.
from polyarb.cli import (  # noqa: E402
    config_cmd,
    ctl_cmd,
    dashboard_cmd,
    db_cmd,
    markets_cmd,
    record_cmd,
    replay_cmd,
    run_cmd,
    sim_cmd,
)

__all__ = [
    "app",
    "config_cmd",
    "ctl_cmd",
    "dashboard_cmd",
    "db_cmd",
    "main",
    "markets_cmd",
    "record_cmd",
    "replay_cmd",
    "run_cmd",
    "sim_cmd",
]


def main() -> None:
    try:
        app()
    except PolyarbError as exc:
        print(f"polyarb: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
