"""The background writer: takes records off the hot loop, batches them, survives outages.

``submit`` is a deque append (no await, no I/O). One task drains the queue in batches (by size and
by time) and commits each batch in one transaction. When the database cannot be reached the batch
goes to the spool instead (fsync'd, in order), the writer reports itself unhealthy, probes the
database with exponential backoff while spooling whatever arrives meanwhile, and once the database
answers replays the spool in order before writing anything new. A batch the database refuses
for a row's content (SQLSTATE class 22 or 23: ``is_row_error``) is retried record by record and
the refused records are set aside in the spool's ``rejected.jsonl``: one bad row never blocks
the rest. Every other failure (connection lost, 55000, 57P01, 57P03, 3D000, permissions, a
timeout) is an outage: the rows could still succeed, so they are spooled and replayed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import msgspec
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from polyarb.store.apply import apply_records
from polyarb.store.database import is_row_error
from polyarb.store.errors import StoreError
from polyarb.store.records import ErrorRecord, Record
from polyarb.store.spool import Spool

log = structlog.get_logger(__name__)

HealthCallback = Callable[[bool, str], None]
DurableCallback = Callable[[int], None]  # records just made durable (database, spool or set aside)


@dataclass(frozen=True, slots=True)
class WriterConfig:
    process: bool = True  # write from a separate process (the engine's loop only encodes)
    batch_size: int = 500  # records per transaction
    flush_interval_s: float = 0.05  # longest a record waits in the queue when traffic is light
    write_timeout_s: float = 10.0  # a transaction taking longer counts as an outage
    retry_min_s: float = 0.25  # first database probe after an outage
    retry_max_s: float = 5.0  # backoff ceiling between probes
    replay_chunk: int = 2000  # spooled records per transaction when replaying


class Durability(StrEnum):
    """Where a record is once ``Store.write`` returns."""

    DATABASE = "database"
    SPOOL = "spool"  # on local disk, fsync'd; replayed into the database when it returns


class WriterStats(msgspec.Struct):
    """Counters of the writer (records unless named otherwise)."""

    submitted: int = 0
    written: int = 0  # records committed by the writer (spool replays counted apart)
    batches: int = 0
    spooled_records: int = 0
    spooled_batches: int = 0
    replayed_records: int = 0
    replayed_batches: int = 0
    rejected_records: int = 0
    outages: int = 0
    last_error: str = ""
    last_commit_s: float = 0.0


class _Barrier:
    """A marker in the queue: resolved once everything before it is durable."""

    __slots__ = ("future",)

    def __init__(self, future: asyncio.Future[Durability]) -> None:
        self.future = future


class BatchWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        spool: Spool,
        config: WriterConfig | None = None,
        *,
        on_health: HealthCallback | None = None,
        on_durable: DurableCallback | None = None,
    ) -> None:
        self._engine = engine
        self._spool = spool
        self._config = config or WriterConfig()
        self._on_health = on_health
        self._on_durable = on_durable
        self._queue: deque[Record | _Barrier] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._healthy = True
        self._outage_started = 0.0
        self._outage_spooled = 0
        self._own: set[int] = set()  # ids of records the writer submitted itself (not reported)
        self._backlog = spool.pending()  # spooled batches wait to be replayed
        self.stats = WriterStats()

    # --- the hot-loop side ---------------------------------------------------------------------

    def submit(self, record: Record) -> None:
        """Queue a record; never blocks, never raises for a database problem."""
        queue = self._queue
        queue.append(record)
        self.stats.submitted += 1
        if len(queue) >= self._config.batch_size:
            self._wake.set()

    @property
    def healthy(self) -> bool:
        return self._healthy

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    async def barrier(self) -> Durability:
        """Wait until everything submitted so far is durable (in the database or the spool)."""
        if self._task is None or self._task.done():
            raise StoreError("the store writer is not running")
        future: asyncio.Future[Durability] = asyncio.get_running_loop().create_future()
        self._queue.append(_Barrier(future))
        self._wake.set()
        return await future

    def note_outage(self, error: BaseException) -> None:
        """Another path (an order intent) found the database unreachable."""
        self._set_health(False, f"{type(error).__name__}: {error}")
        self._wake.set()

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="store-writer")

    async def close(self, timeout_s: float = 30.0) -> None:
        """Write (or spool) everything queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
            except TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        leftover = self._take(len(self._queue))
        records = [item for item in leftover if not isinstance(item, _Barrier)]
        if records:  # last resort: the writer could not finish in time
            self._spool.append(records)
            self.stats.spooled_records += len(records)
            self.stats.spooled_batches += 1
        self._settle(leftover, Durability.SPOOL)

    # --- the writer task -------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = self._config.retry_min_s
        next_probe = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                items = await self._next_batch()
                outage = not self._healthy or self._backlog
                if outage:
                    await self._spool_items(items)
                    if loop.time() >= next_probe or self._closing:
                        if await self.replay_spool():
                            self._set_health(True, "database reachable, spool replayed")
                            backoff = self._config.retry_min_s
                        else:
                            next_probe = loop.time() + backoff * random.uniform(0.8, 1.2)
                            backoff = min(backoff * 2, self._config.retry_max_s)
                    if self._closing and not self._queue:
                        return
                    continue
                if items:
                    await self._write(items)
                if self._closing and not self._queue:
                    return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not stop the books of record
                log.exception("store writer error", error=str(exc))
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(self._config.retry_min_s)

    async def _next_batch(self) -> list[Record | _Barrier]:
        if len(self._queue) < self._config.batch_size and not self._closing:
            self._wake.clear()
            wait = self._config.flush_interval_s if self._healthy else self._config.retry_min_s
            try:
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            except TimeoutError:
                pass
        return self._take(self._config.batch_size)

    def _take(self, limit: int) -> list[Record | _Barrier]:
        queue = self._queue
        items: list[Record | _Barrier] = []
        records = 0
        while queue and records < limit:
            item = queue.popleft()
            items.append(item)
            if not isinstance(item, _Barrier):
                records += 1
        while queue and isinstance(queue[0], _Barrier):  # resolve waiting barriers promptly
            items.append(queue.popleft())
        return items

    async def _write(self, items: list[Record | _Barrier]) -> None:
        records = [item for item in items if not isinstance(item, _Barrier)]
        if records:
            started = time.perf_counter()
            try:
                await self._commit(records)
            except Exception as exc:
                if is_row_error(exc):
                    if not await self._isolate(records):
                        await self._spool_items(items)
                        return
                else:  # could these rows ever succeed? yes: the database is the problem
                    self._set_health(False, f"{type(exc).__name__}: {exc}")
                    await self._spool_items(items)
                    return
            else:
                self.stats.written += len(records)
                self.stats.batches += 1
                self.stats.last_commit_s = time.perf_counter() - started
        self._settle(items, Durability.DATABASE)

    async def _commit(self, records: Sequence[Record]) -> None:
        async with asyncio.timeout(self._config.write_timeout_s), self._engine.begin() as conn:
            await apply_records(conn, records)

    async def _isolate(self, records: Sequence[Record]) -> bool:
        """Write records one by one, setting aside those the database refuses.

        Returns False when the database became unreachable meanwhile (nothing set aside then;
        the caller spools the whole batch again, which is idempotent).
        """
        for record in records:
            try:
                await self._commit([record])
            except Exception as exc:
                if not is_row_error(exc):
                    self._set_health(False, f"{type(exc).__name__}: {exc}")
                    return False
                reason = f"{type(exc).__name__}: {str(exc)[:500]}"
                log.error("store refused a record", record=type(record).__name__, error=reason)
                await asyncio.to_thread(self._spool.reject_records, [record], reason)
                self.stats.rejected_records += 1
                self.stats.last_error = reason
            else:
                self.stats.written += 1
        return True

    async def _spool_items(self, items: list[Record | _Barrier]) -> None:
        records = [item for item in items if not isinstance(item, _Barrier)]
        if records:
            try:
                await asyncio.to_thread(self._spool.append, records)
            except OSError as exc:
                # Nothing durable to fall back on: keep the records queued and say so loudly.
                log.critical("cannot write the store spool", error=str(exc))
                self.stats.last_error = f"spool: {exc}"
                self._queue.extendleft(reversed(records))
                for item in items:
                    if isinstance(item, _Barrier) and not item.future.done():
                        item.future.set_exception(StoreError(f"cannot write the spool: {exc}"))
                await asyncio.sleep(self._config.retry_min_s)
                return
            self.stats.spooled_records += len(records)
            self.stats.spooled_batches += 1
            self._outage_spooled += len(records)
            self._backlog = True
        self._settle(items, Durability.SPOOL)

    async def replay_spool(self) -> bool:
        """Replay every spooled batch in order; True when the spool is empty and the database
        answers. Safe to interrupt at any point (replaying again is idempotent)."""
        if not await self._probe():
            return False
        self._spool.seal()  # batches spooled from now on go to a new segment, replayed next time
        for segment in self._spool.segments():
            chunk: list[Record] = []
            batches = 0
            for batch in self._spool.read(segment):
                chunk.extend(batch.records)
                batches += 1
                if len(chunk) >= self._config.replay_chunk:
                    if not await self._replay_chunk(chunk, batches):
                        return False
                    chunk, batches = [], 0
            if (chunk or batches) and not await self._replay_chunk(chunk, batches):
                return False
            self._spool.remove(segment)
            log.info("spool segment replayed", segment=segment.name)
        self._backlog = False
        return True

    async def _replay_chunk(self, records: list[Record], batches: int) -> bool:
        try:
            if records:
                await self._commit(records)
        except Exception as exc:
            if not is_row_error(exc):
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                return False
            if not await self._isolate(records):
                return False
        self.stats.replayed_records += len(records)
        self.stats.replayed_batches += batches
        return True

    async def _probe(self) -> bool:
        try:
            async with asyncio.timeout(self._config.write_timeout_s), self._engine.connect() as c:
                await c.execute(text("SELECT 1"))
        except Exception as exc:  # whatever it is, the database cannot take writes yet
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            return False
        return True

    def _settle(self, items: list[Record | _Barrier], durability: Durability) -> None:
        """``items`` are durable: resolve their barriers, report the records."""
        records = 0
        for item in items:
            if isinstance(item, _Barrier):
                if not item.future.done():
                    item.future.set_result(durability)
            elif id(item) in self._own:
                self._own.discard(id(item))
            else:
                records += 1
        if records and self._on_durable is not None:
            self._on_durable(records)

    def _set_health(self, healthy: bool, reason: str) -> None:
        if healthy == self._healthy:
            return
        self._healthy = healthy
        now = time.monotonic()
        if healthy:
            duration = now - self._outage_started
            log.warning(
                "database back; store healthy",
                outage_s=round(duration, 3),
                spooled=self._outage_spooled,
            )
            note = ErrorRecord(
                ts_ns=time.time_ns(),
                source="store",
                kind="database_outage",
                level="warning",
                message=f"database unreachable for {duration:.1f} s; "
                f"{self._outage_spooled} records spooled and replayed",
                detail={"outage_s": round(duration, 3), "spooled": self._outage_spooled},
            )
            self._own.add(id(note))
            self.submit(note)
        else:
            self.stats.outages += 1
            self.stats.last_error = reason
            self._outage_started = now
            self._outage_spooled = 0
            log.error("database unreachable; spooling writes", error=reason)
        if self._on_health is not None:
            try:
                self._on_health(healthy, reason)
            except Exception:
                log.exception("store health callback failed")
