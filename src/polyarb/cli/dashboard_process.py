"""The dashboard `polyarb run` serves, in a child process (the same app as `polyarb dashboard`).

Why a process: served on the engine's event loop, every request's CPU time (handlers, JSON,
the stream's fan-out) delayed the decisions queued behind it (bench/bench_api.py: 2.5x the
tick-to-decision p99 at a light load). The child reaches the engine over the engine's bus:
without Redis a ``LocalBusServer`` on a private Unix socket, with Redis Redis itself.

Protocol with the parent (``DashboardChild``):

- stdin: one length-prefixed pickle of ``Start`` (the parent's validated settings, the bus
  socket and the command key: secrets go through the pipe, never on the command line or in the
  environment of other processes), then nothing. Its end of file means the parent closed us or
  died (kill -9 included): the child stops serving and exits.
- stdout: ``serving URL`` once the API listens (the parent then prints "dashboard API at URL").
- stderr: the parent's own (logs, login codes with OTP_DELIVERY=console).
- exit code ``NOT_STARTED`` (2): the API cannot start (port in use, unsafe settings), said on
  stderr; the parent does not retry. Any other exit while the engine runs is a crash: reported
  (log + an error event on the bus) and the child restarted after a growing delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from polyarb.domain.errors import ConfigError, PolyarbError

if TYPE_CHECKING:
    from polyarb.config import Settings

log = structlog.get_logger(__name__)

NOT_STARTED = 2
# The child's scheduling priority below the engine's: on a busy machine the kernel runs the
# engine first and the dashboard answers more slowly, never the other way round.
NICE = 10
_LENGTH = struct.Struct(">I")
RESTART_MIN_S = 1.0
RESTART_MAX_S = 30.0
STOP_TIMEOUT_S = 8.0


@dataclass(frozen=True, slots=True)
class Start:
    settings: Settings
    instance_id: str
    bus_path: str  # the LocalBusServer's socket; "" over Redis
    command_key: bytes | None


# --- the parent's side ---------------------------------------------------------------------------


class DashboardChild:
    """Run and supervise the dashboard process until ``stop()``."""

    def __init__(
        self,
        start: Start,
        *,
        on_started: Callable[[str], None],
        on_crash: Callable[[str], None],
    ) -> None:
        self._start = start
        self._on_started = on_started
        self._on_crash = on_crash
        self._process: asyncio.subprocess.Process | None = None
        self._stopping = False
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def run(self) -> None:
        delay = RESTART_MIN_S
        while not self._stopping:
            started = time.monotonic()
            code = await self._run_once()
            if self._stopping:
                return
            if code == NOT_STARTED:
                log.error("dashboard not started (see above); trading continues without it")
                return
            if time.monotonic() - started > 60:
                delay = RESTART_MIN_S  # it had been serving a while: not a crash loop
            self._on_crash(
                f"the dashboard process exited (code {code}); restarting it in {delay:.0f} s"
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_MAX_S)
            self.restarts += 1

    async def _run_once(self) -> int:
        body = pickle.dumps(self._start)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "polyarb.cli.dashboard_main",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,  # a terminal's Ctrl-C reaches the engine, which stops us
        )
        self._process = process
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(_LENGTH.pack(len(body)) + body)
        with contextlib.suppress(ConnectionError):
            await process.stdin.drain()
        while line := await process.stdout.readline():
            text = line.decode(errors="replace").strip()
            if text.startswith("serving "):
                self._on_started(text.removeprefix("serving "))
        return await process.wait()

    async def stop(self) -> None:
        """Close the child's stdin (it stops serving and exits); kill it if it lingers."""
        self._stopping = True
        process = self._process
        if process is None or process.returncode is not None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            log.warning("the dashboard process did not stop in time; killed")
            process.kill()
            await process.wait()


# --- the child's side ----------------------------------------------------------------------------


def _read_start() -> Start:
    stdin = sys.stdin.buffer
    (length,) = _LENGTH.unpack(stdin.read(_LENGTH.size))
    start = pickle.loads(stdin.read(length))  # noqa: S301 (our parent, through our own pipe)
    if not isinstance(start, Start):
        raise SystemExit("dashboard process: bad start message")
    return start


async def _serve(start: Start) -> None:
    from polyarb.api.app import create_app
    from polyarb.api.server import make_server, serve
    from polyarb.bus import Bus, LocalBus, make_bus
    from polyarb.cli.dashboard_cmd import dashboard_context

    settings = start.settings
    instance_id = f"{start.instance_id}-dashboard"
    bus: Bus = (
        LocalBus(start.bus_path, instance_id)
        if start.bus_path
        else make_bus(settings.redis_url, instance_id)
    )
    await bus.start()
    try:
        ctx = dashboard_context(settings, bus, key=start.command_key)
        server = make_server(create_app(ctx), settings, embedded=True)
        loop = asyncio.get_running_loop()

        def stop() -> None:
            server.should_exit = True

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        # Our stdin ends when the engine closes it or dies: either way, stop.
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        watcher = asyncio.create_task(_until_eof(reader, stop))

        def announce(url: str) -> None:
            print(f"serving {url}", flush=True)

        try:
            await serve(server, settings, announce)
        finally:
            watcher.cancel()
    finally:
        await bus.close()


async def _until_eof(reader: asyncio.StreamReader, stop: Callable[[], None]) -> None:
    while await reader.read(4096):
        pass
    stop()


def main() -> None:
    from polyarb.cli.common import configure_logging
    from polyarb.config import register_settings_secrets

    start = _read_start()
    with contextlib.suppress(OSError):
        os.nice(NICE)
    settings = start.settings
    register_settings_secrets(settings)  # scrubbed from our logs as from the engine's
    configure_logging(settings.log_level, settings.log_format)
    structlog.contextvars.bind_contextvars(process="dashboard")
    try:
        asyncio.run(_serve(start))
    except (PolyarbError, ConfigError) as exc:
        log.error(f"dashboard not started: {exc}")
        raise SystemExit(NOT_STARTED) from None
    except KeyboardInterrupt:
        pass
