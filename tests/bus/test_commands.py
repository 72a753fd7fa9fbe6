"""CommandProcessor rules, one at a time (the bus round trip is in test_bus.py)."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import msgspec
import pytest

from polyarb.bus import (
    Channel,
    Command,
    CommandAck,
    CommandAudit,
    CommandProcessor,
    MemoryBus,
    ParamBounds,
    authorize_by_role,
)
from polyarb.bus.commands import effective_role
from polyarb.bus.signing import verify
from polyarb.domain.errors import Rejected

from .helpers import COMMAND_SECRET, ROLES, FakeEngine, command, take

BOUNDS = {
    "sumto100": {
        "min_edge": ParamBounds(Decimal(0), Decimal("0.1")),
        "cooldown_ms": ParamBounds(Decimal(0), Decimal(60_000), kind="int"),
        "dry": ParamBounds(kind="bool"),
    },
    "clipper": {},
}


class Clock:
    def __init__(self) -> None:
        self.now = time.time_ns()

    def __call__(self) -> int:
        return self.now


def processor(
    engine: FakeEngine | None = None,
    *,
    audited: list[CommandAudit] | None = None,
    clock: Clock | None = None,
    authorize: object = None,
) -> tuple[CommandProcessor, MemoryBus, FakeEngine]:
    bus = MemoryBus("engine-1")
    engine = engine or FakeEngine()
    log = audited if audited is not None else []

    async def audit(entry: CommandAudit) -> None:
        log.append(entry)

    proc = CommandProcessor(
        engine,
        audit,
        bus,
        authorize=authorize or authorize_by_role(ROLES.get),  # type: ignore[arg-type]
        bounds=BOUNDS,
        secret=COMMAND_SECRET,
        max_age_s=60,
        clock=clock or time.time_ns,
    )
    return proc, bus, engine


@pytest.mark.parametrize(
    ("param", "value", "applied"),
    [
        ("min_edge", "0.1", "0.1"),
        ("min_edge", "0", "0"),
        ("cooldown_ms", "1500", "1500"),
        ("dry", "TRUE", "True"),
        ("dry", "false", "False"),
    ],
)
async def test_parameter_within_bounds_is_applied_as_its_type(
    param: str, value: str, applied: str
) -> None:
    proc, _, engine = processor()
    ack = await proc.handle(
        command("strategy_set_param", strategy="sumto100", param=param, value=value)
    )
    assert ack is not None
    assert ack.accepted, ack.reason
    assert engine.applied == [("set", "sumto100", param, applied)]


@pytest.mark.parametrize(
    ("param", "value", "reason"),
    [
        ("min_edge", "0.1000001", "out of bounds: min_edge 0.1000001 is outside [0, 0.1]"),
        ("min_edge", "-0.01", "out of bounds: min_edge -0.01 is outside [0, 0.1]"),
        ("min_edge", "NaN", "out of bounds: min_edge expected a plain decimal number, got 'NaN'"),
        ("min_edge", "1e-3", "expected a plain decimal number"),
        ("min_edge", "Infinity", "expected a plain decimal number"),
        ("min_edge", "9" * 40, "expected a plain decimal number"),
        ("cooldown_ms", "1.5", "out of bounds: cooldown_ms expected a whole number, got 1.5"),
        ("cooldown_ms", "60001", "is outside [0, 60000]"),
        ("dry", "yes", "expected true or false"),
        ("max_edge", "0.01", "unknown parameter 'max_edge' of sumto100"),
    ],
)
async def test_parameter_outside_its_bounds_is_rejected(
    param: str, value: str, reason: str
) -> None:
    proc, _, engine = processor()
    ack = await proc.handle(
        command("strategy_set_param", strategy="sumto100", param=param, value=value)
    )
    assert ack is not None
    assert not ack.accepted
    assert reason in ack.reason
    assert engine.applied == []


@pytest.mark.parametrize(
    ("action", "fields", "reason"),
    [
        ("pause", {"id": ""}, "malformed: id must be 1 to 128 characters"),
        ("pause", {"id": "x" * 129}, "malformed: id must be 1 to 128 characters"),
        ("pause", {"actor": ""}, "malformed: missing actor"),
        ("PAUSE", {}, "malformed: unknown action 'PAUSE'"),
        ("strategy_enable", {}, "malformed: strategy_enable needs a strategy"),
        (
            "strategy_set_param",
            {"strategy": "sumto100", "param": "min_edge"},
            "malformed: strategy_set_param needs param and value",
        ),
        ("pause", {"actor": "mallory@example.com"}, "unauthorized: 'mallory@example.com'"),
        ("kill_switch_clear", {}, "unauthorized: 'alice@example.com' may not"),
        ("strategy_enable", {"strategy": "sniper"}, "unknown strategy 'sniper'"),
        ("pause", {"sent_ns": 0}, "expired"),
    ],
)
async def test_bad_commands_are_rejected_with_a_reason_and_never_applied(
    action: str, fields: dict[str, object], reason: str
) -> None:
    # Built here, not at collection: a command stamped then may have expired by the time it runs.
    cmd = command(action, **fields)  # type: ignore[arg-type]
    audited: list[CommandAudit] = []
    proc, bus, engine = processor(audited=audited)
    acks = bus.subscribe([Channel.COMMAND_ACKS])
    ack = await proc.handle(cmd)
    assert ack is not None
    assert not ack.accepted
    assert ack.reason.startswith(reason)
    assert engine.applied == []
    assert [a.accepted for a in audited] == [False]
    (published,) = await take(acks, 1)
    assert published.data == ack


async def test_old_commands_expire_and_ids_are_remembered_past_that() -> None:
    clock = Clock()
    proc, _, engine = processor(clock=clock)
    sent = clock.now
    first = await proc.handle(command("pause", id="p1", sent_ns=sent))
    assert first is not None
    assert first.accepted
    clock.now += int(61e9)
    late = await proc.handle(command("pause", id="p2", sent_ns=sent))
    assert late is not None
    assert late.reason.startswith("expired")
    # A sender whose clock runs 59 s ahead: accepted now, repeated ~2 minutes later.
    ahead = await proc.handle(command("resume", id="p3", sent_ns=clock.now + int(59e9)))
    assert ahead is not None
    assert ahead.accepted
    clock.now += int(118e9)
    repeat = await proc.handle(command("resume", id="p3", sent_ns=clock.now - int(59e9)))
    assert repeat is not None
    assert repeat.duplicate
    assert engine.applied == [("pause", "alice@example.com"), ("resume", "alice@example.com")]


async def test_duplicate_gets_the_original_answer_even_when_it_was_a_rejection() -> None:
    audited: list[CommandAudit] = []
    proc, _, engine = processor(audited=audited)
    first = await proc.handle(command("kill_switch_clear", id="k1"))
    again = await proc.handle(command("kill_switch_clear", id="k1", actor="root@example.com"))
    assert first is not None
    assert again is not None
    assert not first.accepted
    assert not again.accepted
    assert again.duplicate
    assert again.reason == first.reason
    assert engine.applied == []
    assert len(audited) == 1


async def test_engine_refusal_and_engine_error_are_reported_not_raised() -> None:
    class Refusing(FakeEngine):
        async def pause(self, actor: str) -> None:
            raise Rejected("already stopping")

        async def resume(self, actor: str) -> None:
            raise RuntimeError("boom")

    proc, _, _ = processor(Refusing())
    refused = await proc.handle(command("pause", id="a"))
    broken = await proc.handle(command("resume", id="b"))
    assert refused is not None
    assert broken is not None
    assert (refused.accepted, refused.reason) == (False, "refused: already stopping")
    assert (broken.accepted, broken.reason) == (False, "engine error: RuntimeError")
    assert proc.stats.rejected == 2


async def test_a_failing_audit_is_counted_and_the_command_still_answered() -> None:
    bus = MemoryBus("engine-1")
    engine = FakeEngine()

    async def audit(entry: CommandAudit) -> None:
        raise ConnectionError("database down")

    proc = CommandProcessor(
        engine, audit, bus, authorize=lambda *_: True, bounds={}, secret=COMMAND_SECRET
    )
    ack = await proc.handle(command("kill_switch_engage", reason="spread blew out"))
    assert ack is not None
    assert ack.accepted
    assert engine.applied == [("kill", "spread blew out", "alice@example.com")]
    assert proc.stats.audit_failures == 1


async def test_a_broken_authorizer_allows_nothing() -> None:
    def authorize(actor: str, action: str, vouched: str) -> bool:
        raise KeyError(actor)

    proc, _, engine = processor(authorize=authorize)
    ack = await proc.handle(command("pause"))
    assert ack is not None
    assert ack.reason.startswith("unauthorized")
    assert engine.applied == []


async def test_command_for_another_engine_is_ignored_silently() -> None:
    proc, bus, engine = processor()
    acks = bus.subscribe([Channel.COMMAND_ACKS])
    assert await proc.handle(command("pause", target="engine-9")) is None
    assert engine.applied == []
    assert acks.stats.received == 0
    assert proc.stats.ignored == 1


def test_roles() -> None:
    authorize = authorize_by_role(ROLES.get)
    assert authorize("alice@example.com", "kill_switch_engage")
    assert not authorize("alice@example.com", "kill_switch_clear")
    assert authorize("root@example.com", "kill_switch_clear")
    assert not authorize("eve@example.com", "pause")
    assert not authorize("nobody@example.com", "pause")
    assert not authorize("root@example.com", "launch")


def test_a_vouched_role_counts_but_never_above_the_engines_own() -> None:
    assert effective_role(None, "admin") == "admin"  # a dashboard user the lists do not name
    assert effective_role("operator", "admin") == "operator"  # the engine's list narrows it
    assert effective_role("admin", "viewer") == "viewer"  # and so does the dashboard
    assert effective_role("admin", "") == "admin"  # `polyarb ctl`: no claim
    assert effective_role(None, "") is None
    authorize = authorize_by_role(ROLES.get)
    assert authorize("dana@example.com", "kill_switch_clear", "admin")
    assert not authorize("dana@example.com", "kill_switch_clear", "operator")
    assert not authorize("alice@example.com", "kill_switch_clear", "admin")
    assert not authorize("eve@example.com", "pause", "admin")


async def test_the_vouched_role_is_signed_and_checked_by_the_engine() -> None:
    proc, _, engine = processor()
    dana = {"actor": "dana@example.com"}  # not in the engine's lists
    ack = await proc.handle(command("kill_switch_clear", id="c1", role="admin", **dana))
    assert ack is not None
    assert ack.accepted, ack.reason
    assert engine.applied[-1][0] == "clear"
    viewer = await proc.handle(command("pause", id="c2", role="viewer", **dana))
    assert viewer is not None
    assert viewer.reason == "unauthorized: 'dana@example.com' (vouched role viewer) may not pause"
    bogus = await proc.handle(command("pause", id="c3", role="root", **dana))
    assert bogus is not None
    assert bogus.reason == "malformed: unknown role 'root'"
    # Raising the role after signing breaks the signature: only a key holder can vouch.
    signed = command("kill_switch_clear", id="c4", role="operator", **dana)
    forged = msgspec.structs.replace(signed, role="admin")
    refused = await proc.handle(forged)
    assert refused is not None
    assert refused.reason.startswith("unauthenticated: bad signature")
    assert [a[0] for a in engine.applied] == ["clear"]


async def test_processor_loop_survives_garbage_and_keeps_answering() -> None:
    proc, bus, engine = processor()
    sub = bus.subscribe([Channel.COMMANDS])
    acks = bus.subscribe([Channel.COMMAND_ACKS])
    sub.offer_raw(b"{not json")
    await bus.publish(Channel.COMMANDS, command("pause", id="ok-1"))
    runner = asyncio.create_task(proc.run(sub))
    (ack,) = await take(acks, 1)
    runner.cancel()
    assert isinstance(ack.data, CommandAck)
    assert ack.data.accepted
    assert sub.stats.malformed == 1
    assert engine.applied == [("pause", "alice@example.com")]


async def test_a_synchronous_handler_works_too() -> None:
    class SyncEngine(FakeEngine):
        def pause(self, actor: str) -> None:  # type: ignore[override]
            self.applied.append(("sync-pause", actor))

        def set_strategy_enabled(self, strategy: str, enabled: bool, actor: str) -> None:  # type: ignore[override]
            raise Rejected(f"{strategy} is mid-execution")

    proc, _, engine = processor(SyncEngine())
    paused = await proc.handle(command("pause", id="s1"))
    refused = await proc.handle(command("strategy_disable", id="s2", strategy="clipper"))
    assert paused is not None
    assert paused.accepted
    assert refused is not None
    assert refused.reason == "refused: clipper is mid-execution"
    assert engine.applied == [("sync-pause", "alice@example.com")]


async def test_only_commands_signed_with_the_engines_secret_are_applied() -> None:
    audited: list[CommandAudit] = []
    proc, _, engine = processor(audited=audited)
    unsigned = await proc.handle(command("pause", id="u1", secret=None))
    other_key = await proc.handle(command("pause", id="u2", secret=b"someone-elses-secret-key"))
    # Signed as alice (an operator), the actor then changed to an admin's: the signature breaks.
    forged = msgspec.structs.replace(
        command("kill_switch_clear", id="u3"), actor="root@example.com"
    )
    altered = msgspec.structs.replace(command("kill_switch_engage", id="u4"), reason="other")
    answers = [unsigned, other_key, await proc.handle(forged), await proc.handle(altered)]
    reasons = [ack.reason for ack in answers if ack is not None]
    assert len(reasons) == 4
    assert not any(ack.accepted for ack in answers if ack is not None)
    assert "not signed" in reasons[0]
    assert all("bad signature" in reason for reason in reasons[1:])
    assert all(reason.startswith("unauthenticated") for reason in reasons)
    assert engine.applied == []
    assert [entry.accepted for entry in audited] == [False] * 4  # refusals are audited too
    good = await proc.handle(command("pause", id="u5"))
    assert good is not None
    assert good.accepted
    assert engine.applied == [("pause", "alice@example.com")]


async def test_an_engine_without_a_secret_accepts_no_command() -> None:
    bus = MemoryBus("engine-1")
    engine = FakeEngine()

    async def audit(entry: CommandAudit) -> None:
        del entry

    proc = CommandProcessor(engine, audit, bus, authorize=lambda *_: True, bounds={}, secret=None)
    ack = await proc.handle(command("pause", id="n1"))
    assert ack is not None
    assert not ack.accepted
    assert "no COMMAND_SECRET" in ack.reason
    assert engine.applied == []


def test_the_signature_covers_every_field() -> None:
    base = command("strategy_set_param", strategy="sumto100", param="min_edge", value="0.01")
    changes: dict[str, object] = {
        "id": "other",
        "actor": "mallory",
        "sent_ns": base.sent_ns + 1,
        "action": "strategy_enable",
        "strategy": "clipper",
        "param": "max_position",
        "value": "0.02",
        "reason": "because",
        "target": "engine-9",
        "role": "admin",
    }
    assert set(changes) | {"signature"} == set(Command.__struct_fields__)
    for name, value in changes.items():
        changed = msgspec.structs.replace(base, **{name: value})
        assert verify(changed, COMMAND_SECRET) is not None, name
    assert verify(base, COMMAND_SECRET) is None
