"""The writer process: the production write path, across a pipe, surviving its own death."""

from __future__ import annotations

import os
import signal
from decimal import Decimal
from pathlib import Path

from polyarb.domain.ledger import Ledger
from polyarb.domain.trading import Mode, OrderStatus
from polyarb.store import Durability, FillRecord, Store

from .conftest import PROCESS_WRITER
from .helpers import advance, count, make_fill, make_order, rows, submit_unit_fills, wait_until


async def test_records_cross_the_pipe_and_are_written_once(db_url: str, spool_dir: Path) -> None:
    store = await Store.open(db_url, mode=Mode.PAPER, spool_dir=spool_dir, writer=PROCESS_WRITER)
    try:
        assert store.writer_pid is not None
        assert store.writer_pid != os.getpid()
        ledger = Ledger()
        for n in range(300):
            fill = make_fill(n, size="1")
            ledger.apply_fill(fill)
            store.submit_fill(fill, ledger)
            store.submit_order(advance(make_order(f"ord-{n}"), OrderStatus.SUBMITTING))
        for n in range(300):  # again: idempotent
            store.submit(FillRecord(fill=make_fill(n, size="1")))
        assert await store.flush() is Durability.DATABASE
        assert store.queue_depth == 0
        assert store.stats.written >= 900
        assert store.stats.submitted == 900
        await store.record_order_intent(make_order("ord-intent"))  # the engine's own connection
    finally:
        await store.close()
    assert await count(db_url, "fills") == 300
    assert await count(db_url, "orders") == 301
    (position,) = await rows(db_url, "positions")
    assert position["size"] == Decimal(300)


async def test_a_killed_writer_process_is_restarted_and_nothing_is_lost(
    db_url: str, spool_dir: Path
) -> None:
    store = await Store.open(db_url, mode=Mode.PAPER, spool_dir=spool_dir, writer=PROCESS_WRITER)
    health: list[bool] = []
    try:
        ledger = Ledger()
        first_pid = store.writer_pid
        assert first_pid is not None
        submit_unit_fills(store, ledger, range(200))
        os.kill(first_pid, signal.SIGKILL)  # records in flight: in the pipe, in its queue
        submit_unit_fills(store, ledger, range(200, 400))
        await wait_until(lambda: store.writer_pid not in (None, first_pid), timeout=30)
        await wait_until(lambda: store.healthy, timeout=30)
        assert await store.flush() is Durability.DATABASE
        health.append(store.healthy)
    finally:
        await store.close()
    assert health == [True]
    fills = await rows(db_url, "fills", "id")
    assert sorted(int(f["fill_id"].split("-")[1]) for f in fills) == list(range(400))
    (position,) = await rows(db_url, "positions")
    assert position["size"] == Decimal(400)


async def test_records_outlive_a_writer_that_dies_at_close(db_url: str, spool_dir: Path) -> None:
    """The child is gone and cannot be asked to finish: the engine keeps what it had not
    confirmed in the spool, and the next start writes it."""
    store = await Store.open(db_url, mode=Mode.PAPER, spool_dir=spool_dir, writer=PROCESS_WRITER)
    pid = store.writer_pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # frozen: receives nothing, acknowledges nothing
    for n in range(50):
        store.submit(FillRecord(fill=make_fill(n)))
    os.kill(pid, signal.SIGKILL)
    await store.close(timeout_s=1)
    reopened = await Store.open(db_url, mode=Mode.PAPER, spool_dir=spool_dir, writer=PROCESS_WRITER)
    await reopened.close()
    assert await count(db_url, "fills") == 50
