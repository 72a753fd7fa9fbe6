"""Event bus between the engine(s) and the dashboard: in process by default (served to
`polyarb run`'s dashboard process on a local socket, ``bus/local.py``), Redis when set.

``make_bus(settings.redis_url, settings.instance_id)`` picks the implementation; the rest of
the code only sees the ``Bus`` protocol. Channels, payloads and semantics: ``docs/events.md``.
"""

from __future__ import annotations

import os
import socket

from polyarb.bus.base import Bus, BusStats, Gap, GapCallback, Subscription, SubscriptionStats
from polyarb.bus.command_client import CommandClient, new_command
from polyarb.bus.commands import (
    Audit,
    Authorize,
    Bounds,
    CommandAudit,
    CommandHandler,
    CommandProcessor,
    ParamBounds,
    ParamValue,
    authorize_by_role,
)
from polyarb.bus.local import LocalBus, LocalBusServer
from polyarb.bus.memory import MemoryBus, MemoryHub
from polyarb.bus.publisher import StatePublisher
from polyarb.bus.queries import QueryClient, QueryResponder
from polyarb.bus.redis_bus import RedisBus
from polyarb.bus.schemas import (
    AlertEvent,
    BookAnswer,
    BookQuery,
    Command,
    CommandAck,
    Counters,
    DailyPnl,
    EngineState,
    Envelope,
    ErrorEvent,
    Opportunity,
    Payload,
    PositionMark,
    SignalEvent,
    StrategyStatus,
    TradeEvent,
)
from polyarb.bus.subscriber import EngineStates, Resync, ResyncReport
from polyarb.bus.topics import Channel


def default_instance_id() -> str:
    """host-pid: unique per process, readable on a dashboard."""
    return f"{socket.gethostname()}-{os.getpid()}"


def make_bus(redis_url: str | None, instance_id: str, *, channel_prefix: str = "") -> Bus:
    """A ``RedisBus`` when ``redis_url`` is set, else a ``MemoryBus``; call ``start()`` next."""
    instance_id = instance_id or default_instance_id()
    if redis_url:
        return RedisBus(redis_url, instance_id, channel_prefix=channel_prefix)
    return MemoryBus(instance_id)


__all__ = [
    "AlertEvent",
    "Audit",
    "Authorize",
    "BookAnswer",
    "BookQuery",
    "Bounds",
    "Bus",
    "BusStats",
    "Channel",
    "Command",
    "CommandAck",
    "CommandAudit",
    "CommandClient",
    "CommandHandler",
    "CommandProcessor",
    "Counters",
    "DailyPnl",
    "EngineState",
    "EngineStates",
    "Envelope",
    "ErrorEvent",
    "Gap",
    "GapCallback",
    "LocalBus",
    "LocalBusServer",
    "MemoryBus",
    "MemoryHub",
    "Opportunity",
    "ParamBounds",
    "ParamValue",
    "Payload",
    "PositionMark",
    "QueryClient",
    "QueryResponder",
    "RedisBus",
    "Resync",
    "ResyncReport",
    "SignalEvent",
    "StatePublisher",
    "StrategyStatus",
    "Subscription",
    "SubscriptionStats",
    "TradeEvent",
    "authorize_by_role",
    "default_instance_id",
    "make_bus",
    "new_command",
]
