"""Database outage: spool to disk, report unhealthy, replay in order, nothing lost or doubled.

The database is made unreachable with a TCP proxy we own (the shared PostgreSQL server keeps
running); the slow test in test_pg_restart.py stops the real server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

import pytest
from tests.proxy import TcpProxy

from polyarb.domain.ledger import Ledger
from polyarb.domain.trading import Mode
from polyarb.store import (
    Durability,
    ErrorRecord,
    FillRecord,
    Store,
    StoreUnavailable,
    WriterConfig,
)
from polyarb.store.records import encode_batch
from polyarb.store.spool import REJECTED_FILE, Spool

from .conftest import FAST_WRITER, PROCESS_WRITER
from .helpers import count, make_fill, make_order, open_watched, rows, submit_unit_fills, wait_until


@pytest.fixture
async def proxied(postgres_url: str) -> AsyncIterator[tuple[str, TcpProxy]]:
    """(URL through the proxy, the proxy) for a fresh PostgreSQL database."""
    parsed = urlparse(postgres_url)
    proxy = await TcpProxy(parsed.hostname or "127.0.0.1", parsed.port or 5432).open()
    url = postgres_url.replace(
        f"{parsed.hostname}:{parsed.port or 5432}", f"127.0.0.1:{proxy.port}"
    )
    try:
        yield url, proxy
    finally:
        await proxy.close()


async def test_outage_spools_then_replays_in_order_exactly_once(
    proxied: tuple[str, TcpProxy], postgres_url: str, spool_dir: Path
) -> None:
    url, proxy = proxied
    store, health = await open_watched(url, spool_dir, PROCESS_WRITER)
    ledger = Ledger(Decimal(1000))
    try:
        submit_unit_fills(store, ledger, range(50))
        assert await store.flush() is Durability.DATABASE

        proxy.cut()
        submit_unit_fills(store, ledger, range(50, 300))  # the hot loop goes on, nothing raises
        assert await store.flush() is Durability.SPOOL
        assert not store.healthy
        assert health == [False]
        assert list(spool_dir.glob("*.jsonl"))
        with pytest.raises(StoreUnavailable):
            await store.record_order_intent(make_order("ord-during-outage"))

        proxy.restore()
        await wait_until(lambda: store.healthy, timeout=15)
        assert health == [False, True]
        await store.flush()
        assert not list(spool_dir.glob("[0-9]*.jsonl"))
        assert store.stats.spooled_records >= 250
        assert store.stats.replayed_records == store.stats.spooled_records
        print(
            f"outage: {store.stats.spooled_records} records spooled in "
            f"{store.stats.spooled_batches} batches, {store.stats.replayed_records} replayed"
        )
        await store.record_order_intent(make_order("ord-after-outage"))
    finally:
        await store.close()

    fills = await rows(postgres_url, "fills", "ts_ns")
    assert [f["fill_id"] for f in fills] == [f"fill-{n}" for n in range(300)]
    (position,) = await rows(postgres_url, "positions")
    assert position["size"] == ledger.shares("tok-yes") == Decimal(300)
    assert position["cost"] == ledger.cost_basis("tok-yes")
    assert await count(postgres_url, "orders") == 1
    outage_notes = await rows(postgres_url, "errors")
    assert [e["kind"] for e in outage_notes] == ["database_outage"]


@pytest.mark.parametrize("writer", [FAST_WRITER, PROCESS_WRITER], ids=["in-process", "process"])
async def test_an_outage_in_the_middle_of_a_commit_writes_nothing_twice(
    proxied: tuple[str, TcpProxy], postgres_url: str, spool_dir: Path, writer: WriterConfig
) -> None:
    url, proxy = proxied
    store = await Store.open(url, mode=Mode.PAPER, spool_dir=spool_dir, writer=writer)
    try:
        for round_ in range(5):
            for n in range(round_ * 200, (round_ + 1) * 200):
                store.submit(FillRecord(fill=make_fill(n)))
            await asyncio.sleep(0.005 * round_)
            proxy.cut()  # lands before, during or after a commit
            await asyncio.sleep(0.02)
            proxy.restore()
        await wait_until(lambda: store.healthy and store.queue_depth == 0, timeout=20)
        await store.flush()
    finally:
        await store.close()
    assert await count(postgres_url, "fills") == 1000


async def test_the_spool_survives_a_restart(
    proxied: tuple[str, TcpProxy], postgres_url: str, spool_dir: Path
) -> None:
    url, proxy = proxied
    store = await Store.open(url, mode=Mode.PAPER, spool_dir=spool_dir, writer=FAST_WRITER)
    proxy.cut()
    for n in range(40):
        store.submit(FillRecord(fill=make_fill(n)))
    assert await store.flush() is Durability.SPOOL
    await store.close(timeout_s=2)  # the process stops while the database is down
    assert await count(postgres_url, "fills") == 0
    proxy.restore()

    reopened = await Store.open(url, mode=Mode.PAPER, spool_dir=spool_dir, writer=FAST_WRITER)
    try:
        assert reopened.healthy
        assert reopened.stats.replayed_records == 40
    finally:
        await reopened.close()
    assert await count(postgres_url, "fills") == 40
    assert not list(spool_dir.glob("[0-9]*.jsonl"))


async def test_a_crash_while_spooling_keeps_every_complete_line(
    db_url: str, spool_dir: Path
) -> None:
    """A SIGKILL mid-write leaves a torn last line: the complete lines before it are replayed,
    the torn one (never reported durable) is set aside."""
    spool = Spool(spool_dir)
    spool.append([FillRecord(fill=make_fill(n)) for n in range(10)])
    spool.append([FillRecord(fill=make_fill(n)) for n in range(10, 20)])
    spool.close()
    (segment,) = spool_dir.glob("[0-9]*.jsonl")
    torn = encode_batch([FillRecord(fill=make_fill(99))])[:-7]
    with segment.open("ab") as handle:
        handle.write(torn)

    store = await Store.open(db_url, mode=Mode.PAPER, spool_dir=spool_dir, writer=FAST_WRITER)
    await store.close()
    ids = sorted(int(f["fill_id"].split("-")[1]) for f in await rows(db_url, "fills"))
    assert ids == list(range(20))
    (rejected,) = (
        json.loads(line) for line in (spool_dir / REJECTED_FILE).read_text().splitlines()
    )
    assert rejected["raw"] == torn.decode()
    assert "truncated" in rejected["reason"]
    assert not list(spool_dir.glob("[0-9]*.jsonl"))


async def test_one_process_per_spool_folder(db_url: str, spool_dir: Path) -> None:
    store = await Store.open(db_url, mode=Mode.PAPER, spool_dir=spool_dir, writer=FAST_WRITER)
    try:
        with pytest.raises(Exception, match="in use by another process"):
            await Store.open(db_url, mode=Mode.PAPER, spool_dir=spool_dir, writer=FAST_WRITER)
    finally:
        await store.close()


async def test_open_fails_clearly_when_the_database_is_down(
    proxied: tuple[str, TcpProxy], spool_dir: Path
) -> None:
    url, proxy = proxied
    proxy.cut()
    with pytest.raises(StoreUnavailable, match="unreachable"):
        await Store.open(url, mode=Mode.PAPER, spool_dir=spool_dir)
    # The spool lock was released: a later start works.
    proxy.restore()
    store = await Store.open(url, mode=Mode.PAPER, spool_dir=spool_dir)
    await store.write(ErrorRecord(ts_ns=1, source="t", kind="k", message="m"))
    await store.close()
