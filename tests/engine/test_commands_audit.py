"""Operator commands reach the engine over the bus, are acknowledged, applied once, and land in
the store's audit log (accepted and refused alike)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec

from polyarb.bus import Channel, CommandProcessor, MemoryBus, MemoryHub
from polyarb.bus.command_client import CommandClient, new_command
from polyarb.bus.signing import embedded_secret
from polyarb.config import Settings, load_settings
from polyarb.domain.clock import WallClock
from polyarb.engine.core import Engine
from polyarb.engine.persistence import open_store
from polyarb.engine.runner import command_processor
from polyarb.marketdata.gamma import Universe
from polyarb.risk.state import TradingState
from polyarb.store import Store
from polyarb.store.records import AUDIT_EVENT_ID_MAX, audit_event_id


@contextlib.asynccontextmanager
async def wired(
    settings: Settings, instance: str
) -> AsyncIterator[tuple[Engine, CommandProcessor, CommandClient, Store]]:
    """An engine with its store and command processor, and a dashboard's client, in process."""
    store = await open_store(settings)
    hub = MemoryHub()
    engine_bus, dashboard_bus = MemoryBus(instance, hub=hub), MemoryBus("dash", hub=hub)
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
        yield engine, processor, client, store
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()
        await engine_bus.close()
        await dashboard_bus.close()
        await store.close()


async def test_commands_are_acked_applied_once_and_audited(tmp_path: Path) -> None:
    settings = load_settings(None, data_dir=tmp_path, command_operators=("olivia",))
    async with wired(settings, "engine-1") as (engine, processor, client, store):
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


async def test_a_long_instance_id_still_audits_every_command(tmp_path: Path, db_url: str) -> None:
    """The audit key carries the engine's instance id: a long one (container ids, FQDNs) must
    neither overflow ``audit_log.event_id`` on PostgreSQL nor be set aside as a bad row."""
    settings = load_settings(None, data_dir=tmp_path, database_url=db_url)
    instance = "engine-" + "pod-7f9c2d1e8b-" * 12  # 187 characters
    long_id = "c" * 128  # the longest id a command may have
    async with wired(settings, instance) as (_engine, _processor, client, store):
        for command in (
            new_command("pause", "cli"),
            msgspec.structs.replace(new_command("resume", "cli"), id=long_id),
        ):
            acks = await client.send(command, timeout_s=5.0)
            assert acks[instance].accepted
        await store.flush()
        rows = await store.queries.audit(limit=10)
        assert sorted(r.action for r in rows) == ["pause", "resume"]
        assert all(r.outcome == "accepted" for r in rows)
    assert not (tmp_path / "spool" / "rejected.jsonl").exists()


def test_audit_keys_always_fit_and_stay_distinct() -> None:
    short = audit_event_id("command", "c1", "engine-1")
    assert short == "command-c1-engine-1"  # readable when it fits
    huge = [audit_event_id("command", "c" * 128, "h" * n) for n in (400, 2000, 2001)]
    assert all(len(key) <= AUDIT_EVENT_ID_MAX for key in huge)
    assert len(set(huge)) == 3
    assert huge[1] == audit_event_id("command", "c" * 128, "h" * 2000)  # deterministic


async def test_dashboard_users_act_with_the_role_it_vouches_for(tmp_path: Path) -> None:
    """A dashboard user the engine's COMMAND_* lists do not name acts with the account role the
    dashboard signed into the command; a user the lists name never acts above them."""
    settings = load_settings(None, data_dir=tmp_path, command_operators=("olivia@example.com",))
    async with wired(settings, "engine-1") as (engine, _processor, client, store):
        dana = "dana@example.com"  # an admin account on the dashboard, in no engine list
        engaged = await client.send(new_command("kill_switch_engage", dana, role="admin"))
        assert engaged["engine-1"].accepted
        assert engine.risk.state is TradingState.HALTED
        # olivia is an admin on the dashboard, but the engine lists her as an operator.
        olivia = await client.send(
            new_command("kill_switch_clear", "olivia@example.com", role="admin")
        )
        assert not olivia["engine-1"].accepted
        assert engine.risk.state is TradingState.HALTED
        nobody = await client.send(new_command("kill_switch_clear", "mallory@example.com"))
        assert "unauthorized" in nobody["engine-1"].reason  # no list, no vouched role
        cleared = await client.send(new_command("kill_switch_clear", dana, role="admin"))
        assert cleared["engine-1"].accepted
        assert engine.risk.state is TradingState.ACTIVE
        await store.flush()
        rows = await store.queries.audit(limit=10)
        roles = sorted((r.actor, r.outcome, r.detail["role"]) for r in rows)
        assert roles == [
            (dana, "accepted", "admin"),
            (dana, "accepted", "admin"),
            ("mallory@example.com", "rejected", ""),
            ("olivia@example.com", "rejected", "admin"),
        ]
