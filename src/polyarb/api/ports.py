"""What the API needs from the database, as protocols.

The composition roots (``polyarb run``, ``polyarb dashboard``) pass ``store.StoreQueries`` and
``store.users.UserStore``; the API never imports the store (nor SQLAlchemy), which keeps its
layer contract checkable. Rows are the store's frozen dataclasses, read by attribute.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import IO, Any, Protocol

from polyarb.domain.accounts import Role, UserRow


class History(Protocol):
    """``polyarb.store.StoreQueries``: the read side of the system of record."""

    async def positions(self) -> Sequence[Any]: ...

    async def trades(
        self,
        *,
        strategy: str | None = None,
        market: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Any: ...

    async def export_trades_csv(self, out: IO[str], **filters: Any) -> int: ...

    async def pnl_by_day(
        self, *, since: date | None = None, until: date | None = None
    ) -> Sequence[Any]: ...

    async def pnl_by_strategy(
        self, *, since: date | None = None, until: date | None = None
    ) -> Sequence[Any]: ...

    async def opportunity_stats(
        self, *, since_ns: int | None = None, until_ns: int | None = None
    ) -> Sequence[Any]: ...

    async def errors(
        self, *, since_ns: int | None = None, level: str | None = None, limit: int = 100
    ) -> Sequence[Any]: ...

    async def audit(self, *, before_id: int | None = None, limit: int = 100) -> Sequence[Any]: ...

    async def signals(
        self,
        *,
        strategy: str | None = None,
        market: str | None = None,
        outcome: str | None = None,
        since_ns: int | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Any: ...

    async def alerts(
        self, *, before_id: int | None = None, severity: str | None = None, limit: int = 100
    ) -> Sequence[Any]: ...

    async def markets(self) -> Sequence[Any]: ...

    async def equity_curve(
        self, *, since_ns: int | None = None, until_ns: int | None = None, max_points: int = 1000
    ) -> Sequence[Any]: ...

    async def close(self) -> None: ...


class Accounts(Protocol):
    """``polyarb.store.users.UserStore``: accounts, session versions, the audit log."""

    async def get(self, email: str) -> UserRow | None: ...

    async def list(self) -> list[UserRow]: ...

    async def add(self, email: str, role: Role) -> UserRow: ...

    async def remove(self, email: str) -> bool: ...

    async def bump_session_version(self, email: str) -> int | None: ...

    async def audit(
        self,
        *,
        actor: str,
        action: str,
        target: str = "",
        outcome: str = "ok",
        source_ip: str = "",
        detail: Mapping[str, str] | None = None,
    ) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
