"""Migrations: one set that builds the schema of ``tables.py`` on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from polyarb.store import SchemaOutdated
from polyarb.store.database import create_engine
from polyarb.store.migrate import (
    alembic_config,
    current_revision,
    ensure_schema,
    head_revision,
    upgrade,
)
from polyarb.store.tables import NAMING_CONVENTION, metadata


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _downgrade_to_base(connection: Connection) -> None:
    command.downgrade(alembic_config(connection), "base")


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_from_empty_builds_exactly_the_declared_schema(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        assert await current_revision(engine) is None
        assert await upgrade(engine) == head_revision()
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            names = await conn.run_sync(_table_names)
        assert set(metadata.tables) <= names
        # Idempotent: upgrading an up-to-date database changes nothing.
        assert await upgrade(engine) == head_revision()
    finally:
        await engine.dispose()


async def test_downgrade_to_base_and_up_again(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.run_sync(_downgrade_to_base)
        assert await current_revision(engine) is None
        async with engine.connect() as conn:
            assert not set(metadata.tables) & await conn.run_sync(_table_names)
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_ensure_schema_refuses_an_old_schema_without_auto_upgrade(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with pytest.raises(SchemaOutdated, match="polyarb db upgrade"):
            await ensure_schema(engine, auto_upgrade=False)
        assert await ensure_schema(engine, auto_upgrade=True) == head_revision()
        assert await ensure_schema(engine, auto_upgrade=False) == head_revision()
    finally:
        await engine.dispose()


def test_constraints_are_named_by_the_convention() -> None:
    assert metadata.naming_convention == NAMING_CONVENTION
    for table in metadata.tables.values():
        for constraint in table.constraints:
            assert constraint.name, f"unnamed constraint on {table.name}"
        for index in table.indexes:
            assert str(index.name).startswith("ix_"), index.name


def test_migrations_ship_inside_the_package() -> None:
    config = alembic_config()
    location = Path(str(config.get_main_option("script_location")))
    assert (location / "env.py").is_file()
    assert list((location / "versions").glob("r*.py"))
    assert "polyarb/store/migrations" in location.as_posix()
