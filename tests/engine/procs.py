"""``polyarb run --venue sim`` as a real child process, for the tests of what an operator sees."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from tests.envs import settings_free_env

SECRET = "s3cr3t-api-secret-never-logged"
READY_TIMEOUT_S = 45.0  # a cold interpreter on a loaded machine
EXIT_TIMEOUT_S = 10.0


def clean_env(data_dir: Path) -> dict[str, str]:
    """The parent's environment without any polyarb setting, plus a data dir and a secret."""
    env = settings_free_env("DATA_DIR", "DRY_RUN", "REDIS_URL", "DATABASE_URL", "INSTANCE_ID")
    # No fixed ports: tests run beside other engines (8080 and 8000 may be taken), and these tests
    # watch the engine, not its health server or dashboard (tested in tests/cli and tests/api).
    env.update(
        DATA_DIR=str(data_dir),
        POLY_API_SECRET=SECRET,
        PYTHONUNBUFFERED="1",
        HEALTH_PORT="0",
        API_ENABLED="false",
    )
    return env


async def polyarb_process(cwd: Path, env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    """``polyarb ARGS`` in a child process, stdout and stderr piped."""
    return await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "polyarb", *args),
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=1 << 22,
    )


async def polyarb_ctl(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """``polyarb ctl ARGS`` to its end: (exit code, stdout, stderr)."""
    proc = await polyarb_process(cwd, env, "ctl", *args)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


class Engine:
    """A ``polyarb run`` child process whose stderr is collected as it arrives."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.stderr: list[str] = []
        self.ready = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, cwd: Path, env: dict[str, str], *args: str) -> Engine:
        proc = await polyarb_process(cwd, env, "run", "--venue", "sim", *args)
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

    async def wait_for(self, text: str, *, after: int = 0, timeout_s: float = 20.0) -> int:
        """Wait until a stderr line (from line ``after`` on) contains ``text``; its index."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            for index in range(after, len(self.stderr)):
                if text in self.stderr[index]:
                    return index
            if self.proc.returncode is not None:
                break
            await asyncio.sleep(0.05)
        pytest.fail(f"no {text!r} in the engine's stderr:\n" + "".join(self.stderr[-20:]))

    async def finish(self, timeout_s: float = EXIT_TIMEOUT_S) -> tuple[int, str, str]:
        """Wait for the exit; ``timeout_s`` (each for stdout's end and the exit) must cover the
        start too when the engine was not waited ready (a cold interpreter on a loaded machine)."""
        assert self.proc.stdout is not None
        try:
            stdout = await asyncio.wait_for(self.proc.stdout.read(), timeout_s)
            code = await asyncio.wait_for(self.proc.wait(), timeout_s)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            pytest.fail("engine did not exit in time:\n" + "".join(self.stderr[-20:]))
        await self._reader
        return code, stdout.decode(), "".join(self.stderr)
