"""Unsafe dashboard settings are refused with the variable's name; a slow stream client is
dropped without slowing the others."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import orjson
import pytest

from polyarb.api.context import build_context
from polyarb.api.live import CLIENT_QUEUE, WAKE_BATCH, LiveView, StreamClient
from polyarb.bus import DailyPnl, EngineState, ErrorEvent, MemoryBus, MemoryHub
from polyarb.bus.topics import Channel
from polyarb.config import Settings, load_settings
from polyarb.domain.errors import ConfigError
from polyarb.domain.trading import Mode

SECRET = "p" * 48


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("JWT_SECRET", "short", "JWT_SECRET: must be at least 32 bytes"),
        ("CORS_ORIGINS", "*", r"CORS_ORIGINS: \* is refused"),
        ("OTP_REQUESTS_PER_EMAIL", "lots", "OTP_REQUESTS_PER_EMAIL: expected a rate"),
        (
            "TRUSTED_PROXIES",
            "10.0.0.1,proxy.local",
            "TRUSTED_PROXIES: expected IP addresses or CIDR",
        ),
        ("OTP_TTL_S", "900", "OTP_TTL_S"),
        ("OTP_MAX_TRIES", "50", "OTP_MAX_TRIES"),
    ],
)
def test_bad_api_settings_are_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=says):
        load_settings(env_file=None)


def _build(**overrides: Any) -> None:
    settings = Settings(_env_file=None, **overrides)
    build_context(settings, MemoryBus("x"), queries=None, users=None, mode=Mode.PAPER)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"redis_url": "redis://127.0.0.1:1/0", "smtp_host": "mail"}, "JWT_SECRET is required"),
        ({"jwt_secret": SECRET, "smtp_host": "mail"}, "set REDIS_URL"),
        ({"jwt_secret": SECRET, "redis_url": "redis://127.0.0.1:1/0"}, "SMTP_HOST"),
        (
            {
                "jwt_secret": SECRET,
                "redis_url": "redis://127.0.0.1:1/0",
                "smtp_host": "mail",
                "api_insecure_cookies": True,
            },
            "development only",
        ),
    ],
)
def test_production_refuses_unsafe_dashboards(overrides: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        _build(app_env="production", **overrides)


def test_plain_http_cookies_only_on_localhost() -> None:
    with pytest.raises(ConfigError, match="API_HOST on localhost"):
        _build(api_insecure_cookies=True, api_host="0.0.0.0")
    _build(api_insecure_cookies=True, api_host="127.0.0.1")


async def test_a_slow_stream_client_is_dropped_and_the_others_keep_up() -> None:
    hub = MemoryHub()
    engine = MemoryBus("engine", hub=hub)
    view = LiveView(MemoryBus("dashboard", hub=hub), flush_s=3600)  # flushed by hand here
    await view.start()
    dropped = asyncio.Event()
    slow = StreamClient(on_drop=dropped.set)
    fast = StreamClient()
    view.clients |= {slow, fast}
    state = EngineState(
        status="running",
        trading_state="active",
        mode=Mode.PAPER,
        started_ns=1,
        markets_tracked=1,
        books_tracked=2,
        books_stale=0,
        pnl=DailyPnl(day="2026-12-03", realized=Decimal(0), unrealized=Decimal(0)),
    )
    seqs: list[int] = []
    frames = CLIENT_QUEUE + 5
    try:
        for _ in range(frames):
            for _ in range(3):  # three events make one frame
                engine.publish_nowait(Channel.STATE, state)
            for _ in range(10):
                await asyncio.sleep(0)
            view.flush()
            while not fast.queue.empty():  # the fast client reads as it goes
                seqs += [m["seq"] for m in orjson.loads(fast.queue.get_nowait())]
        await asyncio.wait_for(dropped.wait(), 2)
        assert slow.dropped
        assert slow not in view.clients
        assert fast in view.clients
        assert seqs == list(range(1, 3 * frames + 1))  # every event, in order, no gap
        assert view.clients_dropped == 1
    finally:
        await view.close()


async def test_a_frame_is_handed_to_a_few_stream_clients_per_loop_turn_and_in_order() -> None:
    """Each client handed a frame sends it in the next turn of the event loop (the engine's, on
    the embedded default): at most ``WAKE_BATCH`` a turn, so market data waits for a few sends,
    not one per client. A client connecting mid-way (``snapshot``) flushes the rest of the
    frame first: every client still gets every frame, in order."""
    hub = MemoryHub()
    engine = MemoryBus("engine", hub=hub)
    view = LiveView(MemoryBus("dashboard", hub=hub), flush_s=3600)  # flushed by hand here
    await view.start()
    turn = 0
    handed: dict[int, int] = {}  # loop turn -> clients handed a frame in it

    class CountingQueue(asyncio.Queue[bytes]):
        def put_nowait(self, item: bytes) -> None:
            handed[turn] = handed.get(turn, 0) + 1
            super().put_nowait(item)

    clients = [StreamClient(queue=CountingQueue(CLIENT_QUEUE)) for _ in range(8 * WAKE_BATCH + 2)]
    view.clients |= set(clients)

    async def count_turns() -> None:
        nonlocal turn
        while True:
            turn += 1
            await asyncio.sleep(0)

    async def publish(n: int) -> None:
        seq = view.seq + n
        for _ in range(n):
            engine.publish_nowait(
                Channel.ERRORS, ErrorEvent(source="test", kind="test", message="x")
            )
        while view.seq < seq:
            await asyncio.sleep(0)

    counter = asyncio.create_task(count_turns())
    try:
        await publish(3)
        await view.spread()
        assert max(handed.values()) <= WAKE_BATCH
        assert sum(handed.values()) == len(clients)
        assert len(handed) >= len(clients) // WAKE_BATCH

        await publish(2)
        spreading = asyncio.create_task(view.spread())
        await asyncio.sleep(0)  # the first batch handed out
        waiting = [c for c in clients if c.queue.qsize() == 1]
        assert len(waiting) == len(clients) - WAKE_BATCH
        await publish(1)
        assert any(c.queue.qsize() == 1 for c in clients)  # frame 2 still being handed out
        view.snapshot()  # a client connects: the rest of frame 2, then frame 3, to everyone
        await spreading
        for client in clients:
            frames = [orjson.loads(client.queue.get_nowait()) for _ in range(3)]
            assert [[m["seq"] for m in f] for f in frames] == [[1, 2, 3], [4, 5], [6]]
    finally:
        counter.cancel()
        await view.close()
