"""Errors named for what the engine does with them.

PolyarbError
 ├── ConfigError        bad configuration: refuse to start
 ├── FatalError         stop the engine (an invariant broke)
 ├── Rejected           drop the command (risk denial, venue rule)
 ├── Transient          retry with backoff (network, 5xx, timeouts)
 │    └── CircuitOpen   the dependency's breaker is open: not called, try later
 └── MalformedMessage   skip the input, count it, log a short sample
"""

from __future__ import annotations


class PolyarbError(Exception):
    """Base of every error polyarb raises on purpose."""


class ConfigError(PolyarbError):
    """The configuration is invalid; the message names the setting and what it accepts."""


class FatalError(PolyarbError):
    """Something that must stop the engine."""


class Rejected(PolyarbError):
    """A command was refused (risk, venue minimums, precision)."""


class Transient(PolyarbError):
    """A failure that may succeed when retried."""


class MalformedMessage(PolyarbError):
    """An input message could not be decoded; it is skipped, never fatal."""


class CircuitOpen(Transient):
    """A dependency's circuit breaker is open: the call was not made (fail fast)."""
