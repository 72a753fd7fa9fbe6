"""The background writer in a process of its own, so the engine's loop never pays for the database.

The engine side (``WriterProcess``) only appends records to a list; every ``pipe_flush_s`` it
encodes them (msgpack) into one numbered frame and writes it to the child's stdin. The child
(``python -m polyarb.store.writer_main``) runs the ``BatchWriter`` (batching, outage spool,
replay) and answers on its stdout: acknowledgements ("every frame up to N is durable"), health
changes, barrier replies.

Nothing is dropped when the child dies: frames stay in memory until acknowledged, a new child
is started (with backoff) and they are sent again (writes are idempotent). When the engine dies,
the child reads what is left in the pipe, writes (or spools) it and exits; a new child waits for
the spool lock, so an old child always finishes before the next engine's recovery starts.

The child ignores SIGINT and runs in its own session: a Ctrl-C reaches the engine, which closes
the child in order. The database URL travels over the pipe, never on the command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import struct
import sys
import time
from collections import deque
from pathlib import Path

import msgspec
import structlog

from polyarb.domain.secrets import register_url, scrubbing
from polyarb.domain.trading import Mode
from polyarb.store.errors import StoreError, StoreUnavailable
from polyarb.store.records import Record
from polyarb.store.spool import Spool
from polyarb.store.writer import (
    Durability,
    HealthCallback,
    WriterConfig,
    WriterStats,
)

log = structlog.get_logger(__name__)

_LENGTH = struct.Struct(">I")
SPOOL_WAIT_S = 60.0  # how long a new child waits for an old one to release the spool


# --- messages ---------------------------------------------------------------------------------


class Start(msgspec.Struct, tag="start"):
    url: str
    mode: Mode
    spool_dir: str
    config: WriterConfig
    log_level: str = "info"
    log_json: bool = False


class Batch(msgspec.Struct, tag="batch"):
    seq: int
    records: list[Record]


class Barrier(msgspec.Struct, tag="barrier"):
    id: int


class Outage(msgspec.Struct, tag="outage"):
    reason: str


class Close(msgspec.Struct, tag="close"):
    pass


class Ready(msgspec.Struct, tag="ready"):
    healthy: bool
    reason: str
    stats: WriterStats


class Acked(msgspec.Struct, tag="acked"):
    seq: int  # every frame up to this one is durable
    healthy: bool
    stats: WriterStats


class Health(msgspec.Struct, tag="health"):
    healthy: bool
    reason: str


class BarrierDone(msgspec.Struct, tag="barrier_done"):
    id: int
    durability: Durability
    error: str
    stats: WriterStats


class Closed(msgspec.Struct, tag="closed"):
    stats: WriterStats


ToChild = Start | Batch | Barrier | Outage | Close
ToParent = Ready | Acked | Health | BarrierDone | Closed

_encoder = msgspec.msgpack.Encoder(enc_hook=str)  # odd ``detail`` values travel as text
_to_child = msgspec.msgpack.Decoder(ToChild)
_to_parent = msgspec.msgpack.Decoder(ToParent)


def _frame(message: ToChild | ToParent) -> bytes:
    payload = _encoder.encode(message)
    return _LENGTH.pack(len(payload)) + payload


def _encodable(record: Record) -> bool:
    try:
        _encoder.encode(record)
    except (TypeError, ValueError, RecursionError, msgspec.EncodeError) as exc:
        log.error(
            "store record cannot be encoded; dropped", record=repr(record)[:300], error=str(exc)
        )
        return False
    return True


async def _read(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readexactly(_LENGTH.size)
        return await reader.readexactly(_LENGTH.unpack(head)[0])
    except asyncio.IncompleteReadError:
        return None


# --- the engine side ----------------------------------------------------------------------------


class WriterProcess:
    """Same surface as ``BatchWriter`` (submit, barrier, healthy, stats ...), across a pipe."""

    def __init__(
        self,
        url: str,
        mode: Mode,
        spool_dir: Path,
        config: WriterConfig,
        *,
        on_health: HealthCallback | None = None,
        pipe_flush_s: float = 0.01,
        ready_timeout_s: float = 180.0,
    ) -> None:
        self._start = Start(
            url=url,
            mode=mode,
            spool_dir=str(spool_dir),
            config=config,
            log_level=logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower(),
            log_json=os.environ.get("LOG_FORMAT", "").lower() == "json",
        )
        self._spool_dir = spool_dir
        self._config = config
        self._on_health = on_health
        self._pipe_flush_s = pipe_flush_s
        self._ready_timeout_s = ready_timeout_s
        self._pending: list[Record] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._seq = 0
        self._unacked: deque[tuple[int, int, bytes]] = deque()  # (seq, records, frame)
        self._unacked_records = 0
        self._barriers: dict[int, asyncio.Future[Durability]] = {}
        self._barrier_ids = 0
        self._process: asyncio.subprocess.Process | None = None
        self._launched: asyncio.subprocess.Process | None = None  # started, not yet sent Start
        self._reader_task: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[Ready] | None = None
        self._closed: asyncio.Future[Closed] | None = None
        self._closing = False
        self._healthy = True
        self._child_stats = WriterStats()
        self._submitted = 0
        self.restarts = 0

    # --- the hot-loop side ----------------------------------------------------------------------

    def submit(self, record: Record) -> None:
        """Append a record; it leaves within ``pipe_flush_s`` (encoded off this call)."""
        pending = self._pending
        pending.append(record)
        self._submitted += 1
        if self._flush_handle is None:
            self._flush_handle = asyncio.get_running_loop().call_later(
                self._pipe_flush_s, self._flush
            )
        elif len(pending) >= self._config.batch_size:
            self._flush()

    @property
    def healthy(self) -> bool:
        return self._healthy

    @property
    def pid(self) -> int | None:
        """The writer process's id (None before start)."""
        return self._process.pid if self._process is not None else None

    @property
    def queue_depth(self) -> int:
        """Records submitted and not yet durable."""
        return len(self._pending) + self._unacked_records

    @property
    def stats(self) -> WriterStats:
        stats = msgspec.structs.replace(self._child_stats, submitted=self._submitted)
        return stats

    def note_outage(self, error: BaseException) -> None:
        self._set_health(False, f"{type(error).__name__}: {error}")
        self._send(Outage(reason=f"{type(error).__name__}: {error}"))

    async def barrier(self) -> Durability:
        """Wait until everything submitted so far is durable (database or spool)."""
        if self._closing:
            raise StoreError("the store writer is closed")
        self._flush()
        self._barrier_ids += 1
        future: asyncio.Future[Durability] = asyncio.get_running_loop().create_future()
        self._barriers[self._barrier_ids] = future
        self._send(Barrier(id=self._barrier_ids))
        return await future

    # --- lifecycle -------------------------------------------------------------------------------

    async def launch(self) -> None:
        """Start the child process early: it imports while the engine checks the schema."""
        if self._launched is None and self._process is None:
            self._launched = await self._create_process()

    async def open(self) -> Ready:
        """Start the child (if ``launch`` did not) and wait until it has replayed any spool;
        raises ``StoreUnavailable`` if it cannot."""
        ready = await self._spawn()
        if not ready.healthy:
            await self.close(timeout_s=5)
            raise StoreUnavailable(f"store writer: {ready.reason}")
        self._supervisor = asyncio.create_task(self._supervise(), name="store-writer-supervisor")
        return ready

    async def close(self, timeout_s: float = 30.0) -> None:
        """Send everything, let the child write (or spool) it and exit."""
        self._flush()
        self._closing = True
        launched, self._launched = self._launched, None
        if launched is not None and launched.returncode is None:  # never started: just end it
            assert launched.stdin is not None
            launched.stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(launched.wait(), 10)
            if launched.returncode is None:
                launched.kill()
                await launched.wait()
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
        process = self._process
        if process is not None and process.returncode is None:
            self._closed = asyncio.get_running_loop().create_future()
            self._send(Close())
            with contextlib.suppress(TimeoutError):
                closed = await asyncio.wait_for(self._closed, timeout_s)
                self._child_stats = closed.stats
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 5)
            if process.returncode is None:
                process.kill()
                await process.wait()
        if self._reader_task is not None:
            await asyncio.gather(self._reader_task, return_exceptions=True)
        self._spool_unacked()
        for future in self._barriers.values():
            if not future.done():
                future.set_result(Durability.SPOOL)

    # --- internals -------------------------------------------------------------------------------

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._pending:
            return
        records, self._pending = self._pending, []
        try:
            frame = _frame(Batch(seq=self._seq + 1, records=records))
        except (TypeError, ValueError, RecursionError, msgspec.EncodeError):  # keep the rest
            records = [r for r in records if _encodable(r)]
            frame = _frame(Batch(seq=self._seq + 1, records=records))
        self._seq += 1
        self._unacked.append((self._seq, len(records), frame))
        self._unacked_records += len(records)
        self._write(frame)

    def _send(self, message: ToChild) -> None:
        self._write(_frame(message))

    def _write(self, frame: bytes) -> None:
        process = self._process
        if process is None or process.stdin is None or process.returncode is not None:
            return  # resent after the restart (batches), or answered then (barriers)
        with contextlib.suppress(ConnectionError, RuntimeError):  # gone: restarted, resent
            process.stdin.write(frame)

    async def _create_process(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "polyarb.store.writer_main",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
        )

    async def _spawn(self) -> Ready:
        """Send the start message to a launched (or new) child and wait for it to be ready."""
        process, self._launched = self._launched, None
        if process is None or process.returncode is not None:
            process = await self._create_process()
        self._process = process
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self._reader_task = asyncio.create_task(self._read_child(process))
        assert process.stdin is not None
        process.stdin.write(_frame(self._start))
        try:
            ready = await asyncio.wait_for(asyncio.shield(self._ready), self._ready_timeout_s)
        except TimeoutError:
            process.kill()
            raise StoreUnavailable("store writer process did not start in time") from None
        self._child_stats = ready.stats
        for _, _, frame in self._unacked:  # a restart: send again what was not durable
            process.stdin.write(frame)
        for barrier_id in self._barriers:
            self._send(Barrier(id=barrier_id))
        self._set_health(ready.healthy, ready.reason)
        return ready

    async def _read_child(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while (raw := await _read(process.stdout)) is not None:
            try:
                message = _to_parent.decode(raw)
            except msgspec.DecodeError as exc:  # a broken child: restart it, resend
                log.error("store writer sent garbage; restarting it", error=str(exc))
                process.kill()
                break
            if isinstance(message, Acked):
                self._child_stats = message.stats
                while self._unacked and self._unacked[0][0] <= message.seq:
                    _, count, _ = self._unacked.popleft()
                    self._unacked_records -= count
            elif isinstance(message, Health):
                self._set_health(message.healthy, message.reason)
            elif isinstance(message, BarrierDone):
                self._child_stats = message.stats
                future = self._barriers.pop(message.id, None)
                if future is not None and not future.done():
                    if message.error:
                        future.set_exception(StoreError(message.error))
                    else:
                        future.set_result(message.durability)
            elif isinstance(message, Ready):
                if self._ready is not None and not self._ready.done():
                    self._ready.set_result(message)
            elif (
                isinstance(message, Closed) and self._closed is not None and not self._closed.done()
            ):
                self._closed.set_result(message)
        if self._ready is not None and not self._ready.done():
            code = await process.wait()
            self._ready.set_exception(
                StoreUnavailable(f"store writer process exited at start (code {code})")
            )

    async def _supervise(self) -> None:
        """Restart the child whenever it dies, until closed; nothing unacknowledged is lost."""
        backoff = self._config.retry_min_s
        while not self._closing:
            process = self._process
            assert process is not None
            code = await process.wait()
            if self._closing:
                return
            self._set_health(False, f"store writer process exited (code {code})")
            log.error("store writer process died; restarting", code=code)
            while not self._closing:
                await asyncio.sleep(backoff)
                try:
                    await self._spawn()
                except (StoreUnavailable, OSError) as exc:
                    log.error("store writer restart failed", error=str(exc))
                    backoff = min(backoff * 2, self._config.retry_max_s)
                    continue
                self.restarts += 1
                backoff = self._config.retry_min_s
                break

    def _spool_unacked(self) -> None:
        """Last resort after the child is gone: keep unacknowledged records in the spool."""
        if not self._unacked and not self._pending:
            return
        records: list[Record] = []
        for _, _, frame in self._unacked:
            message = _to_child.decode(frame[_LENGTH.size :])
            assert isinstance(message, Batch)
            records.extend(message.records)
        records.extend(self._pending)
        try:
            spool = Spool(self._spool_dir, wait_s=5)
        except StoreError as exc:
            log.critical("cannot spool unwritten records", records=len(records), error=str(exc))
            return
        try:
            spool.append(records)
        finally:
            spool.close()
        log.warning("store writer gone; records kept in the spool", records=len(records))
        self._unacked.clear()
        self._unacked_records = 0
        self._pending = []

    def _set_health(self, healthy: bool, reason: str) -> None:
        if healthy == self._healthy:
            return
        self._healthy = healthy
        if self._on_health is not None:
            try:
                self._on_health(healthy, reason)
            except Exception:
                log.exception("store health callback failed")


# --- the child ------------------------------------------------------------------------------------


class _Child:
    def __init__(self) -> None:
        self._boundaries: deque[tuple[int, int]] = deque()  # (records total at the end, seq)
        self._received = 0
        self._durable = 0
        self._writer: object = None
        self._parent_gone = False

    def send(self, message: ToParent) -> None:
        if self._parent_gone:
            return
        data = _frame(message)
        view = memoryview(data)
        try:
            while view:
                written = os.write(1, view)
                view = view[written:]
        except OSError:  # EPIPE: the engine is gone; finish our work without it
            self._parent_gone = True

    async def run(self) -> None:
        from polyarb.store.database import create_engine
        from polyarb.store.writer import BatchWriter

        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        raw = await _read(reader)
        if raw is None:
            return
        start = _to_child.decode(raw)
        if not isinstance(start, Start):
            raise StoreError("store writer: expected a start message")
        register_url(start.url)  # the database password never reaches a log line
        _configure_logging(start.log_level, start.log_json)
        try:
            spool = await asyncio.to_thread(Spool, Path(start.spool_dir), wait_s=SPOOL_WAIT_S)
        except StoreError as exc:
            self.send(Ready(healthy=False, reason=str(exc), stats=WriterStats()))
            return
        engine = create_engine(start.url)
        writer = BatchWriter(
            engine,
            spool,
            start.config,
            on_health=lambda ok, reason: self.send(Health(healthy=ok, reason=reason)),
            on_durable=self._on_durable,
        )
        try:
            try:
                healthy = await writer.replay_spool()
                reason = "" if healthy else f"database unreachable: {writer.stats.last_error}"
            except Exception as exc:
                healthy, reason = False, f"{type(exc).__name__}: {exc}"
            self._writer = writer
            self.send(Ready(healthy=healthy, reason=reason, stats=writer.stats))
            writer.start()
            barriers: set[asyncio.Task[None]] = set()
            closed = False
            while (raw := await _read(reader)) is not None:
                message = _to_child.decode(raw)
                if isinstance(message, Batch):
                    for record in message.records:
                        writer.submit(record)
                    self._received += len(message.records)
                    self._boundaries.append((self._received, message.seq))
                elif isinstance(message, Barrier):
                    task = asyncio.create_task(self._barrier(writer, message.id))
                    barriers.add(task)
                    task.add_done_callback(barriers.discard)
                elif isinstance(message, Outage):
                    writer.note_outage(StoreUnavailable(message.reason))
                elif isinstance(message, Close):
                    closed = True
                    break
            if not closed:  # our stdin ended without a Close: the engine died (kill -9)
                self._parent_gone = True
            await writer.close()
            await asyncio.gather(*barriers, return_exceptions=True)
            if self._parent_gone:
                stats = writer.stats
                log.warning(
                    "engine gone; store writer flushed and exits",
                    records_written=stats.written,
                    records_spooled=stats.spooled_records,
                    received=self._received,
                )
            else:
                self.send(Closed(stats=writer.stats))
        finally:
            spool.close()
            await engine.dispose()

    async def _barrier(self, writer: object, barrier_id: int) -> None:
        from polyarb.store.writer import BatchWriter

        assert isinstance(writer, BatchWriter)
        try:
            durability = await writer.barrier()
            error = ""
        except StoreError as exc:
            durability, error = Durability.SPOOL, str(exc)
        self.send(
            BarrierDone(id=barrier_id, durability=durability, error=error, stats=writer.stats)
        )

    def _on_durable(self, records: int) -> None:
        self._durable += records
        acked = 0
        while self._boundaries and self._boundaries[0][0] <= self._durable:
            acked = self._boundaries.popleft()[1]
        if acked:
            from polyarb.store.writer import BatchWriter

            writer = self._writer
            assert isinstance(writer, BatchWriter)
            self.send(Acked(seq=acked, healthy=writer.healthy, stats=writer.stats))


def _configure_logging(level: str, as_json: bool) -> None:
    numeric = getattr(logging, level.upper(), logging.INFO)
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            scrubbing(renderer),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )
    structlog.contextvars.bind_contextvars(process="store-writer")


def main() -> None:
    # Logs go to stderr from the first line: stdout is the protocol.
    _configure_logging("info", os.environ.get("LOG_FORMAT", "").lower() == "json")
    for signum in (signal.SIGINT, signal.SIGTERM):  # the engine closes us, in order
        signal.signal(signum, signal.SIG_IGN)
    started = time.monotonic()
    try:
        asyncio.run(_Child().run())
    except Exception:
        log.exception("store writer process failed", after_s=round(time.monotonic() - started, 3))
        raise SystemExit(1) from None
