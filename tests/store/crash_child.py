"""A stand-in for the paper-trading engine, for the SIGKILL crash tests.

It writes exactly in the engine's order: order intent committed, fill journaled (fsync'd), ledger
applied, fill + ledger rows submitted to the store's background writer; complete sets are merged
the same way. At start it recovers like the engine must: open the store (replaying any spool),
reconcile with the paper journal, continue from the reconciled ledger. It prints one JSON line
when recovered, then trades until killed (or exits with ``--once``).

    python crash_child.py DATABASE_URL DATA_DIR SEED [--once]
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import sys
import time
from decimal import Decimal
from pathlib import Path

import structlog

from polyarb.domain.book import Side
from polyarb.domain.ledger import Ledger, Merge
from polyarb.domain.trading import Fill, Mode, Order, OrderStatus, OrderType
from polyarb.execution.journal import Journal, read_journal
from polyarb.store import Store, WriterConfig

START = Decimal(10_000)
JOURNAL = "paper-journal.jsonl"


def _emit(**fields: object) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


class Trader:
    def __init__(self, store: Store, ledger: Ledger, journal: Journal, seed: int) -> None:
        self.store = store
        self.ledger = ledger
        self.journal = journal
        self.rng = random.Random(seed)
        self.run = secrets.token_hex(4)
        self.n = 0

    async def buy_or_sell(
        self, token: str, market: str, strategy: str, side: Side, qty: str
    ) -> None:
        self.n += 1
        now = time.time_ns()
        price = Decimal(self.rng.randint(20, 70)) / 100
        order = Order(
            client_id=f"{self.run}-o{self.n}",
            token_id=token,
            market=market,
            side=side,
            price=price,
            size=Decimal(qty),
            order_type=OrderType.FOK,
            strategy=strategy,
            mode=Mode.PAPER,
            created_ns=now,
        )
        await self.store.record_order_intent(order)
        order.transition(OrderStatus.SUBMITTING, now + 1)
        self.store.submit_order(order)
        fill = Fill(
            fill_id=f"{self.run}-f{self.n}",
            client_order_id=order.client_id,
            token_id=token,
            market=market,
            side=side,
            price=price,
            size=Decimal(qty),
            fee=(price * Decimal(qty) * Decimal("0.002")).quantize(Decimal("0.00001")),
            ts_ns=now + 2,
            strategy=strategy,
            mode=Mode.PAPER,
        )
        self.journal.append([fill])
        self.ledger.apply_fill(fill)
        self.store.submit_fill(fill, self.ledger)
        order.filled = fill.size
        order.fees = fill.fee
        order.transition(OrderStatus.ACKED, now + 3)
        order.transition(OrderStatus.FILLED, now + 4)
        self.store.submit_order(order)

    async def complete_set(self) -> None:
        qty = str(self.rng.randint(1, 5))
        await self.buy_or_sell("tok-yes", "mkt-1", "sum_to_100", Side.BUY, qty)
        await self.buy_or_sell("tok-no", "mkt-1", "sum_to_100", Side.BUY, qty)
        self.n += 1
        merge = Merge(
            f"{self.run}-m{self.n}",
            "mkt-1",
            ("tok-yes", "tok-no"),
            Decimal(qty),
            time.time_ns(),
            "sum_to_100",
        )
        self.journal.append([merge])
        self.ledger.apply_merge(merge)
        self.store.submit_merge(merge, self.ledger)

    async def clip(self) -> None:
        held = self.ledger.shares("tok-c", "clipper")
        if held >= 2 and self.rng.random() < 0.5:
            await self.buy_or_sell("tok-c", "mkt-2", "clipper", Side.SELL, "1")
        else:
            await self.buy_or_sell("tok-c", "mkt-2", "clipper", Side.BUY, "2")

    async def forever(self) -> None:
        while True:
            if self.rng.random() < 0.5:
                await self.complete_set()
            else:
                await self.clip()
            await asyncio.sleep(self.rng.uniform(0, 0.004))


async def main(url: str, data_dir: Path, seed: int, once: bool) -> None:
    started = time.perf_counter()
    store = await Store.open(
        url,
        mode=Mode.PAPER,
        spool_dir=data_dir / "spool",
        writer=WriterConfig(flush_interval_s=0.02),
    )
    report = await store.reconcile_paper(
        read_journal(data_dir / JOURNAL).events, starting_balance=START
    )
    _emit(
        event="recovered",
        ok=report.ok,
        journal_events=report.journal_events,
        inserted=len(report.inserted),
        missing_from_journal=len(report.missing_from_journal),
        mismatched=len(report.mismatched),
        closed_orders=len(report.closed_orders),
        corrected_rows=len(report.corrected_rows),
        replayed=store.stats.replayed_records,
        recovery_s=time.perf_counter() - started,
    )
    if once or not report.ok:
        await store.close()
        return
    with Journal(data_dir / JOURNAL) as journal:
        await Trader(store, report.ledger, journal, seed).forever()


if __name__ == "__main__":
    # Logs go to stderr: stdout carries only the recovery report.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), "--once" in sys.argv))
