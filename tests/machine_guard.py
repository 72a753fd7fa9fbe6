"""Proof that the suite leaves the machine's shared Redis and PostgreSQL as it found them.

A snapshot is taken before the first test and compared after the last one (tests/conftest.py):
the Redis server was not restarted (same ``run_id``) and still holds every persistent key it
held outside the test database; the PostgreSQL postmaster was not restarted (same
``pg_postmaster_start_time()``), every database that existed still exists, and none of the
databases this session created (``SESSION_DB_PREFIX``) is left behind. Fault tests run against
servers they start themselves (tests/servers.py), so any difference here is a bug.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlparse

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

# Databases made by the postgres_url fixture in this session carry this prefix, so the check
# can tell them from those of other sessions running on the same server at the same time.
SESSION_DB_PREFIX = f"polyarb_test_{secrets.token_hex(4)}_"
MAX_KEYS_PER_DB = 10_000


@dataclass
class RedisSnapshot:
    run_id: str
    keys: dict[int, set[bytes]] = field(default_factory=dict)  # db -> persistent keys


@dataclass
class PostgresSnapshot:
    started: str
    databases: set[str]


def _redis(url: str, db: int) -> Redis:
    parsed = urlparse(url)
    return Redis(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 6379,
        db=db,
        socket_timeout=2.0,
        socket_connect_timeout=2.0,
        retry=Retry(NoBackoff(), 0),  # a server that is down is an answer, not a reason to wait
    )


def redis_snapshot(url: str) -> RedisSnapshot | None:
    """The server's identity and its persistent keys outside the test database; None if down."""
    test_db = int(urlparse(url).path.strip("/") or 0)
    client = _redis(url, 0)
    try:
        snapshot = RedisSnapshot(run_id=str(client.info("server")["run_id"]))
        for name in client.info("keyspace"):
            db = int(str(name).removeprefix("db"))
            if db == test_db:
                continue
            scoped = _redis(url, db)
            try:
                keys: set[bytes] = set()
                for key in scoped.scan_iter(count=1000):
                    if scoped.ttl(key) == -1:  # keys that expire may go on their own
                        keys.add(key)
                    if len(keys) >= MAX_KEYS_PER_DB:
                        break
                snapshot.keys[db] = keys
            finally:
                scoped.close()
        return snapshot
    except (RedisError, OSError):
        return None
    finally:
        client.close()


def redis_differences(url: str, before: RedisSnapshot) -> list[str]:
    after = redis_snapshot(url)
    if after is None:
        return [f"the machine's Redis at {url} no longer answers (it did before the tests)"]
    problems = []
    if after.run_id != before.run_id:
        problems.append(
            f"the machine's Redis at {url} was restarted during the tests (run_id changed; by "
            "this suite or by something else on the machine)"
        )
    for db, keys in before.keys.items():
        client = _redis(url, db)
        try:
            missing = [key for key in keys if not client.exists(key)]
        finally:
            client.close()
        if missing:
            problems.append(
                f"Redis db {db} lost {len(missing)} persistent keys during the tests, "
                f"e.g. {missing[:3]}"
            )
    return problems


def _admin_dsn(url: str) -> str:
    parsed = urlparse(url.replace("postgresql+asyncpg", "postgresql"))
    return parsed._replace(path="/postgres").geturl()


async def _postgres_snapshot(url: str) -> PostgresSnapshot:
    import asyncpg

    conn = await asyncpg.connect(_admin_dsn(url), timeout=3.0)
    try:
        started = await conn.fetchval("SELECT pg_postmaster_start_time()::text")
        names = await conn.fetch("SELECT datname FROM pg_database")
    finally:
        await conn.close()
    return PostgresSnapshot(str(started), {str(row["datname"]) for row in names})


def postgres_snapshot(url: str) -> PostgresSnapshot | None:
    """The postmaster's start time and the databases; None if the server does not answer."""
    # Its own thread and loop: the caller may be inside pytest-asyncio's running loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            return pool.submit(asyncio.run, _postgres_snapshot(url)).result(timeout=10)
        except (OSError, TimeoutError, concurrent.futures.TimeoutError):
            return None
        except Exception as exc:  # asyncpg's errors do not share a base with OSError
            if type(exc).__module__.startswith("asyncpg"):
                return None
            raise


def postgres_differences(url: str, before: PostgresSnapshot) -> list[str]:
    after = postgres_snapshot(url)
    where = urlparse(url).netloc
    if after is None:
        return [f"the machine's PostgreSQL at {where} no longer answers (it did before the tests)"]
    problems = []
    if after.started != before.started:
        problems.append(
            f"the machine's PostgreSQL at {where} was restarted during the tests "
            f"(postmaster start {before.started} -> {after.started}; by this suite or by "
            "something else on the machine)"
        )
    gone = before.databases - after.databases
    gone = {name for name in gone if not name.startswith("polyarb_test_")}  # others' sessions
    if gone:
        problems.append(f"databases dropped during the tests: {sorted(gone)}")
    left = sorted(name for name in after.databases if name.startswith(SESSION_DB_PREFIX))
    if left:
        problems.append(f"test databases left behind: {left}")
    return problems
