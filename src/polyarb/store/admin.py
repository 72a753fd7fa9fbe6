"""One-shot database operations for the command line: upgrade, status, prune, export.

Each opens its own short-lived connection pool (no writer, no spool), so they can run while an
engine is trading on the same database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy.ext.asyncio import AsyncEngine

from polyarb.store.database import create_engine, unreachable_as_unavailable
from polyarb.store.migrate import current_revision, head_revision, upgrade
from polyarb.store.queries import StoreQueries
from polyarb.store.retention import PruneReport, prune


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    previous: str | None  # the revision before the command ran
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


@asynccontextmanager
async def _engine(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(url)
    try:
        with unreachable_as_unavailable(url):
            yield engine
    finally:
        await engine.dispose()


async def upgrade_database(url: str, revision: str = "head") -> SchemaStatus:
    async with _engine(url) as engine:
        previous = await current_revision(engine)
        reached = await upgrade(engine, revision)
        return SchemaStatus(previous, reached, head_revision())


async def schema_status(url: str) -> SchemaStatus:
    async with _engine(url) as engine:
        current = await current_revision(engine)
        return SchemaStatus(current, current, head_revision())


async def prune_database(url: str, *, older_than_days: float) -> PruneReport:
    async with _engine(url) as engine:
        return await prune(engine, older_than_days=older_than_days)


async def export_trades(url: str, out: IO[str], **filters: Any) -> int:
    """Write the trades matching ``filters`` (see ``StoreQueries.iter_trades``) as CSV."""
    async with _engine(url) as engine:
        return await StoreQueries(engine).export_trades_csv(out, **filters)


async def ensure_database(url: str, *, auto_upgrade: bool) -> str:
    """Bring the schema to head (or check it is there); the revision. For the dashboard/CLI."""
    from polyarb.store.migrate import ensure_schema

    async with _engine(url) as engine:
        return await ensure_schema(engine, auto_upgrade=auto_upgrade)
