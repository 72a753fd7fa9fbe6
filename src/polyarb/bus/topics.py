"""Channel names: built only here, so a typo is an ``AttributeError``, not a silent drop.

Every engine publishes on the same channels; the envelope's ``instance_id`` tells engines apart.
A deployment that shares one Redis between environments (or a test run) separates them with the
``RedisBus`` channel prefix, which is a transport detail: envelopes always carry these names.
"""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    STATE = "poly:state"  # engine -> dashboards, every 100 ms
    SIGNALS = "poly:signals"  # engine -> dashboards, each signal and what became of it
    TRADES = "poly:trades"  # engine -> dashboards, orders, fills, execution reports
    ERRORS = "poly:errors"  # engine -> dashboards, operational errors
    COMMANDS = "poly:commands"  # dashboard -> engines
    COMMAND_ACKS = "poly:commands:ack"  # engines -> dashboard
    QUERIES = "poly:queries"  # dashboard -> engines, read-only questions (a market's books)
    QUERY_ANSWERS = "poly:queries:answer"  # engines -> dashboards


ENGINE_CHANNELS = (Channel.STATE, Channel.SIGNALS, Channel.TRADES, Channel.ERRORS)
"""What an engine publishes and a dashboard follows (plus ``COMMAND_ACKS`` and
``QUERY_ANSWERS``, which only the sender waits for)."""


def channel_named(name: str) -> Channel | None:
    """The channel with this wire name, or None for a name that is not ours."""
    try:
        return Channel(name)
    except ValueError:
        return None
