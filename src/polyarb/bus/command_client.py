"""The dashboard's side of commands: publish one, wait for the engines' answers."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import structlog

from polyarb.bus.base import Bus, Subscription
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
) -> Command:
    """A command with a fresh id, stamped now."""
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
        self._waiting: dict[str, _Waiter] = {}
        self._subscription: Subscription | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self, ready_timeout_s: float = 5.0) -> None:
        if self._reader is not None:
            return
        self._subscription = self._bus.subscribe([Channel.COMMAND_ACKS])
        self._reader = asyncio.create_task(self._read(self._subscription), name="command-acks")
        await self._subscription.wait_ready(ready_timeout_s)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._subscription is not None:
            await self._subscription.close()
            self._subscription = None

    async def send(
        self, command: Command, *, timeout_s: float = 2.0, expect: int = 1
    ) -> dict[str, CommandAck]:
        """Sign and publish ``command``; wait for ``expect`` engines to answer or ``timeout_s``."""
        if self._secret is not None and not command.signature:
            command = sign(command, self._secret)
        waiter = _Waiter(expect)
        self._waiting[command.id] = waiter
        try:
            await self._bus.publish(Channel.COMMANDS, command)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.done.wait(), timeout_s)
        finally:
            self._waiting.pop(command.id, None)
        if len(waiter.acks) < expect:
            log.warning(
                "command.unanswered", id=command.id, expected=expect, answered=len(waiter.acks)
            )
        return waiter.acks

    async def _read(self, subscription: Subscription) -> None:
        async for envelope in subscription:
            ack = envelope.data
            if not isinstance(ack, CommandAck):
                continue
            waiter = self._waiting.get(ack.command_id)
            if waiter is not None:
                waiter.add(envelope.instance_id, ack)


class _Waiter:
    def __init__(self, expect: int) -> None:
        self.expect = expect
        self.acks: dict[str, CommandAck] = {}
        self.done = asyncio.Event()

    def add(self, instance_id: str, ack: CommandAck) -> None:
        self.acks.setdefault(instance_id, ack)
        if len(self.acks) >= self.expect:
            self.done.set()
