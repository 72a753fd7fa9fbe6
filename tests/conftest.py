"""Shared test fixtures.

Service-backed tests find the real servers at ``REDIS_TEST_URL`` / ``POSTGRES_TEST_URL``
(defaults: the machine's local servers). Outside CI a missing server skips those tests with the
reason; under ``CI=true`` it is a failure, because CI must prove the real thing works.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
POSTGRES_TEST_URL = os.environ.get(
    "POSTGRES_TEST_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Run every test in a temp dir so a developer's .env or data folder never leaks in."""
    monkeypatch.chdir(tmp_path)


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or default_port
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, url: str, default_port: int) -> None:
    if _reachable(url, default_port):
        return
    message = f"{name} not reachable at {url}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: service-backed tests must run)")
    pytest.skip(message)


@pytest.fixture
def redis_url() -> str:
    """URL of the real Redis server (database 15 by default); skipped/failed when absent."""
    require_service("Redis", REDIS_TEST_URL, 6379)
    return REDIS_TEST_URL


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """URL of a fresh, empty PostgreSQL database on the real server, dropped afterwards."""
    require_service("PostgreSQL", POSTGRES_TEST_URL, 5432)
    import asyncpg

    parsed = urlparse(POSTGRES_TEST_URL.replace("postgresql+asyncpg", "postgresql"))
    admin_dsn = parsed._replace(path="/postgres").geturl()
    name = f"polyarb_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    yield POSTGRES_TEST_URL.rsplit("/", 1)[0] + f"/{name}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
    await asyncio.sleep(0)
