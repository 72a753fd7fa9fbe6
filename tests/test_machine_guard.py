"""The session-end check notices a restarted server, lost keys and left-over test databases.

Run against the test's own servers (restarting the machine's is what the check forbids).
"""

from __future__ import annotations

import asyncio

import asyncpg
from redis import Redis
from tests.machine_guard import (
    SESSION_DB_PREFIX,
    postgres_differences,
    postgres_snapshot,
    redis_differences,
    redis_snapshot,
)
from tests.servers import PostgresCluster, RedisServer


def test_a_restarted_redis_and_lost_keys_are_reported(own_redis: RedisServer) -> None:
    client = Redis(port=own_redis.port, db=3)
    client.set("operator:setting", "kept")
    client.set("short-lived", "x", ex=600)  # expiring keys may go on their own
    client.close()
    client = Redis(port=own_redis.port, db=15)
    client.set("test-db-key", "x")  # the tests' own database is not checked
    client.close()

    url = own_redis.url(15)
    before = redis_snapshot(url)
    assert before is not None
    assert before.keys == {3: {b"operator:setting"}}
    assert redis_differences(url, before) == []

    own_redis.shutdown_nosave()
    assert redis_differences(url, before) == [
        f"the machine's Redis at {url} no longer answers (it did before the tests)"
    ]
    own_redis.start()
    problems = redis_differences(url, before)
    assert len(problems) == 2
    assert "was restarted" in problems[0]
    assert "db 3 lost 1 persistent keys" in problems[1]


async def test_a_restarted_postgres_and_left_over_databases_are_reported(
    own_postgres: PostgresCluster,
) -> None:
    url = own_postgres.url()
    admin = url.replace("postgresql+asyncpg", "postgresql")
    conn = await asyncpg.connect(admin)
    await conn.execute('CREATE DATABASE "operator_data"')
    await conn.close()

    before = await asyncio.to_thread(postgres_snapshot, url)
    assert before is not None
    assert "operator_data" in before.databases
    assert await asyncio.to_thread(postgres_differences, url, before) == []

    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{SESSION_DB_PREFIX}leftover"')
    await conn.execute('CREATE DATABASE "polyarb_test_othersession_x"')  # not ours to judge
    await conn.execute('DROP DATABASE "operator_data"')
    await conn.close()
    await asyncio.to_thread(own_postgres.stop, "immediate")
    await asyncio.to_thread(own_postgres.start)

    problems = await asyncio.to_thread(postgres_differences, url, before)
    assert len(problems) == 3, problems
    assert "was restarted" in problems[0]
    assert problems[1] == "databases dropped during the tests: ['operator_data']"
    assert problems[2] == f"test databases left behind: ['{SESSION_DB_PREFIX}leftover']"
