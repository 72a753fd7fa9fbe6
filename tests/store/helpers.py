"""Builders of domain objects and direct database reads for the store tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from polyarb.domain.book import Side
from polyarb.domain.ledger import Ledger
from polyarb.domain.trading import Fill, Mode, Order, OrderStatus, OrderType
from polyarb.store import tables as t
from polyarb.store.database import create_engine
from polyarb.store.store import Store
from polyarb.store.writer import WriterConfig

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
DAY_NS = 86_400 * 1_000_000_000


def make_fill(
    n: int,
    *,
    side: Side = Side.BUY,
    price: str = "0.45",
    size: str = "10",
    fee: str = "0.01",
    token: str = "tok-yes",
    market: str = "mkt-1",
    strategy: str = "sum_to_100",
    ts_ns: int | None = None,
    mode: Mode = Mode.PAPER,
    order: str | None = None,
) -> Fill:
    return Fill(
        fill_id=f"fill-{n}",
        client_order_id=order or f"ord-{n}",
        token_id=token,
        market=market,
        side=side,
        price=Decimal(price),
        size=Decimal(size),
        fee=Decimal(fee),
        ts_ns=ts_ns if ts_ns is not None else T0 + n * 1_000_000,
        strategy=strategy,
        mode=mode,
    )


def make_order(
    client_id: str,
    *,
    mode: Mode = Mode.PAPER,
    size: str = "10",
    price: str = "0.45",
    token: str = "tok-yes",
    market: str = "mkt-1",
    strategy: str = "sum_to_100",
    created_ns: int = T0,
) -> Order:
    return Order(
        client_id=client_id,
        token_id=token,
        market=market,
        side=Side.BUY,
        price=Decimal(price),
        size=Decimal(size),
        order_type=OrderType.FOK,
        strategy=strategy,
        mode=mode,
        signal_id="sig-1",
        created_ns=created_ns,
    )


def advance(order: Order, *statuses: OrderStatus, ts_ns: int = T0) -> Order:
    for i, status in enumerate(statuses, start=1):
        order.transition(status, ts_ns + i)
    return order


async def count(url: str, table: str, where: str = "") -> int:
    """Rows in ``table`` read on a connection of its own (not the store's)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            stmt = select(func.count()).select_from(t.metadata.tables[table])
            if where:
                stmt = stmt.where(text(where))
            return int(await conn.scalar(stmt) or 0)
    finally:
        await engine.dispose()


async def rows(url: str, table: str, order_by: str = "") -> list[dict[str, Any]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            stmt = select(t.metadata.tables[table])
            if order_by:
                stmt = stmt.order_by(text(order_by))
            return [dict(r) for r in (await conn.execute(stmt)).mappings()]
    finally:
        await engine.dispose()


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def execute(url: str, statement: str) -> None:
    """Run raw SQL on a connection of its own: damage the books the way a bug or a hand would."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def open_watched(url: str, spool_dir: Path, writer: WriterConfig) -> tuple[Store, list[bool]]:
    """A paper store on ``url`` and the health values it reports, in order."""
    health: list[bool] = []
    store = await Store.open(
        url,
        mode=Mode.PAPER,
        spool_dir=spool_dir,
        writer=writer,
        on_health=lambda ok, _reason: health.append(ok),
    )
    return store, health


def submit_unit_fills(store: Store, ledger: Ledger, numbers: Iterable[int]) -> None:
    """``make_fill(n, size="1")`` for each n: applied to ``ledger`` and submitted with it."""
    for n in numbers:
        fill = make_fill(n, size="1")
        ledger.apply_fill(fill)
        store.submit_fill(fill, ledger)


async def seeded(
    url: str, spool_dir: Path, writer: WriterConfig, seed: Callable[[Store], Awaitable[None]]
) -> None:
    """Open a paper store on ``url``, let ``seed`` fill it, close it (all of it written)."""
    store = await Store.open(url, mode=Mode.PAPER, spool_dir=spool_dir, writer=writer)
    try:
        await seed(store)
    finally:
        await store.close()
