"""Commands are authenticated: HMAC-SHA256 over each command's canonical bytes.

The key is ``COMMAND_SECRET``, shared by the engine, ``polyarb ctl`` and the dashboard. The
canonical bytes are the JSON array of a version tag and every field of the command but the
signature, in a fixed order (``id, actor, sent_ns, action, strategy, param, value, reason,
target, role``): the actor and the role claimed for it are signed with the rest, so a holder of
the key vouches for who acts and with which role, and
changing any field (a kill switch "clear" for an "engage", another target) breaks the
signature. A captured command cannot be replayed either: the engine applies an id once and
refuses a command older than its age limit.

Without ``REDIS_URL`` the bus is in process and no other process can publish on it; the engine
then uses ``embedded_secret()``, a key generated once per process and never written anywhere,
which in-process senders (an embedded dashboard, tests) use too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import msgspec

from polyarb.bus.schemas import Command

SIGNATURE_VERSION = "polyarb-command/2"  # 2: the role is signed too
MIN_SECRET_LEN = 16

_encoder = msgspec.json.Encoder()
_embedded: bytes | None = None


def canonical_bytes(command: Command) -> bytes:
    """What is signed: every field but the signature, in a fixed order."""
    return _encoder.encode(
        [
            SIGNATURE_VERSION,
            command.id,
            command.actor,
            command.sent_ns,
            command.action,
            command.strategy,
            command.param,
            command.value,
            command.reason,
            command.target,
            command.role,
        ]
    )


def signature_of(command: Command, secret: bytes) -> str:
    return hmac.new(secret, canonical_bytes(command), hashlib.sha256).hexdigest()


def sign(command: Command, secret: bytes) -> Command:
    """``command`` with its signature set."""
    return msgspec.structs.replace(command, signature=signature_of(command, secret))


def verify(command: Command, secret: bytes) -> str | None:
    """None when ``command`` is signed with ``secret``; else why it is refused."""
    if not command.signature:
        return "unauthenticated: the command is not signed (set COMMAND_SECRET on the sender)"
    if not hmac.compare_digest(command.signature, signature_of(command, secret)):
        return "unauthenticated: bad signature (COMMAND_SECRET differs, or the command was altered)"
    return None


def embedded_secret() -> bytes:
    """This process's own command key (the in-process bus's default): random, never stored."""
    global _embedded
    if _embedded is None:
        _embedded = secrets.token_bytes(32)
    return _embedded


def command_key(configured: str | None, *, over_redis: bool) -> bytes | None:
    """The key commands are signed and checked with: ``COMMAND_SECRET`` when configured; without
    it, the in-process bus's per-run key (only this process can publish there), and over Redis
    none at all (every command is refused: anyone reaching Redis could otherwise command)."""
    if configured is not None:
        return configured.encode()
    if over_redis:
        return None
    return embedded_secret()
