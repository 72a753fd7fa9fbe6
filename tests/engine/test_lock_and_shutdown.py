"""One engine per account, clean shutdown on SIGTERM/SIGINT, and the effective configuration
logged at start with its secrets masked: ``polyarb run --venue sim`` as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from polyarb.config import KNOWN_PREFIXES, load_settings
from polyarb.domain.errors import ConfigError
from polyarb.engine.lock import InstanceLock
from polyarb.engine.runner import run_engine

SECRET = "s3cr3t-api-secret-never-logged"
READY_TIMEOUT_S = 45.0  # a cold interpreter on a loaded machine
EXIT_TIMEOUT_S = 10.0


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


def clean_env(data_dir: Path) -> dict[str, str]:
    """The parent's environment without any polyarb setting, plus a data dir and a secret."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(KNOWN_PREFIXES)}
    for name in ("DATA_DIR", "DRY_RUN", "REDIS_URL", "DATABASE_URL", "INSTANCE_ID"):
        env.pop(name, None)
    env.update(DATA_DIR=str(data_dir), POLY_API_SECRET=SECRET, PYTHONUNBUFFERED="1")
    return env


class Engine:
    """A ``polyarb run`` child process whose stderr is collected as it arrives."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.stderr: list[str] = []
        self.ready = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, cwd: Path, env: dict[str, str], *args: str) -> Engine:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "polyarb",
            "run",
            "--venue",
            "sim",
            *args,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=1 << 22,
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for line in self.proc.stderr:
            text = line.decode(errors="replace")
            self.stderr.append(text)
            if "feed_ready" in text:
                self.ready.set()

    async def wait_ready(self) -> None:
        # Ready, or the process ended (the assertion then shows why).
        waiters = {asyncio.create_task(self.ready.wait()), asyncio.create_task(self.proc.wait())}
        await asyncio.wait(waiters, timeout=READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        assert self.ready.is_set(), "engine not ready:\n" + "".join(self.stderr[-20:])

    async def finish(self) -> tuple[int, str, str]:
        assert self.proc.stdout is not None
        try:
            stdout = await asyncio.wait_for(self.proc.stdout.read(), EXIT_TIMEOUT_S)
            code = await asyncio.wait_for(self.proc.wait(), EXIT_TIMEOUT_S)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            pytest.fail("engine did not exit in time:\n" + "".join(self.stderr[-20:]))
        await self._reader
        return code, stdout.decode(), "".join(self.stderr)


async def test_sigterm_stops_cleanly_and_a_second_engine_is_refused(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data")
    first = await Engine.start(tmp_path, env, "--no-display", "--json")
    await first.wait_ready()

    second = await Engine.start(tmp_path, env, "--no-display")
    code2, out2, err2 = await second.finish()
    assert code2 == 2
    errors = [line for line in err2.splitlines() if line.startswith("polyarb: error:")]
    assert len(errors) == 1
    assert "another engine already runs" in errors[0]
    assert str(tmp_path / "data" / "engine-paper.lock") in errors[0]
    assert "Traceback" not in err2
    assert out2 == ""

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
