"""The dashboard API under load while the engine paper-trades against the simulator.

Two runs of ``--seconds`` each on the same scenario (an arbitrage window every second):

  baseline    the engine with the dashboard served but idle
  loaded      the same while another process hammers it: ``--concurrency`` HTTP clients
              cycling ``GET /api/state``, ``GET /api/trades`` and one market's books
              (``GET /api/markets/{id}/book``, which the engine answers over the bus), and
              ``--streams`` WebSocket clients on ``/api/stream``

``--dashboard embedded`` (default) is what ``polyarb run`` does without Redis: the engine serves
its in-process bus on a local socket and starts the dashboard as its child process (the same
code, ``run_cmd.dashboard_process``); the load logs in through the real flow, the code caught by
an SMTP server of the bench's own. ``--dashboard separate`` runs ``polyarb dashboard``'s app as
its own process over a redis-server the bench starts (the engine's bus is Redis then). Either
way only the bus and the book queries reach the engine's event loop.

Printed: requests/s and p50/p99 per route, stream messages received and clients dropped, and
the engine's tick-to-decision p50/p99 in both runs (``engine.counters.decision_ns``: from the
frame's receipt to the order command). The bar: the dashboard slows trading by at most 20 %.
Login is not what is measured here.

Also printed: the engine's event-loop thread's CPU and how often the kernel preempted it, in
each run (the dashboard's work off the loop shows as an unchanged CPU; a busier machine as
more preemptions). ``--load-nice 10`` runs the load process below the engine's priority, as
browsers on other machines would be: the load then competes for the cores only when the
engine has nothing to do.

    .venv/bin/python bench/bench_api.py [--seconds 20] [--concurrency 8] [--streams 50]
                                        [--dashboard embedded|separate] [--rate R]
                                        [--load-nice N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import multiprocessing
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import structlog
import websockets

from bench_decision import UNBOUNDED_PAPER  # this folder is on sys.path when run as a script
from polyarb.api.app import create_app
from polyarb.api.server import make_server, serve
from polyarb.bus import RedisBus
from polyarb.cli.dashboard_cmd import dashboard_context
from polyarb.cli.run_cmd import dashboard_process as polyarb_run_dashboard
from polyarb.config import Settings, load_settings
from polyarb.engine.core import Engine
from polyarb.engine.runner import Endpoints, run_engine
from polyarb.sim import ScenarioConfig
from polyarb.store import resolve_database_url
from polyarb.store.admin import ensure_database
from polyarb.store.users import UserStore

EMAIL = "bench@example.test"
LOAD_NICE = "BENCH_API_LOAD_NICE"  # --load-nice, for the spawned load process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_settings(data_dir: Path, **overrides: Any) -> Settings:
    options: dict[str, Any] = {
        "api_port": free_port(),
        "otp_delivery": "smtp",  # to the bench's own SMTP server (embedded: real login)
        "smtp_host": "127.0.0.1",
        "smtp_security": "none",
        "log_level": "warning",  # the dashboard process logs by the settings
        **overrides,
    }
    return load_settings(
        None,
        data_dir=data_dir,
        jwt_secret="bench-" + "k" * 60,
        allowed_emails=(EMAIL,),
        **UNBOUNDED_PAPER,
        **options,
    )


def scenario() -> ScenarioConfig:
    return ScenarioConfig(
        seed=11,
        binary_markets=8,
        negrisk_events=2,
        outcomes_per_event=4,
        updates_per_s=150.0,
        window_every_s=1.0,
        games=0,
    )


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, -int(-p * len(ordered) // 100) - 1)] if ordered else float("nan")


# --- the load process ----------------------------------------------------------------------


BOOK = "/api/markets/{id}/book"


async def _http_worker(
    url: str,
    cookie: str,
    stop_at: float,
    out: dict[str, list[float]],
    errors: list[int],
    market: str,
    rate: float,
) -> None:
    paths = ["/api/state", "/api/trades", BOOK]
    interval = 1 / rate if rate > 0 else 0.0
    async with httpx.AsyncClient(base_url=url, headers={"Cookie": cookie}, timeout=10) as client:
        n = 0
        next_at = time.monotonic()
        while time.monotonic() < stop_at:
            if interval:  # a paced client (a browser polling), else flat out
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            path = paths[n % len(paths)]
            started = time.perf_counter()
            response = await client.get(path.replace("{id}", market))
            out[path].append((time.perf_counter() - started) * 1e6)
            if response.status_code != 200:
                errors.append(response.status_code)
            n += 1


async def _stream_client(url: str, cookie: str, stop_at: float, counts: list[int]) -> None:
    ws_url = url.replace("http://", "ws://") + "/api/stream"
    received = 0
    try:
        async with websockets.connect(
            ws_url, origin=url, additional_headers={"Cookie": cookie}, max_size=2**24
        ) as ws:
            while time.monotonic() < stop_at:
                try:
                    await asyncio.wait_for(ws.recv(), max(0.01, stop_at - time.monotonic()))
                except TimeoutError:
                    break
                received += 1
    except websockets.ConnectionClosed:
        counts.append(-received - 1)  # dropped
        return
    counts.append(received)


async def _load(
    url: str, cookie: str, seconds: float, concurrency: int, streams: int, market: str, rate: float
) -> dict[str, Any]:
    stop_at = time.monotonic() + seconds
    out: dict[str, list[float]] = {"/api/state": [], "/api/trades": [], BOOK: []}
    errors: list[int] = []
    counts: list[int] = []
    await asyncio.gather(
        *(
            _http_worker(url, cookie, stop_at, out, errors, market, rate)
            for _ in range(concurrency)
        ),
        *(_stream_client(url, cookie, stop_at, counts) for _ in range(streams)),
    )
    return {"latency_us": out, "errors": errors, "streams": counts, "seconds": seconds}


def load_process(
    url: str,
    cookie: str,
    seconds: float,
    concurrency: int,
    streams: int,
    market: str,
    rate: float,
    q: Any,
    go: Any,
) -> None:
    os.nice(int(os.environ.get(LOAD_NICE, "0")))  # --load-nice: browsers stand elsewhere
    go.set()
    q.put(asyncio.run(_load(url, cookie, seconds, concurrency, streams, market, rate)))


# --- the dashboard in its own process (--dashboard separate) ------------------------------------


async def _mint_cookie(ctx: Any) -> str:
    """A viewer session minted with the dashboard's own key (login is not measured)."""
    pair = ctx.tokens.issue(
        EMAIL, session_id="bench", session_version=1, auth_time=int(time.time())
    )
    await ctx.auth.set_family("bench", pair.refresh_claims.jti, 3600)
    return f"__Host-polyarb-access={pair.access}"


async def _serve_separately(data_dir: Path, redis_url: str, port: int, q: Any) -> None:
    settings = bench_settings(data_dir, redis_url=redis_url, api_port=port)
    bus = RedisBus(redis_url, "bench-dashboard")
    await bus.start()
    ctx = dashboard_context(settings, bus)
    server = make_server(create_app(ctx), settings, embedded=False)
    urls: list[str] = []
    task = asyncio.create_task(serve(server, settings, urls.append))
    while not urls:  # noqa: ASYNC110 (set by the server task's callback)
        await asyncio.sleep(0.05)
    q.put((urls[0], await _mint_cookie(ctx)))
    await task
    await bus.close()


def dashboard_process(data_dir: str, redis_url: str, port: int, q: Any) -> None:
    logging.basicConfig(level=logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(_serve_separately(Path(data_dir), redis_url, port, q))


class OwnRedis:
    """A redis-server of the bench's own (no persistence), so no other engine shares the bus."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("--dashboard separate needs redis-server (apt install redis-server)")
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                *(binary, "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--protected-mode", "yes"),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        raise SystemExit("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


# --- one run ---------------------------------------------------------------------------------


async def one_run(
    seconds: float, concurrency: int, streams: int, load: float | None, separate: bool
) -> dict[str, Any]:
    """``load``: None for the baseline, else each HTTP client's requests/s (0: flat out)."""
    from aiosmtpd.controller import Controller

    with tempfile.TemporaryDirectory() as tmp:
        redis = OwnRedis() if separate else None
        mail = Mailbox()
        smtp = Controller(mail, hostname="127.0.0.1", port=free_port())
        smtp.start()
        try:
            settings = bench_settings(
                Path(tmp), redis_url=redis.url if redis else None, smtp_port=smtp.port
            )
            return await _one_run(settings, seconds, concurrency, streams, load, mail)
        finally:
            smtp.stop()
            if redis is not None:
                redis.close()


class Mailbox:
    """aiosmtpd handler keeping the login codes sent."""

    def __init__(self) -> None:
        self.codes: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = re.search(rb"code is (\d{6})", envelope.content)
        if found:
            self.codes.append(found.group(1).decode())
        return "250 OK"


async def _login(url: str, mail: Mailbox) -> str:
    """A session through the real login flow; its Cookie header."""
    csrf = {"X-Requested-With": "polyarb"}
    async with httpx.AsyncClient(base_url=url, headers=csrf, timeout=10) as client:
        asked = await client.post("/api/auth/otp/request", json={"email": EMAIL})
        asked.raise_for_status()
        deadline = time.monotonic() + 10
        while not mail.codes and time.monotonic() < deadline:  # noqa: ASYNC110 (SMTP thread)
            await asyncio.sleep(0.05)
        verified = await client.post(
            "/api/auth/otp/verify",
            json={"email": EMAIL, "code": mail.codes[-1], "attempt_id": asked.json()["attempt_id"]},
        )
        verified.raise_for_status()
        # Secure cookies: sent by hand over plain http.
        return "; ".join(h.split(";")[0] for h in verified.headers.get_list("set-cookie"))


async def _one_run(
    settings: Settings,
    seconds: float,
    concurrency: int,
    streams: int,
    load: float | None,
    mail: Mailbox,
) -> dict[str, Any]:
    db_url = resolve_database_url(None, settings.data_dir)
    await ensure_database(db_url, auto_upgrade=True)
    users = UserStore.open(db_url)
    await users.add(EMAIL, "viewer")
    await users.close()
    started: dict[str, Any] = {"mail": mail}
    children: list[Any] = []
    tasks: list[asyncio.Task[None]] = []

    def ready(engine: Engine, _endpoints: Endpoints) -> None:
        started["engine"] = engine
        if settings.redis_url is None:  # embedded: polyarb run's dashboard process
            served = polyarb_run_dashboard(
                settings, engine, children, on_started=lambda u: started.setdefault("url", u)
            )
            tasks.append(asyncio.create_task(served))
        tasks.append(
            asyncio.create_task(_drive_load(started, settings, seconds, concurrency, streams, load))
        )

    summary = await run_engine(  # stopped by _drive_load (SIGINT) once measured
        settings, venue="sim", duration_s=seconds + 120, scenario=scenario(), ready=ready
    )
    for child in children:
        await child.stop()
    await asyncio.wait(tasks, timeout=15)
    result = started.get("load") or {}
    window = started["window_ns"]
    result["decision_us"] = {
        "p50": Decimal(pct(window, 50)) / 1000,
        "p90": Decimal(pct(window, 90)) / 1000,
        "p99": Decimal(pct(window, 99)) / 1000,
        "n": len(window),
    }
    result["fills"] = summary.fills
    result["loop"] = started["loop"]
    return result


class LoopUsage:
    """The engine's event-loop thread (this one): CPU used and times the kernel took the core
    from it (involuntary context switches: other processes ran instead)."""

    def __init__(self) -> None:
        self._at = time.monotonic()
        self._usage = resource.getrusage(resource.RUSAGE_THREAD)

    def since(self) -> dict[str, float]:
        now = resource.getrusage(resource.RUSAGE_THREAD)
        elapsed = time.monotonic() - self._at
        cpu = (now.ru_utime - self._usage.ru_utime) + (now.ru_stime - self._usage.ru_stime)
        return {
            "cpu_pct": 100 * cpu / elapsed,
            "preempted_per_s": (now.ru_nivcsw - self._usage.ru_nivcsw) / elapsed,
        }


async def _dashboard(started: dict[str, Any], settings: Settings, spawn: Any) -> tuple[str, str]:
    """The dashboard's URL and a session cookie: in this process, or started in its own."""
    if settings.redis_url is None:
        while "url" not in started:  # noqa: ASYNC110 (set by the supervisor's callback)
            await asyncio.sleep(0.05)
        return started["url"], await _login(started["url"], started["mail"])
    q: Any = spawn.Queue()
    process = spawn.Process(
        target=dashboard_process,
        args=(str(settings.data_dir), settings.redis_url, free_port(), q),
    )
    process.start()
    started["dashboard"] = process
    url, cookie = await asyncio.to_thread(q.get)
    return str(url), str(cookie)


async def _drive_load(
    started: dict[str, Any],
    settings: Settings,
    seconds: float,
    concurrency: int,
    streams: int,
    load: float | None,
) -> None:
    spawn = multiprocessing.get_context("spawn")
    try:
        url, cookie = await _dashboard(started, settings, spawn)
        await asyncio.sleep(3)  # let the engine find its books
        engine: Engine = started["engine"]
        market = next(m.condition_id for m in engine.universe.markets if not m.neg_risk)
        decisions = engine.counters.decision_ns
        if load is not None:
            q: Any = spawn.Queue()
            go: Any = spawn.Event()
            process = spawn.Process(
                target=load_process,
                args=(url, cookie, seconds, concurrency, streams, market, load, q, go),
            )
            process.start()
            await asyncio.to_thread(go.wait)  # the load process is up and about to start
            before, usage = len(decisions), LoopUsage()
            started["load"] = await asyncio.to_thread(q.get)
            await asyncio.to_thread(process.join)
        else:
            before, usage = len(decisions), LoopUsage()
            await asyncio.sleep(seconds)
        # Only the decisions taken while measuring (the deque keeps the last 100,000).
        started["window_ns"] = list(decisions)[before:]
        started["loop"] = usage.since()
    finally:
        dashboard = started.get("dashboard")
        if dashboard is not None:
            dashboard.terminate()  # SIGTERM: uvicorn shuts down cleanly
            await asyncio.to_thread(dashboard.join, 15)
        os.kill(os.getpid(), signal.SIGINT)  # run_engine stops on it


def report(name: str, result: dict[str, Any]) -> None:
    decision = result["decision_us"]
    print(
        f"{name:9} tick-to-decision p50 {decision['p50']:.0f} µs  "
        f"p90 {decision['p90']:.0f} µs  p99 {decision['p99']:.0f} µs "
        f"(n={decision['n']})   fills {result['fills']}"
    )
    loop = result["loop"]
    print(
        f"          engine loop thread: CPU {loop['cpu_pct']:.1f} %, "
        f"preempted {loop['preempted_per_s']:.0f} times/s"
    )
    if "latency_us" not in result:
        return
    for path, samples in result["latency_us"].items():
        rate = len(samples) / result["seconds"]
        print(
            f"          {path:27} {rate:6.0f} req/s  p50 {pct(samples, 50) / 1000:7.2f} ms  "
            f"p99 {pct(samples, 99) / 1000:7.2f} ms  (n={len(samples)})"
        )
    streams = result["streams"]
    kept = [c for c in streams if c >= 0]
    dropped = [c for c in streams if c < 0]
    mean = statistics.mean(kept) if kept else 0
    print(
        f"          /api/stream  {len(streams)} clients, {len(dropped)} dropped, "
        f"{mean:.0f} messages each (mean); HTTP errors: {len(result['errors'])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--dashboard", choices=("embedded", "separate"), default="embedded")
    parser.add_argument(
        "--rate", type=float, default=0, help="requests/s of each HTTP client (0: flat out)"
    )
    parser.add_argument(
        "--load-nice",
        type=int,
        default=0,
        help="the load process's nice value: 10 stands for browsers on other machines (the "
        "load then takes the cores only when the engine does not need them)",
    )
    args = parser.parse_args()
    os.environ[LOAD_NICE] = str(args.load_nice)
    separate = args.dashboard == "separate"
    logging.basicConfig(level=logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    pace = f"{args.rate:g} requests/s each" if args.rate > 0 else "flat out"
    print(
        f"dashboard: {args.dashboard}; {args.concurrency} HTTP clients ({pace}), "
        f"{args.streams} stream clients, load process at nice {args.load_nice}"
    )
    base = asyncio.run(one_run(args.seconds, args.concurrency, args.streams, None, separate))
    loaded = asyncio.run(one_run(args.seconds, args.concurrency, args.streams, args.rate, separate))
    report("baseline", base)
    report("loaded", loaded)
    b99, l99 = base["decision_us"].get("p99"), loaded["decision_us"].get("p99")
    if b99 and l99:
        ratio = Decimal(l99) / Decimal(b99)
        print(f"tick-to-decision p99 loaded / baseline: {ratio:.2f} (bar: <= 1.20)")


if __name__ == "__main__":
    main()
