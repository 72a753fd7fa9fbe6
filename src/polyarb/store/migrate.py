"""Schema migrations: Alembic run programmatically (no ini file; works from an installed wheel)."""

from __future__ import annotations

import logging
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from polyarb.store.errors import SchemaOutdated

log = structlog.get_logger(__name__)

# Alembic narrates every step at INFO ("Context impl ..."); our own log line says what happened.
logging.getLogger("alembic").setLevel(logging.WARNING)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("the store has no migrations")
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> str | None:
    """Migrate the database to ``revision`` in one transaction; returns the revision reached."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)
    return await current_revision(engine)


async def ensure_schema(engine: AsyncEngine, *, auto_upgrade: bool) -> str:
    """Bring the schema to head (``auto_upgrade``) or check it is there; returns the revision."""
    head = head_revision()
    current = await current_revision(engine)
    if current == head:
        return head
    if current is not None and current not in _known_revisions():
        raise SchemaOutdated(
            f"the database schema is at revision {current!r}, unknown to this polyarb "
            f"(which expects {head!r}): was it migrated by a newer version?"
        )
    if not auto_upgrade:
        raise SchemaOutdated(
            f"the database schema is at {current or 'an empty database'}, this polyarb needs "
            f"revision {head}: run `polyarb db upgrade` (or set DB_AUTO_UPGRADE=true)"
        )
    reached = await upgrade(engine)
    log.info("database schema upgraded", previous=current, revision=reached)
    return reached or head


def _known_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return {rev.revision for rev in script.walk_revisions()}
