from __future__ import annotations

import typer

from polyarb.cli import app
from polyarb.cli.common import settings_or_exit


@app.command("config")
def config_command(
    as_json: bool = typer.Option(False, "--json", help="Print as JSON instead of a table."),
) -> None:
    """Print the effective configuration (secrets masked)."""
    settings = settings_or_exit(configure=False)  # nothing logs here; structlog costs 0.1 s
    values = settings.masked()
    values["MODE"] = settings.mode
    if as_json:
        import json  # only here: the table below does not need it

        typer.echo(json.dumps(values, indent=2, sort_keys=True))
        return
    # Plain aligned text: a rich table would add a third to the start-up time of this command.
    from polyarb.config import NOT_YET_USED

    unused = {name.upper() for name in NOT_YET_USED}
    width = max(len(key) for key in values)
    lines = [f"polyarb configuration (mode: {settings.mode})"]
    lines += [
        f"{key.ljust(width)}  {values[key]}" + ("  (not yet used)" if key in unused else "")
        for key in sorted(values)
    ]
    typer.echo("\n".join(lines))
