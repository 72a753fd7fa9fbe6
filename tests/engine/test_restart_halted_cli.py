"""A restart into a state that stops trading says so: on the screen (stderr, as it starts), in
the summary, and (when recovery itself halted the engine) in the exit code."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.servers import RedisServer

from .procs import READY_TIMEOUT_S, Engine, clean_env, polyarb_ctl

SECRET = "restart-test-command-secret-0123"


async def stop(engine: Engine) -> tuple[int, str, str]:
    engine.proc.send_signal(signal.SIGTERM)
    return await engine.finish()


async def test_a_restart_into_the_persisted_kill_switch_says_so(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    env = clean_env(tmp_path / "data")
    env.update(REDIS_URL=own_redis.url(), COMMAND_SECRET=SECRET)
    first = await Engine.start(tmp_path, env, "--no-display", "--json")
    await first.wait_ready()
    try:
        code, out, err = await polyarb_ctl(
            tmp_path, env, "kill", "--reason", "drill", "--timeout", "10"
        )
        assert code == 0, err
        assert "kill accepted" in out
    finally:
        code, _out, err1 = await stop(first)
    assert code == 0, err1[-3000:]

    again = await Engine.start(tmp_path, env, "--no-display", "--json", "--duration", "1")
    code, out2, err2 = await again.finish(READY_TIMEOUT_S)
    assert code == 0, err2[-3000:]  # an operator's kill: the engine ran as told, halted
    [said] = [line for line in err2.splitlines() if "HALTED: the kill switch is engaged" in line]
    assert "by cli: drill" in said
    summary = json.loads(out2)
    [notice] = summary["notices"]
    assert notice.startswith("HALTED: the kill switch is engaged (persisted from an earlier run")
    assert "polyarb ctl clear" in notice
    assert summary["halted_by_recovery"] is False
    assert summary["fills"] == 0


async def test_a_restart_that_recovery_halts_exits_non_zero(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = clean_env(data)
    first = await Engine.start(tmp_path, env, "--no-display", "--json")
    await first.wait_ready()
    await first.wait_for("paper execution", timeout_s=30)  # fills in the journal and the store
    code, out1, err1 = await stop(first)
    assert code == 0, err1[-3000:]
    assert json.loads(out1)["fills"] > 0
    (data / "paper-journal.jsonl").unlink()  # the database now holds fills the journal lacks

    again = await Engine.start(tmp_path, env, "--no-display", "--duration", "1")
    code, out2, err2 = await again.finish(READY_TIMEOUT_S)
    assert code == 3, err2[-3000:]
    assert "Traceback" not in err2
    assert any("HALTED by recovery: recovery failed" in line for line in err2.splitlines())
    flowing = " ".join(out2.split())  # the console wraps long lines
    assert "! HALTED by recovery: recovery failed: " in flowing
    assert "event(s) in the database are not in the paper journal" in flowing
    assert "polyarb run summary" in out2
