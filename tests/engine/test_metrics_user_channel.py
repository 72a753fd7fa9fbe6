"""The user channel's counters on /metrics: a real ``UserChannelClient`` against a real local
WebSocket server that sends the venue's recorded events, a malformed frame and a close, then the
collector scraped through a Prometheus registry (absent before the live start fills the slot)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from websockets.asyncio.server import ServerConnection, serve

from polyarb.clob.auth import ApiCreds
from polyarb.domain.backoff import Backoff
from polyarb.engine.metrics import UserChannelCollector, UserChannelSlot
from polyarb.execution.live.user_channel import UserChannelClient
from polyarb.execution.user_schemas import UserEvent

POLY_WS = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket" / "ws"
ORDER = (POLY_WS / "user_order_placement_live.json").read_text()
TRADE = (POLY_WS / "user_trade_taker_matched.json").read_text()


async def _until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():
            await asyncio.sleep(0.01)


async def test_user_channel_counters_are_served_once_live() -> None:
    sessions = 0

    async def venue(ws: ServerConnection) -> None:
        nonlocal sessions
        sessions += 1
        await ws.recv()  # the subscription
        if sessions == 1:  # two events, one malformed frame, then the venue drops us
            for frame in (ORDER, TRADE, '{"event_type": "order", "price": '):
                await ws.send(frame)
            await ws.close()
            return
        await ws.send(ORDER)
        await ws.wait_closed()

    slot = UserChannelSlot()
    registry = CollectorRegistry()
    registry.register(UserChannelCollector(slot))

    def sample(name: str, labels: dict[str, str] | None = None) -> float | None:
        return registry.get_sample_value(name, labels or {})

    assert "polyarb_user_channel" not in generate_latest(registry).decode()  # not live: absent

    events: list[UserEvent] = []
    async with serve(venue, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        channel = UserChannelClient(
            f"ws://127.0.0.1:{port}/ws/user",
            ApiCreds("key", "secret", "passphrase"),
            events.append,
            backoff=Backoff(min_s=0.02, max_s=0.05),
        )
        slot.channel = channel  # what the live start does
        assert sample("polyarb_user_channel_connected") == 0
        assert sample("polyarb_user_channel_messages_total", {"type": "trade"}) == 0
        channel.start()
        try:
            await _until(lambda: len(events) == 3 and channel.connected.is_set())
            assert sample("polyarb_user_channel_connected") == 1
            assert sample("polyarb_user_channel_messages_total", {"type": "order"}) == 2
            assert sample("polyarb_user_channel_messages_total", {"type": "trade"}) == 1
            assert sample("polyarb_user_channel_malformed_messages_total") == 1
            assert sample("polyarb_user_channel_reconnects_total") == 1
        finally:
            await channel.stop()
    text = generate_latest(registry).decode()
    assert "passphrase" not in text  # bounded labels: nothing of the credentials
