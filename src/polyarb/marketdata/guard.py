"""The REST clients' circuit-breaker interface: ``polyarb.domain.guard.CallGuard`` (shared with
the bus, the store and the Slack notifier)."""

from __future__ import annotations

from polyarb.domain.guard import CallGuard

__all__ = ["CallGuard"]
