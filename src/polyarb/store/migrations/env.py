"""Alembic environment of the store.

Normally run by ``polyarb.store.migrate`` on a connection it hands over (works from an installed
package, no ini file). The plain ``alembic`` command also works with ``-x url=...`` or
``sqlalchemy.url`` set, for developers writing a new revision.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from polyarb.store.database import create_engine
from polyarb.store.tables import metadata

# Serialises migrations when two processes (engine and dashboard) start on one PostgreSQL.
_PG_MIGRATION_LOCK = 0x706F6C79  # "poly"


def _run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs via table copies
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_url(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def main() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if isinstance(connection, Connection):
        _run(connection)
        return
    if context.is_offline_mode():
        raise RuntimeError("offline (SQL script) migrations are not supported")
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database: pass -x url=... or set sqlalchemy.url")
    asyncio.run(_run_with_url(url))


main()
