"""Shared test fixtures.

Service-backed tests find the real servers at ``REDIS_TEST_URL`` / ``POSTGRES_TEST_URL``
(defaults: the machine's local servers, shared with other runs: a fresh database per test, Redis
database 15, unique channel prefixes). Tests that stop a server use one of their own
(``own_redis``, ``own_postgres``: tests/servers.py), and the session checks at its end that the
shared servers were left as found (tests/machine_guard.py). Outside CI a missing server skips
those tests with the reason; under ``CI=true`` every skip is a failure, because CI must prove the
real thing works.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from pathlib import Path
from typing import NoReturn, TypeVar
from urllib.parse import urlparse

import pytest
import structlog
from tests.machine_guard import (
    SESSION_DB_PREFIX,
    postgres_differences,
    postgres_snapshot,
    redis_differences,
    redis_snapshot,
)
from tests.servers import PostgresCluster, RedisServer, ServerUnavailable

FIXTURES = Path(__file__).parent / "fixtures"
REDIS_TEST_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
POSTGRES_TEST_URL = os.environ.get(
    "POSTGRES_TEST_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
# Engines run in-process by the tests serve no /health, /ready, /metrics unless a test asks
# (HEALTH_PORT defaults to 8080: parallel test runs on one machine would fight over it).
os.environ.setdefault("HEALTH_PORT", "0")


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _fail_skip_under_ci(report: pytest.TestReport | pytest.CollectReport) -> None:
    # Under CI a skip hides a test that did not run: it fails instead (xfails are not skips).
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true (nothing may skip in CI): {_skip_reason(report)}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _fail_skip_under_ci(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    _fail_skip_under_ci(report)
    return report


@pytest.fixture(scope="session", autouse=True)
def _machine_services_untouched() -> Iterator[None]:
    """Fails the session if the machine's shared Redis or PostgreSQL was disturbed by it."""
    redis_before = redis_snapshot(REDIS_TEST_URL)
    postgres_before = postgres_snapshot(POSTGRES_TEST_URL)
    yield
    problems = []
    if redis_before is not None:
        problems += redis_differences(REDIS_TEST_URL, redis_before)
    if postgres_before is not None:
        problems += postgres_differences(POSTGRES_TEST_URL, postgres_before)
    assert not problems, "the suite disturbed the machine's services: " + "; ".join(problems)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Run every test in a temp dir so a developer's .env or data folder never leaks in; a
    command run in-process (typer's CliRunner) configures structlog globally (``polyarb replay``
    filters below warnings), so the defaults are restored after every test."""
    monkeypatch.chdir(tmp_path)
    yield
    structlog.reset_defaults()


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or default_port
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def unavailable(message: str) -> NoReturn:
    """A test that cannot run here: a failure under CI, a visible skip on a developer's machine."""
    if IN_CI:
        pytest.fail(f"{message} (CI=true: service-backed tests must run)")
    pytest.skip(message)


def require_service(name: str, url: str, default_port: int) -> None:
    if not _reachable(url, default_port):
        unavailable(f"{name} not reachable at {url}")


S = TypeVar("S", RedisServer, PostgresCluster)


def _own_server(make: Callable[[], S], what: str) -> Iterator[S]:
    """A started ``make()``, closed after the test; ``unavailable`` when it cannot start."""
    try:
        server = make()
    except ServerUnavailable as exc:
        unavailable(f"cannot start {what} for the test: {exc}")
    try:
        server.start()
    except ServerUnavailable as exc:
        server.close()
        unavailable(f"cannot start {what} for the test: {exc}")
    yield server
    server.close()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A started redis-server of this test's own (fault tests may shut it down)."""
    yield from _own_server(RedisServer, "a Redis")


@pytest.fixture
def own_postgres() -> Iterator[PostgresCluster]:
    """A started throwaway PostgreSQL cluster of this test's own (fault tests may stop it)."""
    yield from _own_server(PostgresCluster, "a PostgreSQL cluster")


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
    name = f"{SESSION_DB_PREFIX}{uuid.uuid4().hex[:12]}"
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


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, or a new database on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
