"""Crash recovery: SIGKILL at random moments, restart, and the books equal the paper journal.

Two harnesses:

* the store with the engine's write ordering (``crash_child.py``): ≥ 20 kill/restart cycles on
  SQLite and on PostgreSQL, then the database is compared with the journal (0 lost, 0 doubled)
  and positions and daily P&L with a recomputation from the journaled events;
* ``polyarb run --venue sim`` itself, killed inside executions (before the journal write, between
  the journal and the database, after a merge or lock) and during start-up, then restarted; each
  restart must copy from the journal exactly what the database lacked.

``CRASH_CYCLES`` raises the number of cycles (longer bench mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from polyarb.execution.journal import read_journal
from polyarb.store.recovery import NON_TERMINAL

from .helpers import execute, rows
from .ledger_oracle import books_from_journal, events_in_journal

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
    assert report["corrected_rows"] == 0, report  # a crash alone never damages ledger rows
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
    """Database == journal (0 lost, 0 doubled); positions, locked sets and daily P&L == the
    oracle's recomputation from the raw journal (tests/store/ledger_oracle.py)."""
    journal_path = data_dir / "paper-journal.jsonl"
    journal = events_in_journal(journal_path)
    journal_fills = {k: e for k, e in journal.items() if e["kind"] == "fill"}
    db_fills = await rows(url, "fills")
    ids = [r["fill_id"] for r in db_fills]
    assert len(ids) == len(set(ids)), "duplicated fills"
    assert set(ids) == set(journal_fills), "fills lost or extra"
    for r in db_fills:
        f = journal_fills[r["fill_id"]]
        assert (r["price"], r["size"], r["fee"], r["side"], r["token_id"]) == (
            Decimal(f["price"]),
            Decimal(f["size"]),
            Decimal(f["fee"]),
            f["side"],
            f["token_id"],
        )
    journal_merges = {k for k, e in journal.items() if e["kind"] == "merge"}
    assert {r["merge_id"] for r in await rows(url, "merges")} == journal_merges

    books = books_from_journal(journal_path)
    positions = {
        (r["strategy"], r["token_id"]): (Fraction(r["size"]), Fraction(r["cost"]))
        for r in await rows(url, "positions")
    }
    assert positions == {k: (v[0], v[1]) for k, v in books.positions.items()}
    locked = {
        r["lock_id"]: (Fraction(r["qty"]), Fraction(r["cost"]))
        for r in await rows(url, "locked_sets")
    }
    assert locked == {k: (v[2], v[3]) for k, v in books.locked.items()}
    daily = {
        (r["day"], r["strategy"]): (Fraction(r["realized_pnl"]), Fraction(r["fees"]))
        for r in await rows(url, "daily_pnl")
    }
    assert daily == books.daily
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
#
# ``polyarb run --venue sim`` restarts the embedded simulator at scenario second 0 each time; the
# demo scenario opens a negRisk window at second 4 (bought, then locked as a set) and a binary
# one at second 8 (a torn view: a binary market is one book, never traded), and logs
# ``sim_window_open`` as it opens each; other traders are kept off the windows
# (SIM_TAKER_MEDIAN_MS=0) and the latency is constant, so every negRisk window is traded. The
# engine executes a window's signal at once, waits PAPER_LATENCY_MS, journals the
# fills and the merge/lock (fsync), applies them to the ledger, logs ``paper execution``, and only
# then hands the records to the store's writer. Kill moments are picked from those two log lines.

RECONCILED = "paper journal reconciled"  # logged by Store.reconcile_paper
STORE_OPEN = "store open"  # logged by Store.open
WINDOW_OPEN = "sim_window_open"  # logged by the simulator as a window opens
EXECUTED = "paper execution"  # logged by PaperExecution after journaling an execution
LATENCY_MS = 400
ENGINE_ENV = {
    "PAPER_LATENCY_MS": str(LATENCY_MS),
    "PAPER_LATENCY_SIGMA": "0",  # kill moments are picked inside the latency
    "SIM_TAKER_MEDIAN_MS": "0",  # nobody else takes the windows: each one is traded
    # Twenty restarts repeat the same windows: keep the limits out of the way of trading.
    "RISK_MAX_POSITION": "100000",
    "RISK_MAX_NOTIONAL": "1000000",
    "RISK_MAX_EXPOSURE": "1000000",
    "RISK_MAX_DAILY_LOSS": "1000000",
}


@dataclass(frozen=True)
class KillPlan:
    """When to SIGKILL: ``in_flight`` while a window's execution waits out the latency (before
    its journal write); ``journaled`` on the execution's log line, its writer process frozen
    since the window opened (fills and merge or lock journaled, none of it in the database: a
    kill that takes the writer too, as a machine crash would); ``startup`` as the store opens
    (before reconciliation)."""

    moment: str
    window: str = ""  # "negrisk" (fills + lock); binary windows are torn views, never traded


PLANS = (
    KillPlan("in_flight", "negrisk"),
    KillPlan("journaled", "negrisk"),
    KillPlan("journaled", "negrisk"),
    KillPlan("in_flight", "negrisk"),
    KillPlan("startup"),
    KillPlan("journaled", "negrisk"),
    KillPlan("in_flight", "negrisk"),
    KillPlan("startup"),
)
# Each cycle costs a process start plus 4 s of scenario time (the first negRisk window).
ENGINE_CYCLES = max(len(PLANS), int(os.environ.get("ENGINE_CRASH_CYCLES", "0")))


@dataclass
class EngineCrashRun:
    cycles: int = 0
    killed_before_journal: int = 0  # an execution was in flight, nothing of it journaled
    killed_after_journal: int = 0  # the execution was journaled, the database lacked it
    killed_in_startup: int = 0
    repaired_cycles: int = 0  # restarts whose reconciliation copied events from the journal
    repaired_events: int = 0
    repaired_merges: int = 0  # merges/locks among them
    pending: tuple[set[str], set[str]] = (set(), set())  # journaled, not in the database
    journaled_fills: int = 0
    recovery_s: list[float] = field(default_factory=list)


class EngineProcess:
    """``polyarb run`` as a child with JSON logs; every line read is kept in ``entries``."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.entries: list[dict[str, object]] = []
        self.held: list[int] = []  # writer processes frozen by hold_writer

    async def until(self, event: str, timeout: float, **match: object) -> dict[str, object] | None:
        """The next log entry of ``event`` (whose fields equal ``match``); None: not in time."""
        stderr = self.process.stderr
        assert stderr is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (remaining := deadline - loop.time()) > 0:
            try:
                line = await asyncio.wait_for(stderr.readline(), remaining)
            except TimeoutError:
                return None
            if not line:
                return None
            entry = self._parse(line)
            if (
                entry is not None
                and entry.get("event") == event
                and all(entry.get(k) == v for k, v in match.items())
            ):
                return entry
        return None

    def _parse(self, line: bytes) -> dict[str, object] | None:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            return None
        if not isinstance(entry, dict):
            return None
        self.entries.append(entry)
        return entry

    def writer_children(self) -> list[int]:
        """The store's writer process(es): they outlive a SIGKILLed engine to drain the pipe."""
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.process.pid:  # state, ppid, ...
                    children.append(int(stat.parent.name))
        return children

    async def finish(self) -> int:
        """Read the rest of its log until it exits by itself; its exit code."""
        assert self.process.stderr is not None
        for line in (await self.process.stderr.read()).splitlines():
            self._parse(line)
        return await self.process.wait()

    def hold_writer(self) -> None:
        """Freeze the store's writer process (SIGSTOP): from now on nothing reaches the database,
        while the engine trades and journals on. ``kill`` then kills it with the engine."""
        self.held = self.writer_children()
        assert self.held, "no writer process found"
        for pid in self.held:
            os.kill(pid, signal.SIGSTOP)

    async def kill(self) -> None:
        """SIGKILL (with a held writer), then read what it had logged, and wait for its writer
        to finish draining the pipe (or to die, when held)."""
        children = self.writer_children()
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
        for pid in self.held:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert self.process.stderr is not None
        for line in (await self.process.stderr.read()).splitlines():
            self._parse(line)
        await self.process.wait()
        for child in children:
            await _gone(child)


async def _gone(pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists():
        stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}").exists() else ""
        if ") Z " in stat:  # a zombie: it finished, its parent (gone) cannot reap it
            return
        assert time.monotonic() < deadline, f"writer process {pid} still running"
        await asyncio.sleep(0.02)


def _ts_ns(entry: dict[str, object]) -> int:
    """A log entry's timestamp (ISO, microseconds, UTC) as unix ns."""
    text = str(entry["timestamp"]).replace("Z", "+00:00")
    moment = datetime.fromisoformat(text)
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


async def _engine(data_dir: Path, *args: str) -> EngineProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("POLY_", "RISK_", "SUMTO100_", "NEGRISK_", "PAPER_", "DATABASE_URL", "REDIS_URL")
        )
    }
    env.update(
        {
            "PYTHONPATH": str(ROOT / "src"),
            "DATA_DIR": str(data_dir),
            "LOG_FORMAT": "json",
            "DRY_RUN": "true",
            "SUMTO100_PAPER_TRADING": "true",
            **ENGINE_ENV,
        }
    )
    process = await asyncio.create_subprocess_exec(
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
    return EngineProcess(process)


async def _stored_ids(url: str) -> tuple[set[str], set[str]]:
    fills = {r["fill_id"] for r in await rows(url, "fills")}
    merges = {r["merge_id"] for r in await rows(url, "merges")}
    return fills, merges


def _journal_ids(data_dir: Path) -> tuple[set[str], set[str]]:
    path = data_dir / "paper-journal.jsonl"
    if not path.exists():
        return set(), set()
    contents = read_journal(path)
    return {f.fill_id for f in contents.fills}, {m.merge_id for m in contents.merges}


async def _one_cycle(
    data_dir: Path, url: str, plan: KillPlan, rng: random.Random, run: EngineCrashRun
) -> None:
    """Start; the reconciliation must copy exactly what the database lacked; kill at the plan's
    moment; classify what the kill cut."""
    journal_before, _ = _journal_ids(data_dir)
    started = time.perf_counter()
    engine = await _engine(data_dir)
    window: dict[str, object] | None = None
    try:
        if plan.moment == "startup":
            opened = await engine.until(STORE_OPEN, 60)
            assert opened is not None, f"polyarb run did not open its store: {engine.entries}"
        else:
            report = await engine.until(RECONCILED, 60)
            assert report is not None, f"polyarb run did not reconcile: {engine.entries[-3:]}"
            _check_repair(report, run)
            run.recovery_s.append(time.perf_counter() - started)
            window = await engine.until(WINDOW_OPEN, 30, kind=plan.window)
            assert window is not None, f"no {plan.window} window in 30 s: {engine.entries[-3:]}"
            if plan.moment == "in_flight":
                # Well inside the latency, with room for a loaded machine's scheduling delays.
                await asyncio.sleep(rng.uniform(0.05, 0.4) * LATENCY_MS / 1000)
            else:
                # As the window opens the writer is frozen: the execution's fills and merge or
                # lock get journaled, but cannot reach the database before the kill.
                engine.hold_writer()
                kind = "locked"  # a negRisk set is locked until its event resolves
                executed = await engine.until(EXECUTED, 10)
                while executed is not None and executed.get(kind) in ("0", None):
                    executed = await engine.until(EXECUTED, 10)
                assert executed is not None, f"the {plan.window} window was not executed"
    finally:
        await engine.kill()  # and its writer has drained the pipe or died: the database is settled
        run.cycles += 1

    if plan.moment == "startup":
        reconciled = [e for e in engine.entries if e.get("event") == RECONCILED]
        if reconciled:
            _check_repair(reconciled[0], run)  # it got that far before the kill
        else:
            run.killed_in_startup += 1
    journal_fills, journal_merges = _journal_ids(data_dir)
    stored_fills, stored_merges = await _stored_ids(url)
    run.pending = (journal_fills - stored_fills, journal_merges - stored_merges)
    new_fills = journal_fills - journal_before
    run.journaled_fills += len(new_fills)
    if window is None:
        return
    opened_ns = _ts_ns(window)
    executed_since = [
        e for e in engine.entries if e.get("event") == EXECUTED and _ts_ns(e) >= opened_ns
    ]
    journaled_since = [
        f
        for f in read_journal(data_dir / "paper-journal.jsonl").fills
        if f.fill_id in new_fills and f.ts_ns >= opened_ns
    ]
    if plan.moment == "in_flight" and not executed_since and not journaled_since:
        run.killed_before_journal += 1  # the window's execution was under way, none of it kept
    if {f.fill_id for f in journaled_since} & run.pending[0]:
        run.killed_after_journal += 1  # journaled, and the kill beat the database


def _check_repair(report: dict[str, object], run: EngineCrashRun) -> None:
    """The reconciliation copied from the journal exactly what the database lacked."""
    assert report["missing_from_journal"] == 0, report
    assert report["mismatched"] == 0, report
    assert report["corrected_rows"] == 0, report  # a crash alone never damages ledger rows
    fills, merges = run.pending
    assert report["inserted"] == len(fills) + len(merges), (report, run.pending)
    if report["inserted"]:
        run.repaired_cycles += 1
        run.repaired_events += len(fills) + len(merges)
        run.repaired_merges += len(merges)
    run.pending = (set(), set())


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_paper_engine_survives_sigkill(tmp_path: Path) -> None:
    """``polyarb run --venue sim`` paper-trades and is SIGKILLed inside executions (while a
    window's orders wait out the latency; right after the fills and the merge or lock were
    journaled, before the database has them) and during start-up, then restarted. Every restart
    must copy from the journal exactly the events the database lacked; at the end the database
    equals the journal and positions and daily P&L equal an independent recomputation."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    url = f"sqlite+aiosqlite:///{data_dir / 'polyarb.db'}"
    rng = random.Random(31)
    run = EngineCrashRun()
    for cycle in range(ENGINE_CYCLES):
        await _one_cycle(data_dir, url, PLANS[cycle % len(PLANS)], rng, run)
    # Damage the books the last start must rebuild: a position that never existed, every
    # day's P&L. The reconciliation must say so (not silently rewrite), and the rows must then
    # equal the oracle's recomputation from the raw journal, not the ledger's own replay.
    await execute(
        url,
        "INSERT INTO positions (mode, strategy, token_id, market, size, cost, updated_ns) "
        "VALUES ('paper', 'ghost', 'tok-ghost', 'mkt-ghost', 7, 3, 1)",
    )
    await execute(url, "UPDATE daily_pnl SET realized_pnl = realized_pnl + 1")
    final = await _engine(data_dir, "--duration", "1")
    report = await final.until(RECONCILED, 60)
    assert report is not None, "the last start did not reconcile"
    assert report["corrected_rows"] >= 1, report
    damaged = await final.until("ledger rows differed from the paper journal; rewritten from it", 5)
    assert damaged is not None
    assert "ghost" in str(damaged["rows"]), damaged
    report["corrected_rows"] = 0
    _check_repair(report, run)
    assert await final.finish() == 0
    fills = await _assert_books_equal_journal(url, data_dir)

    print(
        f"\nengine crash (sqlite): {run.cycles} SIGKILL cycles; {run.killed_before_journal} "
        f"killed with an execution in flight before its journal write, "
        f"{run.killed_after_journal} after the journal write and before the database, "
        f"{run.killed_in_startup} during start-up; {fills} fills journaled "
        f"({run.journaled_fills} in the killed runs), 0 lost, 0 duplicated; "
        f"{run.repaired_events} events ({run.repaired_merges} merges/locks) restored from the "
        f"journal on {run.repaired_cycles} restarts; recovery p50 "
        f"{sorted(run.recovery_s)[len(run.recovery_s) // 2]:.2f} s"
    )
    # The kills fell where they were meant to, and there was trading to lose.
    assert fills >= 10, "too few fills: the kills did not fall inside trading"
    assert run.killed_before_journal >= 2  # of 3 planned
    assert run.killed_after_journal >= 2  # of 3 planned
    assert run.repaired_cycles >= 2
    assert run.repaired_merges >= 2  # merges and locks restored, not only fills
