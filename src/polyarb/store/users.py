"""Dashboard accounts (email, role, session version) and the dashboard's own audit lines.

The API and ``polyarb users`` use this; nothing on the trading path does. Emails are stored
lower-cased. ``session_version`` is embedded in every session token: bumping it (logout from
everywhere, a role change, removal) revokes every session of that user even if Redis, which
holds the per-token denylist, lost its data.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from polyarb.domain.accounts import ROLES, Role, UserExists, UserRow, normalize_email
from polyarb.store import tables as t
from polyarb.store.database import create_engine

__all__ = ["ROLES", "Role", "UserExists", "UserRow", "UserStore", "normalize_email"]


class UserStore:
    """Accounts and audit lines on one database (its own pool when opened with ``open``)."""

    def __init__(self, engine: AsyncEngine, *, owns_engine: bool = False) -> None:
        self._engine = engine
        self._owns_engine = owns_engine

    @classmethod
    def open(cls, url: str) -> UserStore:
        return cls(create_engine(url), owns_engine=True)

    async def close(self) -> None:
        if self._owns_engine:
            await self._engine.dispose()

    async def get(self, email: str) -> UserRow | None:
        c = t.dashboard_users.c
        stmt = select(t.dashboard_users).where(c.email == normalize_email(email))
        async with self._engine.connect() as conn:
            row = (await conn.execute(stmt)).mappings().first()
        return _user(row) if row is not None else None

    async def list(self) -> list[UserRow]:
        stmt = select(t.dashboard_users).order_by(t.dashboard_users.c.email)
        async with self._engine.connect() as conn:
            return [_user(r) for r in (await conn.execute(stmt)).mappings()]

    async def add(self, email: str, role: Role) -> UserRow:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; accepted: {', '.join(ROLES)}")
        email = normalize_email(email)
        now = time.time_ns()
        values = {
            "email": email,
            "role": role,
            "session_version": 1,
            "created_ns": now,
            "updated_ns": now,
        }
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(t.dashboard_users).values(**values))
        except IntegrityError:
            raise UserExists(f"{email} already has an account") from None
        return UserRow(email, role, 1, now, now)

    async def set_role(self, email: str, role: Role) -> bool:
        """Change the role; the user's sessions end (they carry the old role)."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; accepted: {', '.join(ROLES)}")
        c = t.dashboard_users.c
        stmt = (
            update(t.dashboard_users)
            .where(c.email == normalize_email(email))
            .values(role=role, session_version=c.session_version + 1, updated_ns=time.time_ns())
        )
        async with self._engine.begin() as conn:
            return (await conn.execute(stmt)).rowcount > 0

    async def remove(self, email: str) -> bool:
        c = t.dashboard_users.c
        stmt = delete(t.dashboard_users).where(c.email == normalize_email(email))
        async with self._engine.begin() as conn:
            return (await conn.execute(stmt)).rowcount > 0

    async def bump_session_version(self, email: str) -> int | None:
        """Revoke every session of ``email``; the new version (None: no such user)."""
        c = t.dashboard_users.c
        stmt = (
            update(t.dashboard_users)
            .where(c.email == normalize_email(email))
            .values(session_version=c.session_version + 1, updated_ns=time.time_ns())
            .returning(c.session_version)
        )
        async with self._engine.begin() as conn:
            value = (await conn.execute(stmt)).scalar()
        return int(value) if value is not None else None

    async def audit(
        self,
        *,
        actor: str,
        action: str,
        target: str = "",
        outcome: str = "ok",
        source_ip: str = "",
        detail: Mapping[str, str] | None = None,
    ) -> None:
        """One line of the audit log, written now (the dashboard's actions, with the client IP)."""
        values = {
            "event_id": f"api-{uuid.uuid4()}",
            "ts_ns": time.time_ns(),
            "actor": actor[:256],
            "action": action[:64],
            "target": target[:256],
            "outcome": outcome[:32],
            "source_ip": source_ip[:64],
            "detail": orjson.dumps(dict(detail or {})).decode(),
        }
        async with self._engine.begin() as conn:
            await conn.execute(insert(t.audit_log).values(**values))

    async def ping(self) -> None:
        """Raise when the database does not answer."""
        async with self._engine.connect() as conn:
            await conn.execute(select(1))


def _user(r: Any) -> UserRow:
    role: Role = next((known for known in ROLES if known == r["role"]), "viewer")
    return UserRow(
        email=str(r["email"]),
        role=role,
        session_version=int(r["session_version"]),
        created_ns=int(r["created_ns"]),
        updated_ns=int(r["updated_ns"]),
    )
