"""`polyarb ctl`: send an operator command to the running engine(s) over the bus."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from polyarb.cli import app
from polyarb.cli.common import settings_or_exit
from polyarb.domain.errors import PolyarbError
from polyarb.domain.secrets import mask_url

if TYPE_CHECKING:
    from polyarb.bus import Command, CommandAck

ACTIONS = {
    "pause": "pause",
    "resume": "resume",
    "kill": "kill_switch_engage",
    "clear": "kill_switch_clear",
    "enable": "strategy_enable",
    "disable": "strategy_disable",
    "set": "strategy_set_param",
}


@app.command("ctl")
def ctl_command(
    action: str = typer.Argument(
        ..., help="pause | resume | kill | clear | enable | disable | set"
    ),
    strategy: str = typer.Option("", "--strategy", help="Strategy for enable/disable/set."),
    param: str = typer.Option("", "--param", help="Parameter name for set."),
    value: str = typer.Option("", "--value", help="New value for set."),
    reason: str = typer.Option("", "--reason", help="Why (recorded in the audit log)."),
    actor: str = typer.Option("cli", "--actor", help="Who is sending the command."),
    target: str = typer.Option("", "--target", help="Engine instance id (default: all)."),
    timeout: float = typer.Option(3.0, "--timeout", min=0.1, help="Seconds to wait for acks."),
    engines: int = typer.Option(1, "--engines", min=1, help="Acks to wait for (engines running)."),
) -> None:
    """Command running engines (needs REDIS_URL: engines in other processes listen on Redis)."""
    import asyncio

    settings = settings_or_exit()
    if action not in ACTIONS:
        raise typer.BadParameter(f"{action!r}; accepted: {', '.join(ACTIONS)}", param_hint="ACTION")
    if not settings.redis_url:
        raise PolyarbError("REDIS_URL is not set: there is no bus to reach a running engine")
    from polyarb.bus.command_client import new_command

    if settings.command_secret is None:
        raise PolyarbError(
            "COMMAND_SECRET is not set: commands are signed with the key the engines share "
            "(set the engines' COMMAND_SECRET here too)"
        )
    secret = settings.command_secret.get_secret_value().encode()
    command = new_command(
        ACTIONS[action],
        actor,
        strategy=strategy,
        param=param,
        value=value,
        reason=reason,
        target=target,
    )
    acks = asyncio.run(_send(settings.redis_url, secret, command, timeout, engines))
    if not acks:
        raise PolyarbError(f"no engine acknowledged the command within {timeout} s")
    refused = False
    for instance, ack in sorted(acks.items()):
        verdict = "accepted" if ack.accepted else f"REFUSED: {ack.reason}"
        refused |= not ack.accepted
        typer.echo(f"{instance}: {action} {verdict}")
    if refused:
        raise typer.Exit(1)


async def _send(
    redis_url: str, secret: bytes, command: Command, wait_s: float, engines: int
) -> dict[str, CommandAck]:
    from polyarb.bus import make_bus
    from polyarb.bus.command_client import CommandClient

    bus = make_bus(redis_url, "")
    await bus.start()
    if not bus.stats.connected:  # say so now, not "no engine acknowledged" after the timeout
        await bus.close()
        raise PolyarbError(
            f"Redis unreachable at {mask_url(redis_url)} ({bus.stats.last_error or 'no answer'}); "
            "the command was not sent"
        )
    client = CommandClient(bus, secret=secret)
    try:
        await client.start()
        return dict(await client.send(command, timeout_s=wait_s, expect=engines))
    finally:
        await client.close()
        await bus.close()
