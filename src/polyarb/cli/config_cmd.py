from __future__ import annotations

import json

import typer

from polyarb.cli import app
from polyarb.cli.common import settings_or_exit


@app.command("config")
def config_command(
    as_json: bool = typer.Option(False, "--json", help="Print as JSON instead of a table."),
) -> None:
    """Print the effective configuration (secrets masked)."""
    settings = settings_or_exit()
    values = settings.masked()
    values["MODE"] = settings.mode
    if as_json:
        typer.echo(json.dumps(values, indent=2, sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("setting", "value", title=f"polyarb configuration (mode: {settings.mode})")
    for key in sorted(values):
        table.add_row(key, values[key])
    Console().print(table)
