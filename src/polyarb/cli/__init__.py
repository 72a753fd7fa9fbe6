"""`polyarb` command line: one module per command, all registered on one typer app.

Every failure a user can cause is one line on stderr, ``polyarb: error: …``, and exit code 2:
a ``PolyarbError``, a usage error (unknown option, bad value, missing argument), a file that
cannot be read or written. A traceback is reserved for real bugs. A closed output pipe
(``polyarb db export-trades - | head -1``) ends the command quietly.

Start-up is part of the interface: the command modules import only typer and the standard
library at module level; the engine, the store, the HTTP clients and even the settings are
imported inside the commands that use them, so ``polyarb --help`` and ``polyarb config`` start
at once (``bench/bench_cli_start.py``). ``main`` imports only the module of the command it runs
(``COMMAND_MODULES``; all of them for the help, no command or an unknown one): typer turns
every registered command into a click command at each run, and the other nine modules were a
sixth of the start of ``polyarb config``. ``app`` read from outside (tests, ``CliRunner``) has
every command.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from polyarb.domain.errors import PolyarbError
from polyarb.domain.secrets import scrub

_app = typer.Typer(
    name="polyarb",
    help="Polymarket arbitrage: market data, simulator, strategies, paper trading.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help text: typer's rich-formatted help imports markdown-it and half of rich, which
    # would triple the start-up time of `polyarb --help`.
    rich_markup_mode=None,
)

EXIT_USAGE = 2  # bad input of any kind: setting, argument, file
EXIT_INTERRUPTED = 130


@_app.callback()
def _root() -> None:
    """Polymarket arbitrage: market data, simulator, strategies, paper trading."""


def fail(message: object) -> typer.Exit:
    """Print ``polyarb: error: MESSAGE`` (one line) on stderr; the exit to raise."""
    text = " ".join(scrub(str(message)).split())
    print(f"polyarb: error: {text}", file=sys.stderr, flush=True)
    return typer.Exit(EXIT_USAGE)


# The module whose import registers each top-level command or group, in help order.
COMMAND_MODULES: dict[str, str] = {
    "config": "config_cmd",
    "ctl": "ctl_cmd",
    "dashboard": "dashboard_cmd",
    "openapi": "dashboard_cmd",
    "users": "dashboard_cmd",
    "db": "db_cmd",
    "markets": "markets_cmd",
    "record": "record_cmd",
    "replay": "replay_cmd",
    "report": "report_cmd",
    "run": "run_cmd",
    "sim": "sim_cmd",
}
_loading = False  # a command module is being imported: it gets ``app`` as it is
_loaded_all = False


def load_commands(args: list[str] | None = None) -> typer.Typer:
    """Register the command ``args`` starts with (None, an option or an unknown word: all of
    them) on the app; returns the app."""
    global _loading, _loaded_all
    module = COMMAND_MODULES.get(args[0]) if args else None
    if module is None and _loaded_all:
        return _app
    _loading = True
    try:
        for name in [module] if module else dict.fromkeys(COMMAND_MODULES.values()):
            importlib.import_module(f"polyarb.cli.{name}")
    finally:
        _loading = False
    _loaded_all = _loaded_all or module is None
    _plain_help(_app)
    return _app


def __getattr__(name: str) -> typer.Typer:
    # ``app`` is the typer app with every command (what a test or a library user expects),
    # except for a command module being imported, which adds itself to it.
    if name == "app":
        return _app if _loading else load_commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


from polyarb.cli.plain_help import apply as _plain_help  # noqa: E402

__all__ = ["COMMAND_MODULES", "app", "fail", "load_commands", "main"]


def _quiet_broken_pipe() -> None:
    # The reader went away (`| head`): nothing more can be said on stdout; make the
    # interpreter's final flush of it harmless too.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv: list[str] | None = None) -> None:
    # typer vendors click (pinned in pyproject); its exceptions are the usage errors.
    from typer._click import exceptions as click

    args = sys.argv[1:] if argv is None else argv
    try:
        code = load_commands(args)(args=args, prog_name="polyarb", standalone_mode=False)
    except click.NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help())
        code = EXIT_USAGE
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "polyarb"
        hint = f" (see `{where} --help`)"
        code = fail(exc.format_message() + hint).exit_code
    except click.ClickException as exc:
        code = fail(exc.format_message()).exit_code
    except (typer.Abort, KeyboardInterrupt):
        code = EXIT_INTERRUPTED
    except PolyarbError as exc:
        code = fail(exc).exit_code
    except BrokenPipeError:
        _quiet_broken_pipe()
        code = 0
    except OSError as exc:  # a folder or file polyarb cannot use (DATA_DIR read-only, say)
        what = f"cannot use {exc.filename}: " if exc.filename else ""
        code = fail(f"{what}{exc.strerror or exc}").exit_code
    if isinstance(code, int) and code:
        sys.exit(code)
