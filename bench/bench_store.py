"""Store benchmark: writer throughput, and what writing costs the hot loop.

1. Sustained throughput: fills (each with its ledger rows), order updates and signals submitted as
   fast as the producer can, through the background writer, into SQLite and into PostgreSQL;
   events/s = records / (first submit -> everything committed).
2. Hot-loop latency: a simulated market-data loop (frames arrive on a fixed schedule; each is a
   book update, a sweep and a decision) measures tick-to-decision (scheduled arrival -> decision,
   so event-loop delays count) with the store idle and with the writer busy committing a steady
   stream of records submitted by that same loop. p50 / p90 / p99 / p99.9, per database, for the
   writer in its own process (default) and in the engine's process. The "no store" run does the
   same ledger work without writing; "cpu/rec" is what writing adds to the engine process's CPU
   per fill (µs, all its threads).

    .venv/bin/python bench/bench_store.py [--postgres-url URL] [--records 20000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import struct
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import asyncpg

from polyarb.domain.book import OrderBook, Side
from polyarb.domain.ledger import Ledger
from polyarb.domain.trading import Fill, Mode, Order, OrderStatus, OrderType, Signal
from polyarb.store import Store, WriterConfig, ledger_state

FRAME = struct.Struct("<qq")  # sequence, send time (perf_counter ns: CLOCK_MONOTONIC)
DEFAULT_PG = os.environ.get(
    "POSTGRES_TEST_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


WRITERS = (
    ("process", WriterConfig(process=True)),
    ("in-process", WriterConfig(process=False)),
)


def _fill(n: int, side: Side = Side.BUY) -> Fill:
    return Fill(
        fill_id=f"f-{n}",
        client_order_id=f"o-{n}",
        token_id=f"tok-{n % 50}",
        market=f"mkt-{n % 25}",
        side=side,
        price=Decimal("0.4321"),
        size=Decimal("12.5"),
        fee=Decimal("0.01081"),
        ts_ns=time.time_ns(),
        strategy="sum_to_100",
        mode=Mode.PAPER,
    )


def _order(n: int) -> Order:
    order = Order(
        client_id=f"o-{n}",
        token_id=f"tok-{n % 50}",
        market=f"mkt-{n % 25}",
        side=Side.BUY,
        price=Decimal("0.44"),
        size=Decimal("12.5"),
        order_type=OrderType.FOK,
        strategy="sum_to_100",
        mode=Mode.PAPER,
        created_ns=time.time_ns(),
    )
    order.transition(OrderStatus.SUBMITTING, time.time_ns())
    order.transition(OrderStatus.ACKED, time.time_ns())
    order.transition(OrderStatus.FILLED, time.time_ns())
    return order


def _signal(n: int) -> Signal:
    return Signal(
        strategy="sum_to_100",
        market=f"mkt-{n % 25}",
        ts_recv_ns=time.time_ns(),
        edge=Decimal("0.012"),
        size=Decimal(40),
        legs=(),
        signal_id=f"s-{n}",
    )


async def _fresh_pg(url: str) -> tuple[str, str]:
    admin = url.replace("postgresql+asyncpg", "postgresql").rsplit("/", 1)[0] + "/postgres"
    name = f"polyarb_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.rsplit("/", 1)[0] + f"/{name}", admin


async def _drop_pg(admin: str, url: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


async def throughput(
    url: str, spool: Path, records: int, config: WriterConfig
) -> tuple[float, float]:
    """(records/s, fills/s): a third fills with ledger rows, a third order updates, a third
    signals."""
    store = await Store.open(url, mode=Mode.PAPER, spool_dir=spool, writer=config)
    ledger = Ledger(Decimal(10**9))
    try:
        started = time.perf_counter()
        n = 0
        while n < records:
            for _ in range(300):
                fill = _fill(n)
                ledger.apply_fill(fill)
                store.submit_fill(fill, ledger)
                store.submit_order(_order(n))
                store.submit_signal(_signal(n), "taken")
                n += 3
            await asyncio.sleep(0)  # a producer that yields, like the engine's loop
        await store.flush()
        elapsed = time.perf_counter() - started
        assert store.stats.written >= records
    finally:
        await store.close()
    return records / elapsed, records / 3 / elapsed


def _frame_sender(sock: socket.socket, rate_hz: float, total: int) -> None:
    """Another process: send ``total`` frames (seq, send time) at ``rate_hz`` on ``sock``."""
    period_ns = int(1e9 / rate_hz)
    next_ns = time.perf_counter_ns() + 200_000_000
    for seq in range(total):
        delay = (next_ns - time.perf_counter_ns()) / 1e9
        if delay > 0:
            time.sleep(delay)
        sock.sendall(FRAME.pack(seq, time.perf_counter_ns()))
        next_ns += period_ns
    sock.close()


async def hot_loop(
    url: str | None,
    spool: Path,
    seconds: float,
    rate_hz: float,
    records_per_s: float,
    config: WriterConfig,
) -> tuple[list[float], int, float]:
    """Tick-to-decision samples (µs), records written and the engine process's CPU seconds
    (all its threads) over the run: frames from another process (like WebSocket frames) are
    read by the loop, each one a book update + sweep + decision; ``records_per_s`` fills (with
    ledger rows) are submitted to the store meanwhile. Send time -> decision, so any delay the
    writer causes on the loop counts."""
    store = None
    if url is not None:
        store = await Store.open(url, mode=Mode.PAPER, spool_dir=spool, writer=config)
    loop = asyncio.get_running_loop()
    book = OrderBook("tok", "mkt")
    book.apply_snapshot(
        [(p, 1_000_000_000) for p in range(4000, 4500, 100)],
        [(p, 1_000_000_000) for p in range(5500, 6000, 100)],
        0,
        0,
    )
    total = int(seconds * rate_hz)
    every = max(1, round(rate_hz / records_per_s)) if records_per_s else 0
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    sender = mp.get_context("fork").Process(
        target=_frame_sender, args=(theirs, rate_hz, total), daemon=True
    )
    sender.start()
    theirs.close()
    samples: list[float] = []
    ledger = Ledger(Decimal(10**9))
    done = loop.create_future()
    pending = b""
    counter = 0

    def readable() -> None:
        nonlocal pending, counter
        try:
            data = ours.recv(65536)
        except BlockingIOError:
            return
        if not data:
            if not done.done():
                done.set_result(None)
            return
        pending += data
        usable = len(pending) - len(pending) % FRAME.size
        for offset in range(0, usable, FRAME.size):
            seq, sent_ns = FRAME.unpack_from(pending, offset)
            book.apply_level(Side.SELL, 5500 + (seq % 5) * 100, 1_000_000_000 + seq, 0, 0)
            sweep = book.vwap_buy(50_000_000)
            _ = sweep.cost < 50_000_000 * 5600
            if every and seq % every == 0:
                counter += 1
                fill = _fill(counter)
                ledger.apply_fill(fill)
                if store is not None:
                    store.submit_fill(fill, ledger)
                else:  # the same ledger work, nothing written: the store's marginal cost shows
                    ledger_state(
                        ledger,
                        Mode.PAPER,
                        fill.ts_ns,
                        touched=((fill.strategy, fill.token_id),),
                        markets={fill.token_id: fill.market},
                    )
            samples.append((time.perf_counter_ns() - sent_ns) / 1000)
        pending = pending[usable:]

    cpu_started = time.process_time()
    loop.add_reader(ours.fileno(), readable)
    try:
        await done
    finally:
        loop.remove_reader(ours.fileno())
        ours.close()
        sender.join()
    written = 0
    if store is not None:
        await store.flush()
        cpu = time.process_time() - cpu_started
        written = store.stats.written
        await store.close()
    else:
        cpu = time.process_time() - cpu_started
    return samples, written, cpu


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", default=DEFAULT_PG)
    parser.add_argument("--records", type=int, default=30_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=2000.0, help="frames per second")
    parser.add_argument(
        "--records-per-s",
        type=float,
        nargs="+",
        default=[50.0, 500.0],
        help="fills (with ledger rows) per second submitted while the loop runs",
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the hot-loop runs")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_store_"))
    targets: list[tuple[str, str]] = [("sqlite", f"sqlite+aiosqlite:///{work / 'bench.db'}")]
    pg_admin = None
    try:
        pg_url, pg_admin = await _fresh_pg(args.postgres_url)
        targets.append(("postgres", pg_url))
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"PostgreSQL not reachable ({exc}); SQLite only")
    try:
        print(f"== writer throughput ({args.records} records: fills+ledger, orders, signals)")
        for name, url in targets:
            for label, config in WRITERS:
                per_s, fills_s = await throughput(
                    url, work / f"spool-{name}-{label}-t", args.records, config
                )
                print(
                    f"{name:9s} {label:11s} {per_s:10,.0f} records/s  "
                    f"({fills_s:,.0f} fills/s with ledger rows)"
                )

        print(
            f"\n== hot loop: {args.rate:,.0f} frames/s for {args.seconds:g} s from another "
            "process; tick-to-decision in µs (send -> decision)"
        )
        print(
            f"{'':34s} {'p50':>8s} {'p90':>8s} {'p99':>8s} {'p99.9':>8s} {'max':>9s} "
            f"{'records':>8s} {'cpu/rec':>9s}"
        )
        for records_per_s in args.records_per_s:
            for _ in range(args.repeat):
                base, _, base_cpu = await hot_loop(
                    None,
                    work / "spool-none",
                    args.seconds,
                    args.rate,
                    records_per_s,
                    WriterConfig(),
                )
                rows = [(f"no store (ledger only), {records_per_s:g}/s", base, 0, 0.0)]
                made = round(args.seconds * records_per_s)
                for name, url in targets:
                    for label, config in WRITERS:
                        samples, written, cpu = await hot_loop(
                            url,
                            work / f"spool-{name}-{label}-{records_per_s}",
                            args.seconds,
                            args.rate,
                            records_per_s,
                            config,
                        )
                        per_record = (cpu - base_cpu) / made * 1e6
                        rows.append(
                            (f"{name} {label}, {records_per_s:g}/s", samples, written, per_record)
                        )
                for label, samples, written, per_record in rows:
                    print(
                        f"{label:34s} {statistics.median(samples):8.1f} "
                        f"{_pct(samples, 0.9):8.1f} {_pct(samples, 0.99):8.1f} "
                        f"{_pct(samples, 0.999):8.1f} {max(samples):9.1f} {written:8d} "
                        f"{per_record:9.1f}"
                    )
    finally:
        if pg_admin is not None:
            for name, url in targets:
                if name == "postgres":
                    with contextlib.suppress(Exception):
                        await _drop_pg(pg_admin, url)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
