"""What only the local-socket bus has: a reader that never reads costs the engine nothing, and
a dashboard reconnects when the engine's socket comes back (the contract: test_bus.py)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import time
from pathlib import Path

from polyarb.bus import Channel, Gap, LocalBus, LocalBusServer, MemoryBus, MemoryHub
from polyarb.bus.local import MESSAGE, SUBSCRIBE, frame, read_frame

from .helpers import engine_state, take, trade_event, wait_until


async def test_a_reader_that_never_reads_loses_frames_and_never_slows_the_engine() -> None:
    hub = MemoryHub()
    engine = MemoryBus("engine-1", hub=hub)
    server = LocalBusServer(hub, max_buffer=64 * 1024)
    path = await server.start()
    assert stat.S_IMODE(os.stat(Path(path).parent).st_mode) == 0o700  # this user only
    dashboard = LocalBus(path, "dash")
    await dashboard.start()
    try:
        # A peer that subscribes to everything the engine says and then reads nothing.
        _reader, stuck = await asyncio.open_unix_connection(path)
        stuck.write(frame(SUBSCRIBE, json.dumps([1, [Channel.STATE, Channel.TRADES]]).encode()))
        await stuck.drain()
        trades = dashboard.subscribe([Channel.TRADES], max_queue=10_000)
        assert await trades.wait_ready()
        await wait_until(lambda: server.peers == 2)
        state = engine_state()  # ~10 KiB encoded
        worst = 0.0
        for i in range(400):  # ~4 MiB of states: far more than the stuck peer's buffer
            began = time.perf_counter()
            engine.publish_nowait(Channel.STATE, state)
            worst = max(worst, time.perf_counter() - began)
            if i % 40 == 0:
                engine.publish_nowait(Channel.TRADES, trade_event(i))
                await asyncio.sleep(0)
        assert server.dropped > 0  # the stuck peer's frames, not the engine's time
        assert worst < 0.05
        received = await take(trades, 10)  # the reading dashboard got every trade
        assert [e.seq for e in received] == list(range(1, 11))
        stuck.close()
    finally:
        await dashboard.close()
        await server.close()
    assert not Path(path).parent.exists()


async def test_the_dashboard_reconnects_when_the_engines_socket_comes_back(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "bus.sock")
    hub = MemoryHub()
    engine = MemoryBus("engine-1", hub=hub)
    server = LocalBusServer(hub)
    await server.start(path)
    gaps: list[Gap] = []

    async def on_gap(gap: Gap) -> None:
        gaps.append(gap)

    dashboard = LocalBus(path, "dash", backoff_min_s=0.01, backoff_max_s=0.1)
    await dashboard.start()
    sub = dashboard.subscribe([Channel.TRADES], on_gap=on_gap)
    try:
        assert await sub.wait_ready()
        engine.publish_nowait(Channel.TRADES, trade_event(1))
        assert [e.seq for e in await take(sub, 1)] == [1]
        await server.close()  # the engine's side goes away
        await wait_until(lambda: not dashboard.stats.connected)
        dashboard.publish_nowait(Channel.COMMANDS, _pause())  # nowhere to go: dropped
        assert dashboard.stats.dropped == 1
        engine.publish_nowait(Channel.TRADES, trade_event(2))  # lost while disconnected
        server = LocalBusServer(hub)
        await server.start(path)
        await wait_until(lambda: dashboard.stats.connected and server.peers == 1)
        await wait_until(lambda: bool(server._peers) and all(p.channels for p in server._peers))
        engine.publish_nowait(Channel.TRADES, trade_event(3))
        [after] = await take(sub, 1)
        assert after.seq == 3
        assert [g.reason for g in gaps] == ["reconnect", "sequence"]
        assert gaps[1].missed == 1
        assert gaps[1].after_reconnect
        assert dashboard.stats.reconnects == 1
    finally:
        await dashboard.close()
        await server.close()


async def test_garbage_from_a_peer_is_counted_and_the_connection_dropped() -> None:
    hub = MemoryHub()
    server = LocalBusServer(hub)
    path = await server.start()
    try:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(frame(MESSAGE, b"{not json"))
        await writer.drain()
        await wait_until(lambda: server.malformed == 1)
        writer.write(b"\xff\xff\xff\xff\x01")  # a frame far larger than any message
        await writer.drain()
        try:
            await asyncio.wait_for(read_frame(reader), 5)
        except ConnectionError:
            pass  # closed by the server, as expected
        else:
            raise AssertionError("the server answered a peer speaking nonsense")
        await wait_until(lambda: server.peers == 0)
        writer.close()
    finally:
        await server.close()


def _pause() -> object:
    from polyarb.bus import new_command

    return new_command("pause", "ops@example.test")
