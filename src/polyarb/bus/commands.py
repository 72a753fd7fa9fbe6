"""Operator commands, handled safely on the engine side.

Each command is checked (signed with the engine's ``COMMAND_SECRET``, well formed, known action,
authorized actor (``effective_role``: the engine's lists and the role the command vouches for),
known strategy, parameter within the engine's bounds), applied at most once per id, recorded
through the audit callback, and answered on ``poly:commands:ack`` with accepted/reason. A
rejected command is never applied. A command older than ``max_age_s`` is refused and ids are
remembered for twice that, so a repeated id is always recognised: it gets the original answer
again, marked ``duplicate``.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal, Protocol

import structlog

from polyarb.bus.base import Bus, Clock, Subscription
from polyarb.bus.schemas import COMMAND_ACTIONS, Command, CommandAck
from polyarb.bus.signing import verify
from polyarb.bus.topics import Channel
from polyarb.domain.errors import Rejected

log = structlog.get_logger(__name__)

ParamValue = Decimal | int | bool
# (actor, action, the role the signed command vouches for or "") -> allowed
Authorize = Callable[[str, str, str], bool]

_PLAIN_NUMBER = re.compile(r"-?\d{1,15}(\.\d{1,15})?")
_STRATEGY_ACTIONS = frozenset({"strategy_enable", "strategy_disable", "strategy_set_param"})


@dataclass(frozen=True, slots=True)
class ParamBounds:
    """The values a strategy parameter may be set to from the dashboard (inclusive)."""

    low: Decimal = Decimal(0)
    high: Decimal = Decimal(0)
    kind: Literal["decimal", "int", "bool"] = "decimal"

    def parse(self, text: str) -> ParamValue:
        """The value ``text`` stands for; raises ``Rejected`` saying why it is not allowed."""
        text = text.strip()
        if self.kind == "bool":
            if text.lower() in {"true", "false"}:
                return text.lower() == "true"
            raise Rejected(f"expected true or false, got {text[:40]!r}")
        if not _PLAIN_NUMBER.fullmatch(text):
            raise Rejected(f"expected a plain decimal number, got {text[:40]!r}")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise Rejected(f"not a number: {text[:40]!r}") from None
        if not self.low <= value <= self.high:
            raise Rejected(f"{text} is outside [{self.low}, {self.high}]")
        if self.kind == "int":
            if value != value.to_integral_value():
                raise Rejected(f"expected a whole number, got {text}")
            return int(value)
        return value


Bounds = Mapping[str, Mapping[str, ParamBounds]]  # strategy -> parameter -> bounds


class CommandHandler(Protocol):
    """What the engine does for each accepted command; raise ``Rejected`` to refuse one.

    Each method may be plain or ``async`` (the processor awaits what it gets back).
    """

    def strategy_names(self) -> Collection[str]: ...

    def pause(self, actor: str) -> Awaitable[None] | None: ...

    def resume(self, actor: str) -> Awaitable[None] | None: ...

    def engage_kill_switch(self, reason: str, actor: str) -> Awaitable[None] | None: ...

    def clear_kill_switch(self, actor: str) -> Awaitable[None] | None: ...

    def set_strategy_enabled(
        self, strategy: str, enabled: bool, actor: str
    ) -> Awaitable[None] | None: ...

    def set_strategy_param(
        self, strategy: str, param: str, value: ParamValue, actor: str
    ) -> Awaitable[None] | None: ...


@dataclass(frozen=True, slots=True)
class CommandAudit:
    """One line of the audit log: a command and what became of it on this engine."""

    command: Command
    accepted: bool
    reason: str
    applied_ns: int
    instance_id: str  # the engine that handled it
    sender: str = ""  # the instance id that published it


Audit = Callable[[CommandAudit], Awaitable[None]]


@dataclass(slots=True)
class CommandStats:
    received: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    ignored: int = 0  # addressed to another engine
    audit_failures: int = 0


# Who may do what, for engines that resolve an actor to a role (viewer / operator / admin).
# Clearing the kill switch is for admins: it re-opens trading after something went wrong.
ROLE_ACTIONS: Mapping[str, frozenset[str]] = {
    "viewer": frozenset(),
    "operator": COMMAND_ACTIONS - {"kill_switch_clear"},
    "admin": COMMAND_ACTIONS,
}


ROLE_RANK: Mapping[str, int] = {"viewer": 0, "operator": 1, "admin": 2}


def effective_role(configured: str | None, vouched: str) -> str | None:
    """The role an actor acts with: the lesser of the engine's own (``COMMAND_ADMINS`` /
    ``COMMAND_OPERATORS``) and the one the signed command vouches for (the dashboard's account
    role); either alone when the other is absent; None when neither names one.

    The engine never grants more than either side says: its lists can narrow a dashboard user,
    and a dashboard user the lists do not name acts with the role the dashboard vouched for
    (only a holder of ``COMMAND_SECRET`` can sign that claim, and such a holder could already
    sign as any configured actor)."""
    known = [r for r in (configured, vouched) if r is not None and r in ROLE_RANK]
    return min(known, key=ROLE_RANK.__getitem__) if known else None


def authorize_by_role(role_of: Callable[[str], str | None]) -> Authorize:
    """An ``authorize`` callable from a lookup of the actor's configured role (None = the actor
    is not configured), combined with the command's vouched role (``effective_role``)."""

    def authorize(actor: str, action: str, vouched: str = "") -> bool:
        role = effective_role(role_of(actor), vouched)
        return role is not None and action in ROLE_ACTIONS[role]

    return authorize


class CommandProcessor:
    """Validate, apply once, audit and acknowledge commands for one engine."""

    def __init__(
        self,
        handler: CommandHandler,
        audit: Audit,
        bus: Bus,
        *,
        authorize: Authorize,
        bounds: Bounds,
        secret: bytes | None,
        max_age_s: float = 60.0,
        max_remembered: int = 10_000,
        clock: Clock = time.time_ns,
    ) -> None:
        self.stats = CommandStats()
        self._handler = handler
        self._audit = audit
        self._bus = bus
        self._authorize = authorize
        self._bounds = bounds
        self._secret = secret  # None: no key configured, every command is refused
        self._max_age_ns = int(max_age_s * 1e9)
        self._max_remembered = max_remembered
        self._clock = clock
        self._answers: OrderedDict[str, tuple[int, CommandAck]] = OrderedDict()

    async def run(self, subscription: Subscription | None = None) -> None:
        """Handle commands from the bus until cancelled; no command can end this loop."""
        subscription = subscription or self._bus.subscribe([Channel.COMMANDS])
        async with subscription:
            async for envelope in subscription:
                if isinstance(envelope.data, Command):
                    await self.handle(envelope.data, sender=envelope.instance_id)

    async def handle(self, command: Command, *, sender: str = "") -> CommandAck | None:
        """Process one command; returns the ack published, None if meant for another engine."""
        if command.target and command.target != self._bus.instance_id:
            self.stats.ignored += 1
            return None
        self.stats.received += 1
        now = self._clock()
        self._forget_old(now)
        remembered = self._answers.get(command.id) if command.id else None
        if remembered is not None:
            self.stats.duplicates += 1
            ack = CommandAck(
                command_id=remembered[1].command_id,
                action=remembered[1].action,
                actor=remembered[1].actor,
                accepted=remembered[1].accepted,
                reason=remembered[1].reason,
                applied_ns=remembered[1].applied_ns,
                duplicate=True,
            )
            log.info("command.duplicate", id=command.id, action=command.action)
            await self._bus.publish(Channel.COMMAND_ACKS, ack)
            return ack
        reason = self._refusal(command, now)
        if reason is None:
            reason = await self._apply(command)
        accepted = reason is None
        applied_ns = self._clock()
        ack = CommandAck(
            command_id=command.id,
            action=command.action[:64],
            actor=command.actor[:128],
            accepted=accepted,
            reason=reason or "",
            applied_ns=applied_ns,
        )
        if command.id:
            self._answers[command.id] = (now, ack)
        if accepted:
            self.stats.accepted += 1
        else:
            self.stats.rejected += 1
        log.info(
            "command.handled",
            id=command.id,
            action=command.action[:64],
            actor=command.actor[:128],
            accepted=accepted,
            reason=ack.reason,
        )
        await self._record(command, ack, sender)
        await self._bus.publish(Channel.COMMAND_ACKS, ack)
        return ack

    def _refusal(self, command: Command, now: int) -> str | None:
        """Why the command must not be applied, or None when it may."""
        if not command.id or len(command.id) > 128:
            return "malformed: id must be 1 to 128 characters"
        if self._secret is None:
            return "unauthenticated: this engine has no COMMAND_SECRET, it accepts no command"
        unsigned = verify(command, self._secret)
        if unsigned is not None:
            return unsigned
        if not command.actor:
            return "malformed: missing actor"
        if command.action not in COMMAND_ACTIONS:
            return f"malformed: unknown action {command.action[:64]!r}"
        if command.role and command.role not in ROLE_RANK:
            return f"malformed: unknown role {command.role[:32]!r}"
        if command.sent_ns <= 0 or abs(now - command.sent_ns) > self._max_age_ns:
            return "expired: sent_ns is missing or too far from the engine's clock"
        if command.action in _STRATEGY_ACTIONS and not command.strategy:
            return f"malformed: {command.action} needs a strategy"
        if command.action == "strategy_set_param" and not (command.param and command.value):
            return "malformed: strategy_set_param needs param and value"
        try:
            allowed = self._authorize(command.actor, command.action, command.role)
        except Exception:  # fail closed: an authorizer that breaks allows nothing
            log.exception("command.authorize_failed", actor=command.actor[:128])
            allowed = False
        if not allowed:
            vouched = f" (vouched role {command.role})" if command.role else ""
            return f"unauthorized: {command.actor[:128]!r}{vouched} may not {command.action}"
        known = self._handler.strategy_names()
        if command.action in _STRATEGY_ACTIONS and command.strategy not in known:
            return f"unknown strategy {command.strategy[:64]!r}"
        if command.action == "strategy_set_param":
            bounds = self._bounds.get(command.strategy, {}).get(command.param)
            if bounds is None:
                return f"unknown parameter {command.param[:64]!r} of {command.strategy}"
            try:
                bounds.parse(command.value)
            except Rejected as exc:
                return f"out of bounds: {command.param} {exc}"
        return None

    async def _apply(self, command: Command) -> str | None:
        """Apply a validated command; the reason it failed, or None."""
        handler, actor = self._handler, command.actor
        try:
            match command.action:
                case "pause":
                    outcome = handler.pause(actor)
                case "resume":
                    outcome = handler.resume(actor)
                case "kill_switch_engage":
                    reason = command.reason or "operator command"
                    outcome = handler.engage_kill_switch(reason, actor)
                case "kill_switch_clear":
                    outcome = handler.clear_kill_switch(actor)
                case "strategy_enable" | "strategy_disable":
                    enabled = command.action == "strategy_enable"
                    outcome = handler.set_strategy_enabled(command.strategy, enabled, actor)
                case _:  # strategy_set_param (the action was validated)
                    value = self._bounds[command.strategy][command.param].parse(command.value)
                    outcome = handler.set_strategy_param(
                        command.strategy, command.param, value, actor
                    )
            if outcome is not None:
                await outcome
        except Rejected as exc:
            return f"refused: {exc}"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("command.apply_failed", id=command.id, action=command.action)
            return f"engine error: {type(exc).__name__}"
        return None

    async def _record(self, command: Command, ack: CommandAck, sender: str) -> None:
        entry = CommandAudit(
            command=command,
            accepted=ack.accepted,
            reason=ack.reason,
            applied_ns=ack.applied_ns,
            instance_id=self._bus.instance_id,
            sender=sender,
        )
        try:
            await self._audit(entry)
        except asyncio.CancelledError:
            raise
        except Exception:  # the command stands; the store spools its own failures
            self.stats.audit_failures += 1
            log.exception("command.audit_failed", id=command.id)

    def _forget_old(self, now: int) -> None:
        # A command is accepted while |now - sent_ns| <= max_age, so a repeat can arrive up to
        # 2 x max_age after the first sighting (sender clock ahead); remember ids that long.
        answers = self._answers
        horizon = 2 * self._max_age_ns
        while answers:
            first_id, (seen_ns, _) = next(iter(answers.items()))
            if now - seen_ns > horizon:
                del answers[first_id]
            elif len(answers) >= self._max_remembered:
                log.warning("command.forgetting_recent_id", id=first_id)
                del answers[first_id]
            else:
                break
