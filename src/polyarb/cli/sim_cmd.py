"""`polyarb sim`: run the local Polymarket + ESPN simulator, or write a synthetic recording.

Numeric options are read as text and checked here so that a bad value is one line on stderr
and exit code 2, like every other polyarb error.
"""

from __future__ import annotations

import signal
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from polyarb.cli import app
from polyarb.cli.common import configure_logging
from polyarb.domain.errors import PolyarbError

if TYPE_CHECKING:
    from polyarb.sim import SimServer

# The scenario options default to the demo scenario's values (``polyarb.sim.DEMO_SCENARIO``),
# filled in when the command runs: importing the simulator for --help would cost a second.

DEFAULT_PORT = 8765


class _BadArgument(Exception):
    pass


def _number(text: str, name: str, *, minimum: float, integer: bool) -> float:
    try:
        value = float(int(text)) if integer else float(text)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise _BadArgument(f"{name} must be {kind}, got {text!r}") from None
    if value != value or value < minimum:  # NaN or too small
        raise _BadArgument(f"{name} must be >= {minimum:g}, got {text!r}")
    return value


def _int(text: str, name: str, minimum: int = 0) -> int:
    return int(_number(text, name, minimum=minimum, integer=True))


def _fail(message: str) -> typer.Exit:
    typer.echo(f"polyarb: error: {message}", err=True)
    return typer.Exit(2)


@app.command("sim")
def sim_command(
    port: Annotated[str, typer.Option(metavar="P", help="0 = any free port.")] = str(DEFAULT_PORT),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    seed: Annotated[
        str | None, typer.Option(metavar="S", help="Scenario seed [default: the demo's].")
    ] = None,
    binary: Annotated[
        str | None, typer.Option(metavar="N", help="Binary YES/NO markets [default: the demo's].")
    ] = None,
    negrisk: Annotated[
        str | None,
        typer.Option(metavar="N", help="negRisk events (4 outcomes) [default: the demo's]."),
    ] = None,
    games: Annotated[
        str | None,
        typer.Option(metavar="N", help="ESPN games with moneylines [default: the demo's]."),
    ] = None,
    rate: Annotated[
        str | None,
        typer.Option(metavar="X", help="Market updates per second [default: the demo's]."),
    ] = None,
    window_every: Annotated[
        str | None,
        typer.Option(
            metavar="SECONDS",
            help="Open an arbitrage window this often; 0 = off [default: the demo's].",
        ),
    ] = None,
    recording: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Serve this recording, not a scenario.")
    ] = None,
    speed: Annotated[str, typer.Option(metavar="X", help="Clock speed (scenario/replay).")] = "1",
    generate: Annotated[
        Path | None,
        typer.Option("--generate-recording", metavar="OUT_DIR", help="Write a recording, exit."),
    ] = None,
    frames: Annotated[str, typer.Option(metavar="N", help="With --generate-recording.")] = "200000",
    markets: Annotated[str, typer.Option(metavar="M", help="With --generate-recording.")] = "300",
    force: Annotated[
        bool,
        typer.Option("--force", help="With --generate-recording: replace a recording in OUT_DIR."),
    ] = False,
    append: Annotated[
        bool, typer.Option("--append", help="Refused: a synthetic recording restarts its clock.")
    ] = False,
) -> None:
    """Run the local Polymarket + ESPN simulator (Ctrl-C to stop), or write a recording."""
    import asyncio

    from polyarb.sim import DEMO_SCENARIO as DEMO
    from polyarb.sim import SimServer

    seed = str(DEMO.seed) if seed is None else seed
    binary = str(DEMO.binary_markets) if binary is None else binary
    negrisk = str(DEMO.negrisk_events) if negrisk is None else negrisk
    games = str(DEMO.games) if games is None else games
    rate = f"{DEMO.updates_per_s:g}" if rate is None else rate
    window_every = f"{DEMO.window_every_s:g}" if window_every is None else window_every
    configure_logging("info")
    try:
        if generate is not None:
            count, size = _int(frames, "--frames", 1), _int(markets, "--markets", 2)
            if append:
                raise _BadArgument(
                    "--append: a synthetic recording cannot be added to (its clock starts again, "
                    "so its frames would go back in time); use a new folder or --force"
                )
            _generate(generate, count, size, _int(seed, "--seed"), force)
            return
        port_number = _int(port, "--port")
        if port_number > 65535:
            raise _BadArgument(f"--port must be <= 65535, got {port}")
        clock = _number(speed, "--speed", minimum=1e-6, integer=False)
        if recording is not None:
            if not (recording / "markets.json").is_file():
                raise _BadArgument(f"--recording {recording}: no markets.json there")
            server = SimServer(recording=recording, host=host, port=port_number, speed=clock)
            summary = f"replaying {recording} at {clock:g}x"
        else:
            config = replace(
                DEMO,
                seed=_int(seed, "--seed"),
                binary_markets=_int(binary, "--binary"),
                negrisk_events=_int(negrisk, "--negrisk"),
                games=_int(games, "--games"),
                updates_per_s=_number(rate, "--rate", minimum=0.001, integer=False),
                window_every_s=_number(window_every, "--window-every", minimum=0, integer=False),
            )
            server = SimServer(config, host=host, port=port_number, speed=clock)
            summary = (
                f"seed {config.seed}: {config.binary_markets} binary markets, "
                f"{config.negrisk_events} negRisk events x {config.outcomes_per_event} outcomes, "
                f"{config.games} games, {config.updates_per_s:g} updates/s, "
                + (
                    f"a window every {config.window_every_s:g} s"
                    if config.window_every_s
                    else "no windows"
                )
            )
    except (_BadArgument, ValueError, FileNotFoundError, PolyarbError) as exc:
        raise _fail(str(exc)) from None
    try:
        asyncio.run(_serve(server, summary))
    except OSError as exc:
        raise _fail(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None


def _generate(out_dir: Path, frames: int, markets: int, seed: int, force: bool) -> None:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from polyarb.marketdata.recorder import prepare_folder
    from polyarb.sim import generate_recording

    prepare_folder(out_dir, force=force)
    columns = (TextColumn("writing frames"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task("frames", total=frames)
        path = generate_recording(
            out_dir,
            frames=frames,
            markets=markets,
            seed=seed,
            progress=lambda done: progress.update(task, completed=done),
        )
    typer.echo(f"wrote {frames} frames of {markets} markets to {path}")


async def _serve(server: SimServer, summary: str) -> None:
    import asyncio

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server as sim:
        typer.echo(f"polyarb simulator ({summary})")
        typer.echo(f"  CLOB WS    {sim.ws_url}")
        typer.echo(f"  CLOB REST  {sim.clob_url}")
        typer.echo(f"  Gamma      {sim.gamma_url}")
        typer.echo(f"  ESPN       {sim.espn_url}")
        typer.echo(f"  Polygon    {sim.chain_url}")
        typer.echo(
            f"point polyarb at it: POLY_WS_URL={sim.ws_url} POLY_CLOB_URL={sim.clob_url} "
            f"POLY_GAMMA_URL={sim.gamma_url} SNIPER_ESPN_URL={sim.espn_url} "
            f"POLYGON_RPC_URL={sim.chain_url}"
        )
        typer.echo("Ctrl-C to stop.")
        await stop.wait()
    typer.echo("simulator stopped")
