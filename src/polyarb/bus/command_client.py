"""The dashboard's side of commands: publish one, wait for the engines' answers."""

from __future__ import annotations

import time
import uuid

import structlog

from polyarb.bus.base import Bus
from polyarb.bus.replies import Replies
from polyarb.bus.schemas import Command, CommandAck
from polyarb.bus.signing import sign
from polyarb.bus.topics import Channel

log = structlog.get_logger(__name__)


def new_command(
    action: str,
    actor: str,
    *,
    strategy: str = "",
    param: str = "",
    value: str = "",
    reason: str = "",
    target: str = "",
    role: str = "",
) -> Command:
    """A command with a fresh id, stamped now; ``role``: the actor's role, vouched for by the
    sender (the dashboard's account role), signed with the rest."""
    return Command(
        id=str(uuid.uuid4()),
        actor=actor,
        sent_ns=time.time_ns(),
        action=action,
        strategy=strategy,
        param=param,
        value=value,
        reason=reason,
        target=target,
        role=role,
    )


class CommandClient:
    """Send commands and collect their acks (by command id, one per answering engine).

    ``send`` returns the acks that arrived before the timeout, keyed by engine instance id. An
    empty result means no engine answered: the command may or may not have been applied, and
    sending the *same* command again is safe (engines apply an id once).
    """

    def __init__(self, bus: Bus, *, secret: bytes | None) -> None:
        """``secret`` (``COMMAND_SECRET``) signs every command sent; engines refuse a command
        sent unsigned (``None``) or signed with another key."""
        self._bus = bus
        self._secret = secret
        self._acks = Replies(bus, Channel.COMMAND_ACKS, CommandAck, lambda ack: ack.command_id)

    async def start(self, ready_timeout_s: float = 5.0) -> None:
        await self._acks.start(ready_timeout_s)

    async def close(self) -> None:
        await self._acks.close()

    async def send(
        self, command: Command, *, timeout_s: float = 2.0, expect: int = 1
    ) -> dict[str, CommandAck]:
        """Sign and publish ``command``; wait for ``expect`` engines to answer or ``timeout_s``."""
        if self._secret is not None and not command.signature:
            command = sign(command, self._secret)
        acks = await self._acks.collect(
            command.id,
            lambda: self._bus.publish(Channel.COMMANDS, command),
            timeout_s=timeout_s,
            expect=expect,
        )
        if len(acks) < expect:
            log.warning("command.unanswered", id=command.id, expected=expect, answered=len(acks))
        return acks
