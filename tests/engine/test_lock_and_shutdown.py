"""One engine per account, clean shutdown on SIGTERM/SIGINT, and the effective configuration
logged at start with its secrets masked: ``polyarb run --venue sim`` as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from polyarb.config import load_settings
from polyarb.domain.errors import ConfigError
from polyarb.engine.lock import InstanceLock
from polyarb.engine.runner import run_engine

from .procs import EXIT_TIMEOUT_S, READY_TIMEOUT_S, SECRET, Engine, clean_env


async def test_a_second_engine_for_the_account_is_refused(tmp_path: Path) -> None:
    settings = load_settings(None, data_dir=tmp_path)
    with InstanceLock(tmp_path, "paper") as held:
        with pytest.raises(ConfigError) as refused:
            await run_engine(settings, venue="sim", duration_s=1.0)
        message = str(refused.value)
        assert str(held.path) in message
        assert "engine-paper.lock" in message
        assert f"pid {os.getpid()}" in message
        # Another account is another engine.
        with InstanceLock(tmp_path, "live-0xabc"):
            pass
    with InstanceLock(tmp_path, "paper"):  # released with its holder
        pass


async def test_sigterm_stops_cleanly_and_a_second_engine_is_refused(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data")
    first = await Engine.start(tmp_path, env, "--no-display", "--json")
    await first.wait_ready()

    second = await Engine.start(tmp_path, env, "--no-display")
    code2, out2, err2 = await second.finish(READY_TIMEOUT_S)
    assert code2 == 2
    errors = [line for line in err2.splitlines() if line.startswith("polyarb: error:")]
    assert len(errors) == 1
    assert "another engine already runs" in errors[0]
    assert str(tmp_path / "data" / "engine-paper.lock") in errors[0]
    assert "Traceback" not in err2
    assert out2 == ""

    # Another mode (another account) on the same DATA_DIR: refused at once, naming the engine.
    other = await Engine.start(tmp_path, dict(env, SUMTO100_PAPER_TRADING="false"), "--no-display")
    code3, out3, err3 = await other.finish(READY_TIMEOUT_S)
    assert code3 == 2, err3[-2000:]
    [refusal] = [line for line in err3.splitlines() if line.startswith("polyarb: error:")]
    assert f"DATA_DIR {tmp_path / 'data'} is in use by a running engine" in refusal
    assert f"(pid {first.proc.pid}, mode paper)" in refusal
    assert "Traceback" not in err3
    assert out3 == ""

    loop = asyncio.get_running_loop()
    started = loop.time()
    first.proc.send_signal(signal.SIGTERM)
    code, out, err = await first.finish()
    assert code == 0, err[-2000:]
    assert loop.time() - started < EXIT_TIMEOUT_S
    summary = json.loads(out)
    assert summary["frames"] > 0
    assert summary["markets"] > 0
    assert "Traceback" not in err
    # The effective configuration is logged at start, secrets masked.
    [configured] = [line for line in err.splitlines() if "engine configured" in line]
    assert "POLY_API_SECRET" in configured
    assert "********" in configured
    for text in (out, err, out2, err2):
        assert SECRET not in text


async def test_sigint_stops_cleanly_and_prints_the_summary(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data")
    engine = await Engine.start(tmp_path, env)  # the operator's way: live display on
    await engine.wait_ready()
    await asyncio.sleep(0.5)
    engine.proc.send_signal(signal.SIGINT)
    code, out, err = await engine.finish()
    assert code == 0, err[-2000:]
    assert "polyarb run summary" in out
    assert "realized P&L" in out
    assert "Traceback" not in err
    assert "KeyboardInterrupt" not in err
    assert SECRET not in out
    assert SECRET not in err
