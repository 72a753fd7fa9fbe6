"""The real thing: PostgreSQL stopped and restarted with its own service commands under write
load; afterwards nothing is missing and nothing is doubled.

Marked slow: it stops the machine's shared PostgreSQL for about two seconds. The server is
started again in ``finally`` whatever happens.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from decimal import Decimal
from pathlib import Path

import pytest

from polyarb.domain.ledger import Ledger
from polyarb.domain.trading import Mode
from polyarb.store import Store, StoreUnavailable

from .conftest import PROCESS_WRITER
from .helpers import count, make_fill, make_order, rows, wait_until

pytestmark = pytest.mark.slow

OUTAGE_S = 2.0


def _cluster() -> tuple[str, str]:
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        pytest.skip("pg_ctlcluster / /etc/postgresql not present: cannot restart PostgreSQL")
    if os.geteuid() != 0:
        pytest.skip("restarting PostgreSQL with pg_ctlcluster needs root")
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir() if p.is_dir())
    return versions[-1], "main"


async def _pg_ctl(action: str, version: str, cluster: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "pg_ctlcluster",
        "--skip-systemctl-redirect",
        version,
        cluster,
        action,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    if process.returncode not in (0, 2):  # 2: already in that state
        raise RuntimeError(f"pg_ctlcluster {action}: {output.decode(errors='replace')}")


async def _ready(timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        process = await asyncio.create_subprocess_exec(
            "pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"
        )
        if await process.wait() == 0:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("PostgreSQL did not come back")


async def test_postgres_stopped_and_restarted_under_load(postgres_url: str, tmp_path: Path) -> None:
    version, cluster = _cluster()
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
        await asyncio.sleep(0.5)
        await _pg_ctl("stop", version, cluster)
        stopped_at = time.monotonic()
        try:
            await wait_until(lambda: not store.healthy, timeout=10)
            with pytest.raises(StoreUnavailable):
                await store.record_order_intent(make_order("ord-during-outage"))
            intent_refused = True
            await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped_at)))
        finally:
            await _pg_ctl("start", version, cluster)
            await _ready()
        await wait_until(lambda: store.healthy, timeout=30)
        back_at = time.monotonic()
        await asyncio.sleep(0.3)
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
