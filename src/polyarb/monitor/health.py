"""``/health``, ``/ready`` and ``/metrics`` on ``HEALTH_PORT``, served inside the engine's loop.

* ``GET /health``: liveness. 200 whenever the event loop answers (a wedged loop does not), with
  the engine's status and uptime.
* ``GET /ready``: readiness from the checks ``probe`` returns. Every check is ``ok``,
  ``degraded`` (working, with a reason an operator should read: trading *reducing*, some books
  stale, a breaker open) or ``down``. Ready (200) when none is down; otherwise 503. The JSON
  body always lists every check and, when not ready or degraded, the reasons.
* ``GET /metrics``: the Prometheus text format of ``registry``.

The handlers are ``async``: they run on the engine's loop, so the probe and the collectors read
the engine's state between two frames, without locks. uvicorn runs embedded: the engine keeps
its own signal handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Literal

import structlog
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

log = structlog.get_logger(__name__)

CheckStatus = Literal["ok", "degraded", "down"]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: CheckStatus
    reason: str = ""

    @classmethod
    def ok(cls, name: str, reason: str = "") -> Check:
        return cls(name, "ok", reason)

    @classmethod
    def degraded(cls, name: str, reason: str) -> Check:
        return cls(name, "degraded", reason)

    @classmethod
    def down(cls, name: str, reason: str) -> Check:
        return cls(name, "down", reason)


@dataclass(frozen=True, slots=True)
class Readiness:
    checks: tuple[Check, ...]

    @property
    def ready(self) -> bool:
        return all(c.status != "down" for c in self.checks)

    @property
    def status(self) -> str:
        if not self.ready:
            return "not_ready"
        return "degraded" if any(c.status == "degraded" for c in self.checks) else "ready"

    def body(self) -> dict[str, object]:
        return {
            "ready": self.ready,
            "status": self.status,
            "reasons": [f"{c.name}: {c.reason}" for c in self.checks if c.status != "ok"],
            "checks": {c.name: {"status": c.status, "reason": c.reason} for c in self.checks},
        }


Probe = Callable[[], Sequence[Check]]


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside the engine's process: the engine owns the signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class HealthServer:
    """Serves the three routes on ``host:port`` until ``stop``."""

    def __init__(
        self,
        probe: Probe,
        registry: CollectorRegistry,
        *,
        host: str = "127.0.0.1",
        port: int,
        status: Callable[[], str] = lambda: "running",
    ) -> None:
        self.host = host
        self.port = port
        self._probe = probe
        self._registry = registry
        self._status = status
        self._started = time.monotonic()
        self.app = Starlette(
            routes=[
                Route("/health", self._health),
                Route("/ready", self._ready),
                Route("/metrics", self._metrics),
            ]
        )
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen (an address in use raises ``OSError`` here, naming it) and serve."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on each accepted connection only
        # when the socket says it is TCP (accepted sockets copy the listener's proto). Without
        # it Nagle's algorithm holds small frames back for the peer's delayed ACK (~40 ms).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise OSError(f"HEALTH_PORT: cannot listen on {self.host}:{self.port}: {exc}") from None
        sock.setblocking(False)
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,  # never reconfigure the engine's logging
            log_level="warning",
            access_log=False,
            http="h11",
            timeout_graceful_shutdown=2,
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="health")
        while not self._server.started:
            if self._task.done():
                sock.close()
                self._task.result()
                raise OSError(f"health server exited at start ({self.host}:{self.port})")
            await asyncio.sleep(0.005)
        log.info("health server listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=3.0)
        except TimeoutError:
            self._server.force_exit = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._server = None
        self._task = None

    # --- routes ---------------------------------------------------------------------------

    async def _health(self, request: Request) -> Response:
        return JSONResponse(
            {
                "status": "alive",
                "engine": self._status(),
                "uptime_s": round(time.monotonic() - self._started, 3),
            }
        )

    async def _ready(self, request: Request) -> Response:
        try:
            readiness = Readiness(tuple(self._probe()))
        except Exception as exc:  # a probe bug is "not ready", said plainly
            log.exception("readiness probe failed")
            readiness = Readiness((Check.down("probe", f"{type(exc).__name__}: {exc}"),))
        return JSONResponse(readiness.body(), status_code=200 if readiness.ready else 503)

    async def _metrics(self, request: Request) -> Response:
        return Response(generate_latest(self._registry), media_type=CONTENT_TYPE_LATEST)
