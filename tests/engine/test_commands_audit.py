"""Operator commands reach the engine over the bus, are acknowledged, applied once, and land in
the store's audit log (accepted and refused alike)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from polyarb.bus import Channel, MemoryBus, MemoryHub
from polyarb.bus.command_client import CommandClient, new_command
from polyarb.bus.signing import embedded_secret
from polyarb.config import load_settings
from polyarb.domain.clock import WallClock
from polyarb.engine.core import Engine
from polyarb.engine.persistence import open_store
from polyarb.engine.runner import command_processor
from polyarb.marketdata.gamma import Universe
from polyarb.risk.state import TradingState


async def test_commands_are_acked_applied_once_and_audited(tmp_path: Path) -> None:
    settings = load_settings(None, data_dir=tmp_path, command_operators=("olivia",))
    store = await open_store(settings)
    hub = MemoryHub()
    engine_bus, dashboard_bus = MemoryBus("engine-1", hub=hub), MemoryBus("dash", hub=hub)
    await engine_bus.start()
    await dashboard_bus.start()
    engine = Engine(
        settings, Universe(markets=(), events=(), raw=[]), clock=WallClock(), bus=engine_bus
    )
    processor = command_processor(settings, engine, engine_bus, store)
    commands = engine_bus.subscribe([Channel.COMMANDS])
    assert await commands.wait_ready()  # the processor listens before anything is sent
    task = asyncio.create_task(processor.run(commands))
    client = CommandClient(dashboard_bus, secret=embedded_secret())
    try:
        await client.start()
        kill = new_command("kill_switch_engage", "olivia", reason="drill")
        acks = await client.send(kill, timeout_s=2.0)
        assert acks["engine-1"].accepted
        assert engine.risk.state is TradingState.HALTED
        # The same command id again is not applied twice.
        again = await client.send(kill, timeout_s=2.0)
        assert again["engine-1"].accepted
        assert processor.stats.duplicates == 1
        # An operator may not clear the kill switch: refused with the reason, not applied.
        clear = await client.send(new_command("kill_switch_clear", "olivia"), timeout_s=2.0)
        assert not clear["engine-1"].accepted
        assert "unauthorized" in clear["engine-1"].reason
        assert engine.risk.state is TradingState.HALTED
        # The admin ("cli" by default) may.
        cleared = await client.send(new_command("kill_switch_clear", "cli"), timeout_s=2.0)
        assert cleared["engine-1"].accepted
        assert engine.risk.state is TradingState.ACTIVE
        await store.flush()
        rows = await store.queries.audit(limit=10)
        seen = sorted((r.actor, r.action, r.outcome) for r in rows)
        assert seen == [
            ("cli", "kill_switch_clear", "accepted"),
            ("olivia", "kill_switch_clear", "rejected"),
            ("olivia", "kill_switch_engage", "accepted"),
        ]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()
        await engine_bus.close()
        await dashboard_bus.close()
        await store.close()
