"""Crash recovery: SIGKILL at random moments, restart, and the books equal the paper journal.

Two harnesses:

* the store with the engine's write ordering (``crash_child.py``): ≥ 20 kill/restart cycles on
  SQLite and on PostgreSQL, then the database is compared with the journal (0 lost, 0 doubled)
  and positions and daily P&L with a recomputation from the journaled events;
* ``polyarb run --venue sim`` itself, killed and restarted the same way (needs the engine to keep
  its books in the store; skipped with that reason until it does).

``CRASH_CYCLES`` raises the number of cycles (longer bench mode).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from polyarb.domain.ledger import Ledger, Merge
from polyarb.domain.trading import Fill, Mode
from polyarb.execution.journal import read_journal
from polyarb.store import rebuild
from polyarb.store.recovery import NON_TERMINAL

from .helpers import rows

CHILD = Path(__file__).resolve().parent / "crash_child.py"
ROOT = Path(__file__).resolve().parents[2]
START = Decimal(10_000)
CYCLES = int(os.environ.get("CRASH_CYCLES", "20"))


@dataclass
class CrashRun:
    cycles: int = 0
    kills: int = 0
    recovery_s: list[float] = field(default_factory=list)
    inserted_from_journal: int = 0
    replayed_from_spool: int = 0
    closed_orders: int = 0


async def _start_child(
    url: str, data_dir: Path, seed: int, *extra: str
) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        url,
        str(data_dir),
        str(seed),
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )


async def _recovered_line(
    process: asyncio.subprocess.Process, timeout: float
) -> dict[str, object] | None:
    """The child's recovery report, or None when it was killed (or died) before recovering."""
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), timeout)
    except TimeoutError:
        return None
    if not line:
        return None
    report: dict[str, object] = json.loads(line)
    return report


def _check_report(report: dict[str, object], run: CrashRun) -> None:
    assert report["ok"] is True, report
    assert report["missing_from_journal"] == 0, report
    assert report["mismatched"] == 0, report
    run.recovery_s.append(float(str(report["recovery_s"])))
    run.inserted_from_journal += int(str(report["inserted"]))
    run.replayed_from_spool += int(str(report["replayed"]))
    run.closed_orders += int(str(report["closed_orders"]))


async def _crash_cycles(url: str, data_dir: Path, cycles: int, seed: int) -> CrashRun:
    rng = random.Random(seed)
    run = CrashRun()
    for cycle in range(cycles):
        process = await _start_child(url, data_dir, seed + cycle)
        try:
            if rng.random() < 0.25:
                # Killed during start-up or recovery (possibly mid-spool-replay or mid-reconcile).
                report = await _recovered_line(process, rng.uniform(0.3, 3.0))
            else:
                report = await _recovered_line(process, 60)
                assert report is not None, "the child did not recover"
                await asyncio.sleep(rng.uniform(0.1, 1.2))  # killed mid-trading
            if report is not None:
                _check_report(report, run)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
                run.kills += 1
            await process.wait()
        run.cycles += 1
    # A last start that only recovers, then stops cleanly.
    process = await _start_child(url, data_dir, seed, "--once")
    report = await _recovered_line(process, 60)
    assert await process.wait() == 0
    assert report is not None
    _check_report(report, run)
    return run


async def _assert_books_equal_journal(url: str, data_dir: Path) -> int:
    events = read_journal(data_dir / "paper-journal.jsonl").events
    journal_fills = {e.fill_id: e for e in events if isinstance(e, Fill)}
    journal_merges = {e.merge_id for e in events if isinstance(e, Merge)}
    db_fills = await rows(url, "fills")
    ids = [r["fill_id"] for r in db_fills]
    assert len(ids) == len(set(ids)), "duplicated fills"
    assert set(ids) == set(journal_fills), "fills lost or extra"
    for r in db_fills:
        f = journal_fills[r["fill_id"]]
        assert (r["price"], r["size"], r["fee"], r["side"], r["token_id"]) == (
            f.price,
            f.size,
            f.fee,
            f.side.value,
            f.token_id,
        )
    assert {r["merge_id"] for r in await rows(url, "merges")} == journal_merges
    truth = Ledger.replay(events, START)
    positions = {
        (r["strategy"], r["token_id"]): (r["size"], r["cost"]) for r in await rows(url, "positions")
    }
    assert positions == {(p.strategy, p.token_id): (p.shares, p.cost) for p in truth.positions()}
    _, expected = rebuild(events, Mode.PAPER, 0, starting_balance=START)
    daily = {
        (r["day"], r["strategy"]): (r["realized_pnl"], r["fees"])
        for r in await rows(url, "daily_pnl")
    }
    assert daily == {(d.day, d.strategy): (d.realized_pnl, d.fees) for d in expected.daily}
    open_orders = [r for r in await rows(url, "orders") if r["status"] in NON_TERMINAL]
    assert open_orders == [], "orders left open after recovery"
    return len(journal_fills)


def _report(name: str, run: CrashRun, fills: int) -> None:
    times = sorted(run.recovery_s)
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(
        f"\n{name}: {run.cycles} SIGKILL cycles ({run.kills} kills), {fills} fills journaled, "
        f"0 lost, 0 duplicated; {run.inserted_from_journal} events restored from the journal, "
        f"{run.replayed_from_spool} from the spool, {run.closed_orders} open orders closed; "
        f"recovery p50 {times[len(times) // 2]:.3f} s, p95 {p95:.3f} s, max {times[-1]:.3f} s"
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


async def test_store_recovers_from_sigkill_quick(db_url: str, data_dir: Path) -> None:
    run = await _crash_cycles(db_url, data_dir, cycles=2, seed=11)
    fills = await _assert_books_equal_journal(db_url, data_dir)
    assert fills > 0
    _report("crash (quick)", run, fills)


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_store_recovers_from_sigkill_cycles(db_url: str, data_dir: Path) -> None:
    run = await _crash_cycles(db_url, data_dir, cycles=CYCLES, seed=23)
    fills = await _assert_books_equal_journal(db_url, data_dir)
    assert run.cycles >= 20 or CYCLES < 20
    assert fills > 0
    _report(f"crash ({'sqlite' if db_url.startswith('sqlite') else 'postgres'})", run, fills)


# --- the engine itself ------------------------------------------------------------------------

RECONCILED = "paper journal reconciled"  # logged by Store.reconcile_paper
STORE_OPEN = "store open"  # logged by Store.open


async def _engine(data_dir: Path, url: str | None, *args: str) -> asyncio.subprocess.Process:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("POLY_", "RISK_", "SUMTO100_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        {
            "PYTHONPATH": str(ROOT / "src"),
            "DATA_DIR": str(data_dir),
            "LOG_FORMAT": "json",
            "DRY_RUN": "true",
            "SUMTO100_PAPER_TRADING": "true",
        }
    )
    if url is not None:
        env["DATABASE_URL"] = url
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "polyarb",
        "run",
        "--venue",
        "sim",
        "--no-display",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        cwd=data_dir,
        env=env,
    )


async def _log_event(
    process: asyncio.subprocess.Process, event: str, timeout: float
) -> dict[str, object] | None:
    """The first JSON log line whose ``event`` is ``event`` (None: not within ``timeout``)."""
    assert process.stderr is not None
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return None
        try:
            line = await asyncio.wait_for(process.stderr.readline(), remaining)
        except TimeoutError:
            return None
        if not line:
            return None
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and entry.get("event") == event:
            return entry


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_paper_engine_survives_sigkill(tmp_path: Path) -> None:
    """``polyarb run --venue sim`` paper-trades, is SIGKILLed at random moments and restarted;
    after each restart its reconciliation finds nothing lost or doubled, and at the end the
    database equals the paper journal (SQLite embedded default)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    probe = await _engine(data_dir, None, "--duration", "4")
    opened = await _log_event(probe, STORE_OPEN, 60)
    if probe.returncode is None:
        probe.send_signal(signal.SIGKILL)
    await probe.wait()
    if opened is None:
        pytest.skip(
            "polyarb run does not keep its books in the store yet: the engine must open "
            "polyarb.store.Store, reconcile_paper() with its journal at start, and submit "
            "fills/orders/merges with the ledger (see docs/store.md, 'Engine integration')"
        )
    url = f"sqlite+aiosqlite:///{data_dir / 'polyarb.db'}"
    rng = random.Random(31)
    run = CrashRun()
    for _ in range(CYCLES):
        started = time.perf_counter()
        process = await _engine(data_dir, None)
        try:
            if rng.random() < 0.25:
                report = await _log_event(process, RECONCILED, rng.uniform(0.5, 4.0))
            else:
                report = await _log_event(process, RECONCILED, 120)
                assert report is not None, "the engine did not recover"
                await asyncio.sleep(rng.uniform(0.5, 3.0))
            if report is not None:
                assert report["missing_from_journal"] == 0, report
                assert report["mismatched"] == 0, report
                run.recovery_s.append(time.perf_counter() - started)
                run.inserted_from_journal += int(str(report["inserted"]))
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
                run.kills += 1
            await process.wait()
        run.cycles += 1
    final = await _engine(data_dir, None, "--duration", "3")
    assert await _log_event(final, RECONCILED, 120) is not None
    assert await final.wait() == 0
    fills = await _assert_books_equal_journal(url, data_dir)
    if run.recovery_s:
        _report("engine crash (sqlite)", run, fills)
