"""The real thing: PostgreSQL stopped (``pg_ctl stop -m immediate``, a crash) and started again
under write load; afterwards nothing is missing and nothing is doubled.

The cluster is the test's own (tests/servers.py: ``initdb`` in a temp dir, a free port), so the
machine's shared PostgreSQL is never touched.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import pytest
from tests.servers import PostgresCluster

from polyarb.domain.ledger import Ledger
from polyarb.domain.trading import Mode
from polyarb.store import Store, StoreUnavailable

from .conftest import PROCESS_WRITER
from .helpers import count, make_fill, make_order, rows, wait_until

pytestmark = pytest.mark.slow

OUTAGE_S = 2.0


async def test_postgres_stopped_and_restarted_under_load(
    own_postgres: PostgresCluster, tmp_path: Path
) -> None:
    postgres_url = own_postgres.url()
    health: list[tuple[float, bool]] = []
    store = await Store.open(
        postgres_url,
        mode=Mode.PAPER,
        spool_dir=tmp_path / "spool",
        writer=PROCESS_WRITER,
        on_health=lambda ok, _r: health.append((time.monotonic(), ok)),
    )
    ledger = Ledger(Decimal(100_000))
    submitted = 0
    stop_load = asyncio.Event()

    async def load() -> None:
        nonlocal submitted
        while not stop_load.is_set():
            for _ in range(20):
                fill = make_fill(submitted, size="1")
                ledger.apply_fill(fill)
                store.submit_fill(fill, ledger)
                submitted += 1
            await asyncio.sleep(0.01)  # ~2000 fills/s

    loader = asyncio.create_task(load())
    intent_refused = False
    try:
        await wait_until(lambda: submitted >= 1000, timeout=10)  # the load is on
        await asyncio.to_thread(own_postgres.stop, "immediate")
        stopped_at = time.monotonic()
        try:
            await wait_until(lambda: not store.healthy, timeout=10)
            with pytest.raises(StoreUnavailable):
                await store.record_order_intent(make_order("ord-during-outage"))
            intent_refused = True
            await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped_at)))
        finally:
            await asyncio.to_thread(own_postgres.start)  # returns once it accepts connections
        await wait_until(lambda: store.healthy, timeout=30)
        back_at = time.monotonic()
        after_recovery = submitted
        await wait_until(lambda: submitted >= after_recovery + 500, timeout=10)
    finally:
        stop_load.set()
        await loader
        await store.flush()
        stats = store.stats
        await store.close()

    assert intent_refused
    fills = await rows(postgres_url, "fills", "id")
    assert len(fills) == submitted
    assert {f["fill_id"] for f in fills} == {f"fill-{n}" for n in range(submitted)}
    (position,) = await rows(postgres_url, "positions")
    assert position["size"] == ledger.shares("tok-yes") == Decimal(submitted)
    assert await count(postgres_url, "orders") == 0
    assert stats.spooled_records > 0
    assert stats.replayed_records == stats.spooled_records
    print(
        f"\nPostgreSQL restart under load: {submitted} fills submitted, "
        f"{stats.spooled_records} records spooled ({stats.spooled_batches} batches), "
        f"{stats.replayed_records} replayed, healthy again {back_at - stopped_at:.2f} s after stop"
    )
