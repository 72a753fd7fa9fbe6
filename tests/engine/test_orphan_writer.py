"""``kill -9`` of a running engine: its store writer process notices the engine is gone, writes
what it had, and exits quietly (one line, no traceback); the next start recovers everything."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from .procs import Engine, clean_env

ORPHAN_EXIT_S = 20.0


async def test_the_orphaned_writer_flushes_and_exits_quietly(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "data")
    engine = await Engine.start(tmp_path, env, "--no-display")
    await engine.wait_ready()
    await asyncio.sleep(1.0)  # records in flight to the writer
    engine.proc.send_signal(signal.SIGKILL)
    await engine.proc.wait()
    # The writer shares the engine's stderr: the pipe closes when the writer has exited too.
    assert engine.proc.stderr is not None
    await asyncio.wait_for(engine._reader, ORPHAN_EXIT_S)
    err = "".join(engine.stderr)
    writer_lines = [line for line in err.splitlines() if "store-writer" in line]
    assert "Traceback" not in err, err[-4000:]
    assert "BrokenPipeError" not in err
    [gone] = [line for line in writer_lines if "engine gone" in line]
    assert "records_written=" in gone
    # The next engine starts at once (the spool is free) and recovers what was written.
    again = await Engine.start(tmp_path, env, "--no-display", "--duration", "5", "--json")
    await again.wait_ready()
    code, _out, err2 = await again.finish()
    assert code == 0, err2[-3000:]
    assert "Traceback" not in err2
