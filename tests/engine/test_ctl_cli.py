"""`polyarb ctl` against a real engine over a Redis of the test's own: commands are signed with
COMMAND_SECRET and the engine refuses the rest saying why; an unreachable Redis is said at once,
by `polyarb ctl` and by the engine (at start, when it goes and when it comes back)."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

from tests.servers import RedisServer

from polyarb.bus import CommandAck, CommandClient, make_bus, new_command
from polyarb.bus.signing import embedded_secret
from polyarb.config import load_settings
from polyarb.engine.runner import command_secret

from .procs import Engine, clean_env, polyarb_ctl

SECRET = "the-operators-command-secret-0123"


async def send_unsigned(redis_url: str) -> dict[str, CommandAck]:
    bus = make_bus(redis_url, "intruder")
    await bus.start()
    client = CommandClient(bus, secret=None)
    await client.start()
    try:
        return await client.send(new_command("kill_switch_engage", "cli"), timeout_s=10)
    finally:
        await client.close()
        await bus.close()


async def test_only_signed_commands_reach_the_engine(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    env = clean_env(tmp_path / "data")
    env.update(REDIS_URL=own_redis.url(), COMMAND_SECRET=SECRET, INSTANCE_ID="engine-1")
    engine = await Engine.start(tmp_path, env, "--no-display", "--json")
    await engine.wait_ready()
    try:
        outsider = dict(env, COMMAND_SECRET="not-the-engines-secret-xyz")
        unsigned_env = {k: v for k, v in env.items() if k != "COMMAND_SECRET"}
        signed, forged, unsigned, raw = await asyncio.gather(
            # Signed with the shared secret: applied.
            polyarb_ctl(tmp_path, env, "pause", "--timeout", "10"),
            # Another key (an outsider with a forged "admin" actor): refused, saying why.
            polyarb_ctl(
                tmp_path, outsider, "kill", "--actor", "cli", "--reason", "x", "--timeout", "10"
            ),
            # No secret at all: the CLI refuses to send an unsigned command.
            polyarb_ctl(tmp_path, unsigned_env, "kill", "--timeout", "10"),
            # An unsigned command published straight on Redis.
            send_unsigned(own_redis.url()),
        )
        assert signed[0] == 0, signed[2]
        assert signed[1].strip() == "engine-1: pause accepted"
        assert forged[0] == 1, forged[2]
        assert "REFUSED: unauthenticated: bad signature" in forged[1]
        assert unsigned[0] == 2
        assert unsigned[2].startswith("polyarb: error: COMMAND_SECRET is not set")
        assert not raw["engine-1"].accepted
        assert "not signed" in raw["engine-1"].reason
    finally:
        engine.proc.send_signal(signal.SIGTERM)
        code, out, err = await engine.finish()
    assert code == 0, err[-3000:]
    summary = json.loads(out)
    assert summary["halted_by_recovery"] is False
    assert "kill switch engaged" not in err  # no refused command was applied
    assert SECRET not in out + err


def test_the_engines_command_key(tmp_path: Path) -> None:
    configured = load_settings(None, data_dir=tmp_path, command_secret=SECRET)
    assert command_secret(configured) == SECRET.encode()
    # In process: a per-run key, the same for every sender of this process.
    embedded = load_settings(None, data_dir=tmp_path)
    assert command_secret(embedded) == embedded_secret()
    assert len(embedded_secret()) == 32
    # Over Redis without a secret: no key, so every command is refused.
    assert command_secret(load_settings(None, redis_url="redis://127.0.0.1:1/0")) is None


async def test_ctl_says_redis_unreachable_at_once(tmp_path: Path, own_redis: RedisServer) -> None:
    own_redis.shutdown_nosave()  # its port: nobody listens there now
    env = clean_env(tmp_path / "data")
    env.update(REDIS_URL=own_redis.url(), COMMAND_SECRET=SECRET)
    started = time.monotonic()
    code, out, err = await polyarb_ctl(tmp_path, env, "pause", "--timeout", "9.5")
    took = time.monotonic() - started
    assert code == 2
    [line] = err.splitlines()
    assert line.startswith("polyarb: error: Redis unreachable at redis://127.0.0.1:")
    assert "not sent" in line
    assert out == ""
    assert took < 8.0  # the interpreter's start plus a 1 s connect timeout, not the 9.5 s wait


async def test_the_engine_says_when_redis_goes_and_comes_back(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    own_redis.shutdown_nosave()
    env = clean_env(tmp_path / "data")
    env.update(REDIS_URL=own_redis.url())  # and no COMMAND_SECRET: commands refused, said so
    engine = await Engine.start(tmp_path, env, "--no-display", "--json")
    await engine.wait_for("COMMAND_SECRET is not set: every command over Redis is refused")
    at_start = await engine.wait_for("Redis unreachable at start", timeout_s=45)
    await engine.wait_ready()
    own_redis.start()
    back = await engine.wait_for("Redis back", after=at_start)
    own_redis.shutdown_nosave()
    down = await engine.wait_for("Redis unreachable", after=back + 1)
    assert "Redis unreachable at start" not in engine.stderr[down]
    engine.proc.send_signal(signal.SIGTERM)
    code, out, err = await engine.finish()
    assert code == 0, err[-3000:]
    assert "Traceback" not in err
    summary = json.loads(out)
    [notice] = summary["notices"]
    assert notice.startswith(f"Redis redis://127.0.0.1:{own_redis.port}/0 unreachable 2 time(s)")
    assert "still unreachable" in notice
