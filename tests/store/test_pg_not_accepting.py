"""PostgreSQL refusing connections is an outage, never a bad row: the real server answering
SQLSTATE 55000 ("not accepting connections": ``ALTER DATABASE ... ALLOW_CONNECTIONS false``),
57P01 (``pg_terminate_backend``) and 3D000 (no such database). Rows are spooled, trading is
told (health), the spool is replayed when the database takes connections again, and nothing
goes to ``rejected.jsonl``. Only the test's own database is altered; it is dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from polyarb.domain.ledger import Ledger
from polyarb.store import Durability, ErrorRecord, StoreUnavailable
from polyarb.store.database import create_engine, is_connectivity_error, is_row_error
from polyarb.store.spool import REJECTED_FILE

from .conftest import PROCESS_WRITER
from .helpers import make_order, open_watched, rows, submit_unit_fills, wait_until


def admin_dsn(url: str) -> str:
    parsed = urlparse(url.replace("postgresql+asyncpg", "postgresql"))
    return parsed._replace(path="/postgres").geturl()


def database_of(url: str) -> str:
    return urlparse(url).path.lstrip("/")


class OwnDatabase:
    """Refuse or allow connections to the test's own database, and end its sessions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = database_of(url)
        assert self.name.startswith("polyarb_test_"), self.name  # never anyone else's

    async def _admin(self, *statements: str) -> None:
        conn = await asyncpg.connect(admin_dsn(self.url))
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    async def refuse_connections(self) -> None:
        await self._admin(
            f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false',
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self.name}' AND pid <> pg_backend_pid()",
        )

    async def allow_connections(self) -> None:
        await self._admin(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')


@pytest.fixture
async def own_database(postgres_url: str) -> AsyncIterator[OwnDatabase]:
    database = OwnDatabase(postgres_url)
    yield database
    await database.allow_connections()  # so that the fixture can drop it


async def test_not_accepting_connections_is_an_outage_and_loses_nothing(
    own_database: OwnDatabase, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    url = own_database.url
    store, health = await open_watched(url, spool_dir, PROCESS_WRITER)
    ledger = Ledger(Decimal(1000))
    try:
        submit_unit_fills(store, ledger, range(20))
        assert await store.flush() is Durability.DATABASE

        await own_database.refuse_connections()  # 57P01 now, 55000 on every reconnect
        submit_unit_fills(store, ledger, range(20, 120))
        store.submit(ErrorRecord(ts_ns=1, source="test", kind="probe", message="during"))
        assert await store.flush() is Durability.SPOOL
        assert not store.healthy
        assert health == [False]
        with pytest.raises(StoreUnavailable):  # an order is not sent while it cannot be recorded
            await store.record_order_intent(make_order("ord-during-outage"))
        assert not (spool_dir / REJECTED_FILE).exists()

        await own_database.allow_connections()
        await wait_until(lambda: store.healthy, timeout=20)
        assert health == [False, True]
        await store.flush()
        assert store.stats.rejected_records == 0
    finally:
        await store.close()
    assert not (spool_dir / REJECTED_FILE).exists()
    fills = await rows(url, "fills", "ts_ns")
    assert [f["fill_id"] for f in fills] == [f"fill-{n}" for n in range(120)]
    kinds = sorted(e["kind"] for e in await rows(url, "errors"))
    assert kinds == ["database_outage", "probe"]


async def failure_of(url: str, statement: str) -> Exception:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    except Exception as exc:
        return exc
    finally:
        await engine.dispose()
    raise AssertionError(f"{statement!r} did not fail")


async def test_the_real_servers_answers_are_classified_by_whether_the_row_could_succeed(
    own_database: OwnDatabase,
) -> None:
    url = own_database.url
    value_too_long = await failure_of(url, "SELECT CAST('abc' AS varchar(2))::text || 1/0")
    missing = await failure_of(
        url.rsplit("/", 1)[0] + f"/polyarb_missing_{uuid.uuid4().hex}", "SELECT 1"
    )
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            await own_database.refuse_connections()  # terminates this session: 57P01
            with pytest.raises(DBAPIError) as caught:
                await conn.execute(text("SELECT 1"))
        terminated = caught.value
    finally:
        await engine.dispose()
    refused = await failure_of(url, "SELECT 1")
    states = [getattr(getattr(e, "orig", None), "sqlstate", None) for e in (missing, refused)]
    assert states == ["3D000", "55000"]
    for outage in (missing, terminated, refused):
        assert not is_row_error(outage)
        assert is_connectivity_error(outage)
    assert getattr(getattr(value_too_long, "orig", None), "sqlstate", "")[:2] == "22"
    assert is_row_error(value_too_long)
    assert not is_connectivity_error(value_too_long)


def test_errors_that_are_not_about_the_row_are_outages() -> None:
    for outage in (ConnectionResetError(104, "reset"), TimeoutError(), RuntimeError("bug")):
        assert not is_row_error(outage), outage
    assert is_row_error(ValueError("a value the row cannot be written with"))
