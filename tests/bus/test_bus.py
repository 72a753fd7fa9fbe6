"""The bus contract, run unchanged against MemoryBus and RedisBus (real Redis)."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from decimal import Decimal

import msgspec
import pytest

from polyarb.bus import (
    Channel,
    CommandAck,
    CommandAudit,
    CommandClient,
    CommandProcessor,
    EngineState,
    EngineStates,
    Gap,
    MemoryBus,
    ParamBounds,
    RedisBus,
    Resync,
    StatePublisher,
    authorize_by_role,
    make_bus,
    new_command,
)
from polyarb.bus.topics import ENGINE_CHANNELS
from polyarb.domain.errors import ConfigError

from .conftest import Transport
from .helpers import (
    COMMAND_SECRET,
    ROLES,
    FakeEngine,
    command,
    completes_at_once,
    engine_state,
    error_event,
    signal_event,
    take,
    trade_event,
    wait_until,
)


async def test_every_payload_arrives_intact_in_its_envelope(transport: Transport) -> None:
    engine = await transport.bus("engine-1")
    dashboard = await transport.bus("dash-1")
    sub = dashboard.subscribe([*ENGINE_CHANNELS, Channel.COMMANDS, Channel.COMMAND_ACKS])
    assert await sub.wait_ready()
    payloads = [
        (Channel.STATE, engine_state()),
        (Channel.SIGNALS, signal_event()),
        (Channel.TRADES, trade_event()),
        (Channel.ERRORS, error_event()),
        (Channel.COMMANDS, command("kill_switch_engage", reason="manual")),
        (
            Channel.COMMAND_ACKS,
            CommandAck(command_id="c1", accepted=False, reason="nope", applied_ns=5),
        ),
    ]
    before = time.time_ns()
    for channel, payload in payloads:
        await engine.publish(channel, payload)

    received = await take(sub, len(payloads))

    for (channel, payload), envelope in zip(payloads, received, strict=True):
        assert envelope.channel == channel
        assert envelope.data == payload
        assert envelope.type == payload.TYPE
        assert envelope.instance_id == "engine-1"
        assert envelope.seq == 1
        assert envelope.schema_version == 1
        assert before <= envelope.ts_ns <= time.time_ns()
    fill = received[2].data
    assert fill == trade_event()
    assert fill.fill is not None
    assert fill.fill.size == Decimal("100.000001")
    assert engine.stats.dropped == 0
    await wait_until(lambda: engine.stats.published == len(payloads))


async def test_sequence_numbers_count_per_channel(transport: Transport) -> None:
    engine = await transport.bus("engine-1")
    sub = engine.subscribe([Channel.STATE, Channel.TRADES])
    assert await sub.wait_ready()
    for i in range(3):
        await engine.publish(Channel.STATE, engine_state(opportunities=1, positions=1))
        if i < 2:
            await engine.publish(Channel.TRADES, trade_event(i))

    received = await take(sub, 5)

    assert [(e.channel, e.seq) for e in received] == [
        (Channel.STATE, 1),
        (Channel.TRADES, 1),
        (Channel.STATE, 2),
        (Channel.TRADES, 2),
        (Channel.STATE, 3),
    ]
    assert sub.stats.gaps == 0


async def test_lagging_subscriber_drops_and_resyncs_on_the_gap(transport: Transport) -> None:
    engine = await transport.bus("engine-1")
    reloads: list[int] = []

    async def reload() -> None:
        reloads.append(time.monotonic_ns())

    resync = Resync(reload)
    sub = engine.subscribe([Channel.TRADES], on_gap=resync, max_queue=5)
    assert await sub.wait_ready()
    for i in range(20):
        await engine.publish(Channel.TRADES, trade_event(i))
    await wait_until(lambda: sub.stats.dropped == 15)
    first = await take(sub, 5)
    assert [e.seq for e in first] == [1, 2, 3, 4, 5]
    assert reloads == []

    await engine.publish(Channel.TRADES, trade_event(20))
    (after,) = await take(sub, 1)

    assert after.seq == 21
    assert len(reloads) == 1
    assert sub.stats.gaps == 1
    assert sub.stats.missed == 15
    (report,) = resync.reports
    assert report.gap.reason == "sequence"
    assert (report.gap.expected, report.gap.received, report.missed) == (6, 21, 15)
    assert report.ok
    assert engine.stats.dropped == 0  # the publisher lost nothing: only the slow reader did


async def test_slow_subscriber_does_not_slow_the_publisher(transport: Transport) -> None:
    engine = await transport.bus("engine-1")
    sub = engine.subscribe([Channel.TRADES], max_queue=100)
    assert await sub.wait_ready()
    handled = 0

    async def slow_consumer() -> None:
        nonlocal handled
        async for _ in sub:
            handled += 1
            await asyncio.sleep(0.05)  # a dashboard stuck on something

    consumer = asyncio.create_task(slow_consumer())
    suspended = 0
    for i in range(3000):
        suspended += not completes_at_once(engine.publish(Channel.TRADES, trade_event(i)))
        if i % 100 == 0:
            await asyncio.sleep(0)  # let the consumer and the transport run, as the engine does
    await wait_until(lambda: sub.stats.dropped + sub.stats.received + 100 >= 3000)
    consumer.cancel()

    # Each call returns at once: it never suspends, so nothing waits on the consumer, which
    # takes 50 ms per message (3000 of them would take it 150 s).
    assert suspended == 0
    assert handled < 100  # the consumer really was slow ...
    assert sub.stats.dropped > 2000  # ... so it lost messages, not the engine its time
    assert engine.stats.dropped == 0


async def test_two_engines_are_told_apart_by_instance_id(transport: Transport) -> None:
    first = await transport.bus("engine-a")
    second = await transport.bus("engine-b")
    dashboard = await transport.bus("dash")
    states = EngineStates()
    gaps: list[Gap] = []

    async def on_gap(gap: Gap) -> None:
        gaps.append(gap)

    sub = dashboard.subscribe([Channel.STATE], on_gap=on_gap)
    assert await sub.wait_ready()
    for _ in range(3):
        await first.publish(Channel.STATE, engine_state(opportunities=1, positions=0))
        await second.publish(Channel.STATE, engine_state(opportunities=0, positions=2))

    received = await take(sub, 6)
    for envelope in received:
        states.update(envelope)

    by_instance = {
        name: [e.seq for e in received if e.instance_id == name]
        for name in ("engine-a", "engine-b")
    }
    assert by_instance == {"engine-a": [1, 2, 3], "engine-b": [1, 2, 3]}
    assert gaps == []
    assert states.instances() == ["engine-a", "engine-b"]
    assert len(states.latest["engine-a"].state.opportunities) == 1
    assert len(states.latest["engine-b"].state.positions) == 2
    assert states.latest["engine-b"].envelope.seq == 3
    assert not states.is_stale("engine-a")


async def test_a_payload_on_the_wrong_channel_is_dropped_not_raised(transport: Transport) -> None:
    engine = await transport.bus("engine-1")
    await engine.publish(Channel.TRADES, engine_state())
    assert engine.stats.dropped == 1


async def test_commands_are_validated_applied_once_audited_and_acked(
    transport: Transport,
) -> None:
    engine_bus = await transport.bus("engine-1")
    dashboard = await transport.bus("dash")
    engine = FakeEngine()
    audited: list[CommandAudit] = []

    async def audit(entry: CommandAudit) -> None:
        audited.append(entry)

    processor = CommandProcessor(
        engine,
        audit,
        engine_bus,
        authorize=authorize_by_role(ROLES.get),
        bounds={"sumto100": {"min_edge": ParamBounds(Decimal(0), Decimal("0.1"))}},
        secret=COMMAND_SECRET,
    )
    commands_sub = engine_bus.subscribe([Channel.COMMANDS])
    acks = dashboard.subscribe([Channel.COMMAND_ACKS])
    assert await commands_sub.wait_ready()
    assert await acks.wait_ready()
    runner = asyncio.create_task(processor.run(commands_sub))
    sent = [
        command("pause", id="c1"),
        command("pause", id="c1"),  # the dashboard retried: must not apply twice
        command("self_destruct", id="c2"),
        command("pause", id="c3", actor="eve@example.com"),
        command("kill_switch_clear", id="c4"),  # operators may not clear it
        command("strategy_set_param", id="c5", strategy="sumto100", param="min_edge", value="5"),
        command("strategy_set_param", id="c6", strategy="sumto100", param="min_edge", value="0.01"),
        command("strategy_disable", id="c7", strategy="nope"),
        command("pause", id="c8", target="engine-2"),  # for another engine: no answer from us
        command("kill_switch_clear", id="c9", actor="root@example.com"),
    ]
    for cmd in sent:
        await dashboard.publish(Channel.COMMANDS, cmd)

    received = await take(acks, 9)
    runner.cancel()

    answers = {
        (e.data.command_id, e.data.duplicate): e.data
        for e in received
        if isinstance(e.data, CommandAck)
    }
    assert all(e.instance_id == "engine-1" for e in received)
    assert answers["c1", False].accepted
    assert answers["c1", False].reason == ""
    assert answers["c1", True].accepted  # the original answer, flagged as a repeat
    assert answers["c2", False].reason == "malformed: unknown action 'self_destruct'"
    assert answers["c3", False].reason.startswith("unauthorized:")
    assert answers["c4", False].reason.startswith("unauthorized:")
    assert answers["c5", False].reason == "out of bounds: min_edge 5 is outside [0, 0.1]"
    assert answers["c6", False].accepted
    assert answers["c7", False].reason == "unknown strategy 'nope'"
    assert answers["c9", False].accepted
    assert not any(a.accepted for key, a in answers.items() if key[0] in {"c2", "c3", "c4", "c5"})
    assert ("c8", False) not in answers
    assert engine.applied == [
        ("pause", "alice@example.com"),
        ("set", "sumto100", "min_edge", "0.01"),
        ("clear", "root@example.com"),
    ]
    assert [(a.command.id, a.accepted) for a in audited] == [
        ("c1", True),
        ("c2", False),
        ("c3", False),
        ("c4", False),
        ("c5", False),
        ("c6", True),
        ("c7", False),
        ("c9", True),
    ]
    assert all(a.sender == "dash" and a.instance_id == "engine-1" for a in audited)
    assert processor.stats.duplicates == 1
    assert processor.stats.ignored == 1


async def test_state_publisher_publishes_bounded_states_on_schedule(transport: Transport) -> None:
    engine = await transport.bus("engine-1")
    sub = engine.subscribe([Channel.STATE])
    assert await sub.wait_ready()
    builds = 0

    def build() -> EngineState:
        nonlocal builds
        builds += 1
        if builds == 3:
            raise RuntimeError("a broken builder must not stop the publishing")
        return engine_state(opportunities=500, positions=80)

    await engine.publish(Channel.TRADES, engine_state())  # wrong channel: one drop to report
    publisher = StatePublisher(engine, build, interval_s=0.05)
    task = asyncio.create_task(publisher.run())
    received = await take(sub, 6, timeout_s=5)
    task.cancel()

    assert [e.seq for e in received] == [1, 2, 3, 4, 5, 6]
    # Paced by the 50 ms interval (not a busy loop): six states span five intervals.
    assert received[-1].ts_ns - received[0].ts_ns >= 0.2e9
    assert publisher.stats.build_failures == 1
    state = received[-1].data
    assert isinstance(state, EngineState)
    assert len(state.opportunities) == 20
    assert state.opportunities_total == 500
    assert len(state.positions) == 50
    assert state.positions_total == 80
    assert state.opportunities[0].expected_profit == max(
        o.expected_profit for o in engine_state(opportunities=500).opportunities
    )
    assert state.counters.publishes_dropped == 1
    assert len(msgspec.json.encode(state)) < 32 * 1024


@pytest.mark.parametrize("target", ["", "engine-1"])
async def test_targeted_and_broadcast_commands_reach_the_engine(
    transport: Transport, target: str
) -> None:
    engine_bus = await transport.bus("engine-1")
    dashboard = await transport.bus("dash")
    engine = FakeEngine()

    async def audit(entry: CommandAudit) -> None:
        del entry

    processor = CommandProcessor(
        engine,
        audit,
        engine_bus,
        authorize=lambda *_: True,
        bounds={},
        secret=COMMAND_SECRET,
    )
    commands_sub = engine_bus.subscribe([Channel.COMMANDS])
    acks = dashboard.subscribe([Channel.COMMAND_ACKS])
    assert await commands_sub.wait_ready()
    assert await acks.wait_ready()
    runner = asyncio.create_task(processor.run(commands_sub))
    await dashboard.publish(Channel.COMMANDS, command("resume", id="r1", target=target))
    (ack,) = await take(acks, 1)
    runner.cancel()
    assert isinstance(ack.data, CommandAck)
    assert ack.data.accepted
    assert engine.applied == [("resume", "alice@example.com")]


async def test_command_client_collects_each_engines_answer(transport: Transport) -> None:
    engines = [await transport.bus(name) for name in ("engine-a", "engine-b")]
    dashboard = await transport.bus("dash")
    handlers = [FakeEngine(), FakeEngine()]

    async def audit(entry: CommandAudit) -> None:
        del entry

    runners = []
    for bus, handler in zip(engines, handlers, strict=True):
        processor = CommandProcessor(
            handler,
            audit,
            bus,
            authorize=authorize_by_role(ROLES.get),
            bounds={},
            secret=COMMAND_SECRET,
        )
        sub = bus.subscribe([Channel.COMMANDS])
        assert await sub.wait_ready()
        runners.append(asyncio.create_task(processor.run(sub)))
    client = CommandClient(dashboard, secret=COMMAND_SECRET)
    await client.start()

    engage = new_command("kill_switch_engage", "alice@example.com", reason="drill")
    answers = await client.send(engage, expect=2, timeout_s=5)
    again = await client.send(engage, expect=2, timeout_s=5)  # a retry after a lost ack
    only_b = await client.send(
        new_command("pause", "alice@example.com", target="engine-b"), timeout_s=5
    )
    started = time.monotonic()
    unanswered = await client.send(
        new_command("pause", "alice@example.com", target="engine-z"), timeout_s=0.2
    )
    waited = time.monotonic() - started
    await client.close()
    for runner in runners:
        runner.cancel()

    assert sorted(answers) == ["engine-a", "engine-b"]
    assert all(a.accepted and not a.duplicate for a in answers.values())
    assert all(a.accepted and a.duplicate for a in again.values())
    assert sorted(again) == ["engine-a", "engine-b"]
    assert list(only_b) == ["engine-b"]
    assert unanswered == {}
    assert 0.15 < waited < 2
    assert handlers[0].applied == [("kill", "drill", "alice@example.com")]
    assert handlers[1].applied == [
        ("kill", "drill", "alice@example.com"),
        ("pause", "alice@example.com"),
    ]


def test_make_bus_picks_the_transport_from_the_settings() -> None:
    embedded = make_bus(None, "engine-1")
    assert isinstance(embedded, MemoryBus)
    assert embedded.instance_id == "engine-1"
    assert isinstance(make_bus("", ""), MemoryBus)
    assert make_bus(None, "").instance_id == f"{socket.gethostname()}-{os.getpid()}"
    assert isinstance(make_bus("redis://127.0.0.1:6379/0", "engine-1"), RedisBus)
    with pytest.raises(ConfigError, match=r"REDIS_URL must be .* \(got http://\*\*\*@h/0\)"):
        make_bus("http://:secret@h/0", "engine-1")


async def test_publish_nowait_serves_synchronous_engine_code(transport: Transport) -> None:
    engine = await transport.bus("engine-1")
    sub = engine.subscribe([Channel.TRADES])
    assert await sub.wait_ready()

    def on_fill() -> None:  # e.g. a synchronous callback inside the engine's tick
        engine.publish_nowait(Channel.TRADES, trade_event(1))
        engine.publish_nowait(Channel.TRADES, trade_event(2))

    asyncio.get_running_loop().call_soon(on_fill)
    received = await take(sub, 2)
    assert [e.seq for e in received] == [1, 2]
    assert received[1].data == trade_event(2)
