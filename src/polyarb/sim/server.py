"""``SimServer``: the local Polymarket + ESPN double, on one loopback port.

One starlette app served by uvicorn inside the caller's event loop: the CLOB market WebSocket at
``/ws/market``, the user channel at ``/ws/user``, CLOB public REST at ``/``, Gamma at
``/gamma``, ESPN at ``/espn`` and the Polygon JSON-RPC node at ``/chain`` (``sim/chain.py``).
A clock task advances the scenario (or the recording) and
publishes its frames; faults come from the scenario's schedule or from the methods below. Use
it as an async context manager::

    async with SimServer(ScenarioConfig(seed=1, updates_per_s=200)) as sim:
        feed = MarketFeed(sim.ws_url, sim.token_ids(), ...)

``prerender_s`` > 0 renders a scenario's first ``prerender_s`` seconds of frames before serving
them (``whole_venue.Prerendered``: for loads one core cannot generate live; scheduled faults,
operator actions and games then act on the serving venue only, not on the rendered stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Generator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from polyarb.clob.auth import ApiCreds
from polyarb.domain.book import OrderBook
from polyarb.domain.numbers import decimal_to_price
from polyarb.sim.chain import CHAIN_PATH, SimChain
from polyarb.sim.channel import Client, MarketChannel
from polyarb.sim.espn import SimGame
from polyarb.sim.generator import ScenarioDriver, build_scenario
from polyarb.sim.listings import gamma_market
from polyarb.sim.replay import RecordingPlayer, load_catalog
from polyarb.sim.rest import RestApi
from polyarb.sim.scenario import Fault, ScenarioConfig
from polyarb.sim.trading import SimExchange
from polyarb.sim.user_channel import UserChannel
from polyarb.sim.venue import Frame, SimVenue
from polyarb.sim.whole_venue import Prerendered

log = structlog.get_logger(__name__)

MAX_FRAMES_PER_STEP = 200  # then let the sockets run before catching up
MAX_SLEEP_S = 0.05
VALID_TICKS = (1, 10, 100, 1000)  # 0.0001 ... 0.1 in 1e-4 units


class _Source(Protocol):
    def advance_to(
        self, t_s: float, now_ms: int | None = None, max_frames: int | None = None
    ) -> list[Frame]: ...

    def next_due_s(self) -> float: ...


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside someone else's process: the host owns the signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class SimServer:
    """Serves CLOB WS + CLOB REST + Gamma + ESPN for a scenario or a recording on one port."""

    def __init__(
        self,
        scenario: ScenarioConfig | None = None,
        *,
        recording: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        prerender_s: float = 0.0,
    ) -> None:
        if scenario is not None and recording is not None:
            raise ValueError("SimServer serves a scenario or a recording, not both")
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.host = host
        self.requested_port = port
        self.speed = speed
        self.driver: ScenarioDriver | None = None
        self.player: RecordingPlayer | None = None
        self.scenario: ScenarioConfig | None = None
        source: _Source
        if recording is not None:
            self.venue = SimVenue(load_catalog(recording))
            self.player = RecordingPlayer(recording, self.venue)
            source = self.player
        else:
            self.scenario = scenario if scenario is not None else ScenarioConfig()
            epoch = datetime.now(UTC)
            self.driver = build_scenario(self.scenario, epoch=epoch)
            self.venue = self.driver.venue
            source = self.driver
            if prerender_s > 0:  # the first prerender_s seconds of frames, rendered now
                source = Prerendered(self.scenario, prerender_s, epoch)
        self._source = source
        self._faults: list[Fault] = sorted(
            self.scenario.faults if self.scenario else (), key=lambda f: f.at_s
        )
        self.channel = MarketChannel(self._snapshot, self._abort)
        self.rest = RestApi(self.venue, self.scenario_time)
        self.user_channel = UserChannel(self._account, self._abort_socket)
        self.exchange = SimExchange(
            self.venue, self._publish, now_ms=_wall_ms, publish_user=self.user_channel.publish
        )
        self.chain = SimChain(self.exchange)  # Polygon: merges and redeems move these wallets
        self.app = Starlette(
            routes=[
                WebSocketRoute("/ws/market", self.channel.serve),
                WebSocketRoute("/ws/user", self.user_channel.serve),
                *self.exchange.routes(),
                *self.chain.routes(),
                *self.rest.routes(),
            ]
        )
        self._server: _EmbeddedServer | None = None
        self._serve_task: asyncio.Task[None] | None = None
        self._clock_task: asyncio.Task[None] | None = None
        self._started_at: float | None = None
        self._paused_at: float | None = None
        self._paused_total = 0.0
        self.port = 0

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Bind (port 0 picks a free port, see ``port``), serve, and start the scenario clock."""
        if self._serve_task is not None:
            raise RuntimeError("SimServer already started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on each accepted connection only
        # when the socket says it is TCP (accepted sockets copy the listener's proto). Without
        # it Nagle's algorithm holds small frames back for the peer's delayed ACK (~40 ms).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((self.host, self.requested_port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,  # never reconfigure the host process's logging
            log_level="warning",
            access_log=False,
            ws="websockets-sansio",
            http="h11",
            timeout_graceful_shutdown=2,
        )
        self._server = _EmbeddedServer(config)
        self._serve_task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._serve_task.done():
                sock.close()
                self._serve_task.result()  # raises the startup error
                raise RuntimeError("simulator server exited during startup")
            await asyncio.sleep(0.005)
        self._started_at = time.monotonic()
        self._clock_task = asyncio.create_task(self._run_clock())
        log.info("sim_started", ws=self.ws_url, clob=self.clob_url, tokens=len(self.token_ids()))

    async def stop(self) -> None:
        """Stop the clock, close every connection (close code 1012) and release the port."""
        self.exchange.close()
        if self._clock_task is not None:
            self._clock_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock_task
            self._clock_task = None
        if self._server is not None and self._serve_task is not None:
            self._server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(self._serve_task), timeout=5.0)
            except TimeoutError:
                self._server.force_exit = True
                self._serve_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._serve_task
        self._serve_task = None
        self._server = None
        if self.player is not None:
            self.player.close()

    # --- addresses ------------------------------------------------------------------------

    @property
    def _base(self) -> str:
        if not self.port:
            raise RuntimeError("SimServer is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._base}/ws/market"

    @property
    def user_ws_url(self) -> str:
        return f"ws://{self._base}/ws/user"

    @property
    def clob_url(self) -> str:
        return f"http://{self._base}"

    @property
    def gamma_url(self) -> str:
        return f"http://{self._base}/gamma"

    @property
    def espn_url(self) -> str:
        return f"http://{self._base}/espn"

    @property
    def chain_url(self) -> str:
        """The Polygon JSON-RPC node (``POLYGON_RPC_URL``)."""
        return f"http://{self._base}{CHAIN_PATH}"

    # --- the venue's truth and listings ---------------------------------------------------

    def truth(self, token_id: str) -> OrderBook:
        """A copy of the venue's book for ``token_id``: what a perfect client holds after every
        frame sent so far (faults aside). KeyError for a token without a book."""
        return self.venue.truth(token_id)

    def token_ids(self) -> list[str]:
        """Every token with a live book (closed markets excluded)."""
        return self.venue.catalog.live_token_ids()

    def gamma_markets(self) -> list[dict[str, Any]]:
        """Gamma market objects as ``/gamma/markets`` serves them (closed ones included)."""
        now = self.scenario_time()
        return [gamma_market(m, self.venue.books, now) for m in self.venue.catalog.markets]

    @property
    def games(self) -> list[SimGame]:
        return self.venue.catalog.games

    # --- scenario clock -------------------------------------------------------------------

    def scenario_time(self) -> float:
        """Scenario seconds since start (x speed), frozen while paused; 0 before start."""
        if self._started_at is None:
            return 0.0
        now = self._paused_at if self._paused_at is not None else time.monotonic()
        return (now - self._started_at - self._paused_total) * self.speed

    def pause(self) -> None:
        """Stop the scenario clock: no new updates (faults, windows and games wait too)."""
        if self._paused_at is None:
            self._paused_at = time.monotonic()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._paused_total += time.monotonic() - self._paused_at
            self._paused_at = None

    async def _run_clock(self) -> None:
        while True:
            busy = False
            try:
                busy = await self._step()
            except Exception:  # a bug in one step must not stop the venue
                log.exception("sim_step_failed")
            await asyncio.sleep(0 if busy else self._idle_s())

    async def _step(self) -> bool:
        t = self.scenario_time()
        while self._faults and self._faults[0].at_s <= t and self._paused_at is None:
            await self._apply_fault(self._faults.pop(0))
        busy = False
        if self._paused_at is None:
            frames = self._source.advance_to(t, _wall_ms(), MAX_FRAMES_PER_STEP)
            self._publish(frames)
            busy = len(frames) >= MAX_FRAMES_PER_STEP
        self.channel.release_stale()
        return busy

    def _idle_s(self) -> float:
        if self._paused_at is not None:
            return MAX_SLEEP_S
        due = self._source.next_due_s()
        if self._faults:
            due = min(due, self._faults[0].at_s)
        wait = (due - self.scenario_time()) / self.speed
        return min(MAX_SLEEP_S, max(0.0005, wait))

    def _publish(self, frames: list[Frame]) -> None:
        for frame in frames:
            self.channel.publish(frame)

    def _snapshot(self, token_ids: Any) -> str:
        return self.venue.snapshot_text(token_ids, _wall_ms())

    # --- faults ---------------------------------------------------------------------------

    async def _apply_fault(self, fault: Fault) -> None:
        log.info("sim_fault", kind=fault.kind, at_s=fault.at_s)
        if fault.kind == "disconnect":
            await self.disconnect_all()
        elif fault.kind == "freeze":
            self.freeze(fault.duration_s)
        elif fault.kind == "malformed":
            self.inject_malformed(fault.count)
        elif fault.kind == "duplicate":
            self.duplicate_next(fault.count)
        elif fault.kind == "out_of_order":
            self.reorder_next(fault.count)
        elif fault.kind == "chain_drop":
            self.chain.drop_receipts(fault.duration_s)
        elif fault.kind == "chain_revert":
            self.chain.revert_next(fault.count)
        elif fault.kind == "tick_size_change" and self.driver is not None:
            self._publish(self.driver.toggle_tick(fault.count - 1, _wall_ms()))

    def _account(self, api_key: str) -> ApiCreds | None:
        account = self.exchange.accounts.get(api_key)
        return None if account is None else account[1]

    def _abort_socket(self, websocket: WebSocket) -> bool:
        client = websocket.client
        return self._abort_peer(None if client is None else (client.host, client.port))

    def _abort(self, client: Client) -> bool:
        """Abort a client's TCP stream without a close frame (an abrupt drop)."""
        return self._abort_peer(client.peer)

    def _abort_peer(self, peer: tuple[str, int] | None) -> bool:
        server = self._server
        if server is None or peer is None:
            return False
        for connection in list(server.server_state.connections):
            if getattr(connection, "client", None) == peer:
                transport = getattr(connection, "transport", None)
                if transport is not None:
                    transport.abort()
                    return True
        return False

    async def disconnect_all(self) -> None:
        """Drop every client WebSocket abruptly (no close frame), the user channel's too."""
        await self.channel.disconnect_all()
        await self.user_channel.drop_all()

    def freeze(self, seconds: float) -> None:
        """Live connections get nothing, not even PONG, for ``seconds`` (those frames are lost
        to them); connections opened meanwhile are served normally."""
        self.channel.freeze(seconds)

    def inject_malformed(self, count: int = 1) -> None:
        """Send ``count`` malformed frames now (bad JSON, wrong types, bad numbers)."""
        self.channel.inject_malformed(count)

    def duplicate_next(self, count: int = 1) -> None:
        """Send each of the next ``count`` frames twice."""
        self.channel.duplicate_next(count)

    def reorder_next(self, count: int = 1) -> None:
        """Swap each of the next ``count`` price_changes with the next one of the same market."""
        self.channel.reorder_next(count)

    def change_tick(self, token_id: str, new_tick: Decimal) -> None:
        """Change the tick of ``token_id``'s market: ``tick_size_change`` for both tokens, then a
        fresh ``book`` for each. KeyError for an unknown token, ValueError for a bad tick."""
        tick = decimal_to_price(new_tick)
        if tick not in VALID_TICKS:
            raise ValueError(f"tick size must be 0.1, 0.01, 0.001 or 0.0001, not {new_tick}")
        market = self.venue.market_of(token_id)
        if market is None or not market.live:
            raise KeyError(f"unknown token id {token_id!r}")
        if self.driver is not None:
            frames = self.driver.change_tick(token_id, tick, _wall_ms())
        else:
            frames = self.venue.tick_size_change(market, tick, _wall_ms())
        self._publish(frames)

    def resolve_market(self, condition_id: str, winner_index: int) -> None:
        """The market resolves now: closed (its books leave the stream, Gamma lists it closed
        with its payouts) and its payouts reported on chain, so its positions can be redeemed.
        ``winner_index`` (0 or 1) is the winning outcome. KeyError for an unknown condition."""
        market = next(
            (m for m in self.venue.catalog.markets if m.condition_id == condition_id), None
        )
        if market is None:
            raise KeyError(f"unknown condition id {condition_id!r}")
        self.chain.resolve_market(condition_id, winner_index)
        market.closed = True
        market.winner_index = winner_index

    def finish_game(self, game_index: int) -> None:
        """ESPN: make game ``game_index`` final now; its winner reprices after the scenario's
        ``reprice_delay_s``. IndexError for an unknown game."""
        if self.driver is None or not 0 <= game_index < len(self.games):
            raise IndexError(f"no game {game_index} (have {len(self.games)})")
        if self._paused_at is None:
            self._publish(self.driver.advance_to(self.scenario_time(), _wall_ms()))
        self.driver.finish_game(game_index)
