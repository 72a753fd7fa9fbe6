"""``Store``: the one object the engine uses to keep its books of record.

Write paths, by how much the caller waits:

* ``submit`` / ``submit_*``: a queue append; the background writer batches and commits (or
  spools during an outage). The hot loop never waits on the database.
* ``submit_fill`` / ``submit_merge`` / ``submit_resolution``: the same, and the event travels with
  the ledger rows it changed, so both land in one transaction.
* ``await record_order_intent(order)``: commits the order before it is sent, or raises
  ``StoreUnavailable`` (then the order must not be sent).
* ``await write(*records)``: returns once the records are durable, in the database or, during an
  outage, in the fsync'd spool (the kill switch, operator actions).

``open`` migrates (or checks) the schema, refuses a database of the other trading mode, and replays
any spool a previous run left before anything new is written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from polyarb.domain.errors import CircuitOpen
from polyarb.domain.guard import CallGuard
from polyarb.domain.ledger import Ledger, LedgerEvent, Merge, Resolution
from polyarb.domain.trading import Fill, Mode, Order, Signal
from polyarb.store import tables as t
from polyarb.store.apply import apply_records
from polyarb.store.database import (
    create_engine,
    dialect_insert,
    insert_ignore,
    is_row_error,
    redacted,
    unreachable_as_unavailable,
)
from polyarb.store.errors import ModeMismatch, StoreError, StoreUnavailable
from polyarb.store.ledger_rows import ledger_state
from polyarb.store.migrate import ensure_schema
from polyarb.store.queries import StoreQueries
from polyarb.store.records import (
    Detail,
    FillRecord,
    LedgerState,
    MergeRecord,
    OrderRecord,
    Record,
    ResolutionRecord,
    SignalRecord,
    modes_compatible,
    record_mode,
)
from polyarb.store.recovery import ReconcileReport, RecoveredState, load_state, reconcile_paper
from polyarb.store.reports import (
    DailyReport,
    ReportClaim,
    StoredDailyReport,
    claim_daily_report,
    daily_report,
    stored_daily_report,
)
from polyarb.store.retention import PruneReport, prune
from polyarb.store.spool import Spool
from polyarb.store.writer import BatchWriter, Durability, HealthCallback, WriterConfig, WriterStats
from polyarb.store.writer_process import WriterProcess

log = structlog.get_logger(__name__)

MODE_KEY = "mode"


class Store:
    """The engine's persistence: see the module docstring. Create with ``await Store.open(...)``."""

    def __init__(
        self,
        engine: AsyncEngine,
        url: str,
        mode: Mode,
        spool: Spool | None,
        writer: BatchWriter | WriterProcess,
        *,
        intent_timeout_s: float,
    ) -> None:
        self._engine = engine
        self._url = url
        self.mode = mode
        self._spool = spool
        self._writer = writer
        self._intent_timeout_s = intent_timeout_s
        self.queries = StoreQueries(engine, mode)
        # The database's circuit breaker (set by the engine): order intents are its calls;
        # while it is open an order is refused at once (``StoreUnavailable``), no round trip.
        self.guard: CallGuard | None = None

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        mode: Mode,
        spool_dir: Path,
        auto_upgrade: bool = True,
        writer: WriterConfig | None = None,
        on_health: HealthCallback | None = None,
        intent_timeout_s: float = 3.0,
    ) -> Store:
        """Connect, migrate/check the schema, check the mode, replay the spool, start writing.

        Raises ``StoreUnavailable`` when the database cannot be reached, ``SchemaOutdated`` /
        ``ModeMismatch`` (configuration errors) when it must not be used, ``StoreError`` when
        another process owns the spool folder.
        """
        config = writer or WriterConfig()
        engine = create_engine(url)
        spool: Spool | None = None
        batch_writer: BatchWriter | WriterProcess | None = None
        try:
            if config.process:  # it imports while we check the schema
                batch_writer = WriterProcess(url, mode, spool_dir, config, on_health=on_health)
                await batch_writer.launch()
            with unreachable_as_unavailable(url):
                await ensure_schema(engine, auto_upgrade=auto_upgrade)
                await _claim_mode(engine, mode, url)
            if isinstance(batch_writer, WriterProcess):
                await batch_writer.open()  # the child replays any spool first
            else:
                spool = Spool(spool_dir)
                batch_writer = BatchWriter(engine, spool, config, on_health=on_health)
                if spool.pending():
                    log.warning("replaying the spool left by a previous run", spool=str(spool_dir))
                if not await batch_writer.replay_spool():
                    raise StoreUnavailable(
                        f"database {redacted(url)} became unreachable while replaying the spool"
                    )
                batch_writer.start()
        except BaseException:
            if isinstance(batch_writer, WriterProcess):
                await batch_writer.close(timeout_s=5)
            if spool is not None:
                spool.close()
            await engine.dispose()
            raise
        log.info("store open", database=redacted(url), mode=mode.value)
        return cls(engine, url, mode, spool, batch_writer, intent_timeout_s=intent_timeout_s)

    # --- state -----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The database URL, password masked."""
        return redacted(self._url)

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    @property
    def healthy(self) -> bool:
        """False while the database is unreachable or the spool is being replayed: do not open
        new positions (order intents cannot be committed)."""
        return self._writer.healthy

    @property
    def stats(self) -> WriterStats:
        return self._writer.stats

    @property
    def queue_depth(self) -> int:
        """Records submitted and not yet durable."""
        return self._writer.queue_depth

    @property
    def writer_pid(self) -> int | None:
        """The writer process's id; None when writing in-process."""
        return self._writer.pid if isinstance(self._writer, WriterProcess) else None

    # --- the non-blocking write path -------------------------------------------------------------

    def submit(self, record: Record) -> None:
        """Queue a record for the background writer; never blocks."""
        mode = record_mode(record)
        if mode is not None and not modes_compatible(mode, self.mode):
            raise ModeMismatch(f"a {mode.value} record cannot go into a {self.mode.value} store")
        self._writer.submit(record)

    def submit_fill(self, fill: Fill, ledger: Ledger | LedgerState | None = None) -> None:
        """Queue a fill with the ledger rows it changed (one transaction). Pass the ledger after
        it applied the fill, or the ``LedgerState`` to write."""
        if isinstance(ledger, Ledger):
            ledger = ledger_state(
                ledger,
                fill.mode,
                fill.ts_ns,
                touched=((fill.strategy, fill.token_id),),
                markets={fill.token_id: fill.market},
            )
        self.submit(FillRecord(fill=fill, ledger=ledger))

    def submit_merge(
        self,
        merge: Merge,
        ledger: Ledger | LedgerState | None = None,
        *,
        tx_hash: str | None = None,
    ) -> None:
        if isinstance(ledger, Ledger):
            touched = [(merge.strategy, token_id) for token_id in merge.token_ids]
            ledger = ledger_state(
                ledger, self.mode, merge.ts_ns, touched=touched, locked_changed=True
            )
        self.submit(MergeRecord(merge=merge, mode=self.mode, tx_hash=tx_hash, ledger=ledger))

    def submit_resolution(
        self, resolution: Resolution, ledger: Ledger | LedgerState | None = None
    ) -> None:
        if isinstance(ledger, Ledger):  # a resolution can touch any position: write them all
            ledger = ledger_state(ledger, self.mode, resolution.ts_ns)
        self.submit(ResolutionRecord(resolution=resolution, mode=self.mode, ledger=ledger))

    def submit_order(self, order: Order) -> None:
        """Queue the order's current state and its history (idempotent by client id + seq)."""
        self.submit(OrderRecord.from_order(order))

    def submit_signal(
        self, signal: Signal, outcome: str, *, reason: str = "", detail: Detail | None = None
    ) -> None:
        self.submit(
            SignalRecord.from_signal(signal, self.mode, outcome, reason=reason, detail=detail)
        )

    # --- the waiting write paths -----------------------------------------------------------------

    async def record_order_intent(self, order: Order, *, signed_payload: str | None = None) -> None:
        """Commit the order (and its signed payload) before it is sent.

        Raises ``StoreUnavailable`` when it could not be committed: the order must not be sent.
        """
        if not self._writer.healthy:
            raise StoreUnavailable(
                f"order {order.client_id} not recorded: the database is unavailable "
                f"({self._writer.stats.last_error or 'outage in progress'})"
            )
        record = OrderRecord.from_order(order, signed_payload=signed_payload)
        if not modes_compatible(order.mode, self.mode):
            raise ModeMismatch(
                f"a {order.mode.value} order cannot go into a {self.mode.value} store"
            )
        guard = self.guard
        if guard is not None:
            try:
                guard.check()
            except CircuitOpen as exc:
                raise StoreUnavailable(f"order {order.client_id} not recorded: {exc}") from None
        try:
            async with asyncio.timeout(self._intent_timeout_s), self._engine.begin() as conn:
                await apply_records(conn, [record])
        except Exception as exc:
            if not is_row_error(exc):  # not about this order: the database cannot take it now
                self._writer.note_outage(exc)
                if guard is not None:
                    guard.record_failure(f"{type(exc).__name__}: {exc}")
                raise StoreUnavailable(
                    f"order {order.client_id} not recorded: {type(exc).__name__}: {exc}"
                ) from exc
            if guard is not None:  # the database refusing this row is the database working
                guard.record_success()
            raise StoreError(f"order {order.client_id} refused by the database: {exc}") from exc
        if guard is not None:
            guard.record_success()

    async def anchor(self, key: str, value: str, *, replace: bool = False) -> str:
        """The value recorded under ``key`` in ``meta``: ``value`` is recorded when there is
        none, or always with ``replace``; returns what is recorded afterwards."""
        row = {"key": key, "value": value, "updated_ns": time.time_ns()}
        async with self._engine.begin() as conn:
            if replace:
                stmt = dialect_insert(conn.dialect.name, t.meta).on_conflict_do_update(
                    index_elements=["key"],
                    set_={"value": value, "updated_ns": row["updated_ns"]},
                )
                await conn.execute(stmt, [row])
            else:
                await conn.execute(insert_ignore(conn.dialect.name, t.meta, "key"), [row])
            stored = await conn.scalar(select(t.meta.c.value).where(t.meta.c.key == key))
        return str(stored)

    async def write(self, *records: Record) -> Durability:
        """Queue ``records`` and wait until they (and everything before them) are durable."""
        for record in records:
            self.submit(record)
        return await self._writer.barrier()

    async def flush(self) -> Durability:
        """Wait until everything submitted so far is durable."""
        return await self._writer.barrier()

    # --- recovery ----------------------------------------------------------------------------

    async def load_state(self, *, now_ns: int | None = None) -> RecoveredState:
        """Positions, the UTC day's P&L, risk state and kill switch, open orders, open
        opportunities and the ledger events, for this store's mode."""
        await self.flush()
        return await load_state(self._engine, self.mode, now_ns or time.time_ns())

    async def reconcile_paper(
        self,
        journal: Iterable[LedgerEvent],
        *,
        starting_balance: Decimal = Decimal(0),
        close_open_orders: bool = True,
        now_ns: int | None = None,
    ) -> ReconcileReport:
        """Make the database agree with the paper journal (see ``recovery``); call it at start,
        before submitting anything. ``report.ok`` False: stay halted, ``report.problems()``."""
        await self.flush()
        report = await reconcile_paper(
            self._engine,
            self.mode,
            journal,
            starting_balance=starting_balance,
            now_ns=now_ns or time.time_ns(),
            close_open_orders=close_open_orders,
        )
        log.info(
            "paper journal reconciled",
            journal_events=report.journal_events,
            inserted=len(report.inserted),
            missing_from_journal=len(report.missing_from_journal),
            mismatched=len(report.mismatched),
            closed_orders=len(report.closed_orders),
            corrected_rows=len(report.corrected_rows),
            elapsed_s=round(report.elapsed_s, 4),
        )
        if report.corrected_rows:
            log.error(
                "ledger rows differed from the paper journal; rewritten from it",
                rows=list(report.corrected_rows[:20]),
            )
        return report

    # --- daily reports -------------------------------------------------------------------------

    async def daily_report(self, day: str) -> DailyReport:
        """This store's mode's daily report of the UTC ``day`` (YYYY-MM-DD), from the rows."""
        await self.flush()
        return await daily_report(self._engine, self.mode, day)

    async def stored_daily_report(self, day: str) -> StoredDailyReport | None:
        """The day's scheduled report as stored, if it was."""
        return await stored_daily_report(self._engine, self.mode, day)

    async def claim_daily_report(self, claim: ReportClaim) -> bool:
        """Store the claimed report and its alert unless the day's report is stored already;
        True when this call stored it (the caller posts it: once per day, whoever asks)."""
        return await claim_daily_report(self._engine, claim)

    async def prune(self, *, older_than_days: float, now_ns: int | None = None) -> PruneReport:
        """Delete raw rows older than ``older_than_days`` (see ``retention``)."""
        return await prune(self._engine, older_than_days=older_than_days, now_ns=now_ns)

    # --- lifecycle -----------------------------------------------------------------------------

    async def close(self, timeout_s: float = 30.0) -> None:
        """Write (or spool) everything queued, then release the database and the spool."""
        try:
            await self._writer.close(timeout_s)
        finally:
            if self._spool is not None:
                self._spool.close()
            await self._engine.dispose()
        log.info(
            "store closed",
            written=self.stats.written,
            spooled=self.stats.spooled_records,
            replayed=self.stats.replayed_records,
        )


async def _claim_mode(engine: AsyncEngine, mode: Mode, url: str) -> None:
    """Record the database's trading mode at first use; refuse the other kind afterwards."""
    async with engine.begin() as conn:
        stored = await conn.scalar(select(t.meta.c.value).where(t.meta.c.key == MODE_KEY))
        if stored is None:
            for table in (t.orders, t.fills):
                found = await conn.scalar(
                    select(table.c.mode).where(table.c.mode.in_(_incompatible(mode))).limit(1)
                )
                if found is not None:
                    stored = found
                    break
            else:
                await conn.execute(
                    insert_ignore(conn.dialect.name, t.meta, "key"),
                    [{"key": MODE_KEY, "value": mode.value, "updated_ns": time.time_ns()}],
                )
                stored = await conn.scalar(select(t.meta.c.value).where(t.meta.c.key == MODE_KEY))
    try:
        stored_mode = Mode(str(stored))
    except ValueError:
        raise ModeMismatch(f"database {redacted(url)} records an unknown mode {stored!r}") from None
    if not modes_compatible(stored_mode, mode):
        raise ModeMismatch(
            f"database {redacted(url)} holds {stored_mode.value} trading rows; a {mode.value} "
            "engine refuses to use it (live and simulated books never share a database: "
            "point DATABASE_URL or DATA_DIR elsewhere)"
        )


def _incompatible(mode: Mode) -> list[str]:
    return [m.value for m in Mode if not modes_compatible(m, mode)]
