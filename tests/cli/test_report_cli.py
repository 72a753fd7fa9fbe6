"""`polyarb report validation|daily` through the installed command, on the database of a real short
paper run on the simulator (SQLite), and on PostgreSQL holding the same rows.

The oracle recomputes P&L per strategy from the raw rows (read with the stdlib ``sqlite3``) with
``tests/store/ledger_oracle.Books``, which shares no code with ``polyarb.domain.ledger`` or
``polyarb.store``; counts (fills, signals, opportunities) are counted from the rows directly.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from tests.envs import settings_free_env
from tests.store.ledger_oracle import Books

TIMEOUT_S = 90
RUN_SECONDS = "8"


@dataclass(frozen=True)
class PaperRun:
    data_dir: Path
    db: Path


def polyarb(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = settings_free_env("DRY_RUN")
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "polyarb", *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory: pytest.TempPathFactory) -> PaperRun:
    root = tmp_path_factory.mktemp("paper")
    data = root / "data"
    result = polyarb(
        root, "run", "--venue", "sim", "--duration", RUN_SECONDS, "--no-display", DATA_DIR=str(data)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return PaperRun(data, data / "polyarb.db")


def rows(db: Path, sql: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def oracle(db: Path, until_ns: int | None = None, since_ns: int = 0) -> dict[str, Fraction]:
    """Realized P&L (net of fees) per strategy over [since_ns, until_ns), from the raw rows."""
    events: list[tuple[int, int, int, dict[str, Any]]] = []
    for r in rows(db, "SELECT * FROM fills WHERE mode = 'paper'"):
        events.append((r["ts_ns"], 0, r["id"], {**r, "kind": "fill"}))
    for r in rows(db, "SELECT * FROM merges WHERE mode = 'paper'"):
        token_ids = json.loads(r["token_ids"])
        token_ids = token_ids["token_ids"] if isinstance(token_ids, dict) else token_ids
        events.append((r["ts_ns"], 1, r["id"], {**r, "kind": "merge", "token_ids": token_ids}))
    for r in rows(db, "SELECT * FROM resolutions WHERE mode = 'paper'"):
        token_ids = json.loads(r["token_ids"])
        token_ids = token_ids["token_ids"] if isinstance(token_ids, dict) else token_ids
        events.append((r["ts_ns"], 2, r["id"], {**r, "kind": "resolution", "token_ids": token_ids}))
    events.sort(key=lambda e: e[:3])
    before, after = Books(), Books()
    for ts, _, _, event in events:
        if ts < since_ns:
            before.apply(event)
        if until_ns is None or ts < until_ns:
            after.apply(event)
    keys = before.realized.keys() | after.realized.keys()
    return {
        k: after.realized.get(k, Fraction(0)) - before.realized.get(k, Fraction(0)) for k in keys
    }


def report_json(run: PaperRun, *args: str, **env: str) -> dict[str, Any]:
    result = polyarb(
        run.data_dir.parent, "report", *args, "--json", DATA_DIR=str(run.data_dir), **env
    )
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def test_validation_pnl_equals_recomputation_from_rows(paper_run: PaperRun) -> None:
    fills = rows(paper_run.db, "SELECT * FROM fills WHERE mode = 'paper'")
    assert fills, "the paper run filled nothing: nothing to validate"
    report = report_json(paper_run, "validation", "--since", "72h")

    expected = oracle(paper_run.db)
    got = {p["strategy"]: Fraction(Decimal(p["realized"])) for p in report["pnl"]}
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in expected.items() if v}
    assert Fraction(Decimal(report["total_realized"])) == sum(expected.values(), Fraction(0))

    per_strategy: dict[str, tuple[int, Fraction, Fraction]] = {}
    for f in fills:
        n, fee, vol = per_strategy.get(f["strategy"], (0, Fraction(0), Fraction(0)))
        price, size = Fraction(Decimal(f["price"])), Fraction(Decimal(f["size"]))
        per_strategy[f["strategy"]] = (n + 1, fee + Fraction(Decimal(f["fee"])), vol + price * size)
    for p in report["pnl"]:
        n, fee, vol = per_strategy.get(p["strategy"], (0, Fraction(0), Fraction(0)))
        assert (p["fills"], Fraction(Decimal(p["fees"])), Fraction(Decimal(p["volume"]))) == (
            n,
            fee,
            vol,
        )

    # fill ratio: straight from the signals rows
    signals = rows(paper_run.db, "SELECT strategy, outcome FROM signals WHERE mode = 'paper'")
    for line in report["fill_ratios"]:
        mine = [s["outcome"] for s in signals if s["strategy"] == line["strategy"]]
        assert line["signals"] == len(mine)
        assert line["filled"] == mine.count("filled")
        assert line["denied"] == sum(o.startswith("denied:") for o in mine)
        sent = sum(o in ("taken", "filled", "partial", "failed") for o in mine)
        assert line["submitted"] == sent
        if sent:
            assert Decimal(line["ratio"]) == Decimal(mine.count("filled")) / sent
        else:
            assert line["ratio"] is None
    assert sum(x["signals"] for x in report["fill_ratios"]) == len(signals)

    # missed reasons: opportunities that were never sent, by outcome
    opps = rows(paper_run.db, "SELECT strategy, outcome FROM opportunities WHERE mode = 'paper'")
    not_traded = [
        o
        for o in opps
        if o["outcome"] is not None and o["outcome"] not in ("taken", "filled", "partial", "failed")
    ]
    assert sum(sum(v.values()) for v in report["missed"].values()) == len(not_traded)

    criteria = {c["name"]: c for c in report["criteria"]}
    total = sum(expected.values(), Fraction(0))
    assert criteria["paper trading profitable over the window"]["met"] is (total > 0)
    history = criteria["trade history persisted (every fill has its order, order fills add up)"]
    assert history["met"] is True, history
    assert criteria["monitored 48-72 hours before real trading (Phase 8)"]["met"] is False
    equity = rows(paper_run.db, "SELECT ts_ns, equity FROM equity_snapshots WHERE mode = 'paper'")
    assert len(report["equity"]) == len(equity)


def test_validation_text_and_html(paper_run: PaperRun, tmp_path: Path) -> None:
    out = tmp_path / "validation.html"
    result = polyarb(
        tmp_path, "report", "validation", "--html", str(out), DATA_DIR=str(paper_run.data_dir)
    )
    assert result.returncode == 0, result.stderr
    for word in ("criteria:", "NOT MET", "fill ratio", "slippage", "opportunity lifetimes"):
        assert word in result.stdout
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert "<svg" in page
    assert "<polyline" in page
    assert "src=" not in page
    assert "<link" not in page
    assert "<script" not in page
    for strategy, value in oracle(paper_run.db).items():
        if value:
            assert f"<td>{strategy}</td><td>{Decimal(value.numerator) / value.denominator}" in page


def test_daily_report_equals_rows_of_the_day(paper_run: PaperRun) -> None:
    fills = rows(paper_run.db, "SELECT strategy, ts_ns FROM fills WHERE mode = 'paper'")
    day = datetime.fromtimestamp(fills[0]["ts_ns"] // 10**9, UTC).date()
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 10**9
    end = start + 86_400 * 10**9
    report = report_json(paper_run, "daily", "--date", day.isoformat())
    assert report["day"] == day.isoformat()
    lines = {x["strategy"]: x for x in report["lines"]}
    expected = oracle(paper_run.db, until_ns=end, since_ns=start)
    for strategy, value in expected.items():
        assert Fraction(Decimal(lines[strategy]["realized"])) == value
    assert Fraction(Decimal(lines[""]["realized"])) == sum(expected.values(), Fraction(0))
    day_fills = [f for f in fills if start <= f["ts_ns"] < end]
    assert lines[""]["trades"] == len(day_fills)
    opps = rows(
        paper_run.db,
        "SELECT outcome, first_seen_ns, last_seen_ns, closed_ns FROM opportunities"
        f" WHERE mode = 'paper' AND first_seen_ns >= {start} AND first_seen_ns < {end}",
    )
    sent = ("taken", "filled", "partial", "failed")
    assert lines[""]["seen"] == len(opps)
    assert lines[""]["taken"] == sum(o["outcome"] in sent for o in opps)
    assert lines[""]["missed"] == sum(o["outcome"] not in (None, *sent) for o in opps)
    lives = sorted(o["last_seen_ns"] - o["first_seen_ns"] for o in opps if o["closed_ns"])
    assert lives, "no opportunity closed in the run"
    for q in (50, 90):  # nearest rank, in ms
        rank = -(-len(lives) * q // 100)
        assert Fraction(Decimal(lines[""][f"life_p{q}_ms"])) == Fraction(lives[rank - 1], 10**6)
    snapshots = rows(
        paper_run.db,
        "SELECT ts_ns, unrealized FROM equity_snapshots"
        f" WHERE mode = 'paper' AND ts_ns >= {start} AND ts_ns < {end} ORDER BY ts_ns",
    )
    if snapshots:
        assert report["marked_ns"] == snapshots[-1]["ts_ns"]
        unrealized = Fraction(Decimal(str(snapshots[-1]["unrealized"])))
        assert Fraction(Decimal(lines[""]["unrealized"])) == unrealized
    else:
        assert lines[""]["unrealized"] is None

    text = polyarb(
        paper_run.data_dir.parent,
        "report",
        "daily",
        "--date",
        day.isoformat(),
        DATA_DIR=str(paper_run.data_dir),
    )
    assert text.returncode == 0
    assert "TOTAL" in text.stdout

    empty = report_json(paper_run, "daily", "--date", "2001-01-01")
    assert [x["strategy"] for x in empty["lines"]] == [""]
    assert empty["lines"][0]["trades"] == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("validation", "--since", "72"), "--since"),
        (("validation", "--since", "0h"), "--since"),
        (("daily", "--date", "2026-13-01"), "--date"),
    ],
)
def test_bad_input_is_one_line(
    paper_run: PaperRun,
    args: tuple[str, ...],
    needle: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # in-process (the command's own entry point): a process per bad value would cost seconds each
    from polyarb.cli import main

    monkeypatch.setenv("DATA_DIR", str(paper_run.data_dir))
    with pytest.raises(SystemExit) as exit_info:
        main(["report", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    [line] = [x for x in err.splitlines() if x.startswith("polyarb: error:")]
    assert needle in line


def test_unmigrated_database_is_refused(tmp_path: Path) -> None:
    result = polyarb(tmp_path, "report", "daily", DATA_DIR=str(tmp_path / "empty"))
    assert result.returncode == 2
    assert "polyarb db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def postgres_copy(paper_run: PaperRun, postgres_url: str) -> str:
    """The paper run's rows copied into a fresh, migrated PostgreSQL database."""
    upgrade = polyarb(paper_run.data_dir.parent, "db", "upgrade", DATABASE_URL=postgres_url)
    assert upgrade.returncode == 0, upgrade.stderr

    from sqlalchemy import insert, select

    from polyarb.store import tables as t
    from polyarb.store.database import create_engine

    async def copy() -> None:
        src = create_engine(f"sqlite+aiosqlite:///{paper_run.db}")
        dst = create_engine(postgres_url)
        try:
            for table in (
                t.fills,
                t.orders,
                t.signals,
                t.opportunities,
                t.merges,
                t.resolutions,
                t.equity_snapshots,
            ):
                async with src.connect() as conn:
                    data = [dict(r) for r in (await conn.execute(select(table))).mappings()]
                if data:
                    async with dst.begin() as conn:
                        await conn.execute(insert(table), data)
        finally:
            await src.dispose()
            await dst.dispose()

    asyncio.run(copy())
    return postgres_url


def test_postgres_gives_the_same_report(paper_run: PaperRun, postgres_copy: str) -> None:
    on_sqlite = report_json(paper_run, "validation", "--since", "72h")
    on_pg = report_json(paper_run, "validation", "--since", "72h", DATABASE_URL=postgres_copy)
    for key in ("pnl", "total_realized", "total_fees", "fill_ratios", "slippage", "missed"):
        assert on_pg[key] == on_sqlite[key], key
    assert len(on_pg["equity"]) == len(on_sqlite["equity"])
    assert [c["met"] for c in on_pg["criteria"]] == [c["met"] for c in on_sqlite["criteria"]]


def test_window_and_worst_day_on_fills_across_days(tmp_path: Path) -> None:
    """Fills placed hours apart: ``--since`` cuts between a buy and its sell (the cost basis
    comes from before the window, the realized P&L falls inside it), and the worst day is the
    one with the loss."""
    data = tmp_path / "data"
    upgrade = polyarb(tmp_path, "db", "upgrade", DATA_DIR=str(data))
    assert upgrade.returncode == 0, upgrade.stderr
    now = int(datetime.now(UTC).timestamp()) * 10**9
    hour = 3_600 * 10**9
    # (hours ago, strategy, token, side, price, size, fee)
    trades = [
        (60, "sumto100", "t1", "BUY", "0.40", "10", "0.02"),
        (40, "sumto100", "t1", "SELL", "0.30", "4", "0.01"),  # -0.4 - 0.01 - 4/10 x 0.02
        (30, "clipper", "t2", "BUY", "0.55", "3", "0"),
        (2, "sumto100", "t1", "SELL", "0.70", "6", "0.03"),  # +1.8 - 0.03 - 6/10 x 0.02
        (1, "clipper", "t2", "SELL", "0.50", "3", "0.004"),  # -0.15 - 0.004
    ]
    conn = sqlite3.connect(data / "polyarb.db")
    try:
        for n, (ago, strategy, token, side, price, size, fee) in enumerate(trades):
            cid = f"order-{n}"
            conn.execute(
                "INSERT INTO fills (fill_id, client_order_id, mode, strategy, market, token_id,"
                " side, price, size, fee, liquidity, ts_ns) VALUES (?, ?, 'paper', ?, 'm', ?, ?,"
                " ?, ?, ?, 'taker', ?)",
                (f"fill-{n}", cid, strategy, token, side, price, size, fee, now - ago * hour),
            )
            conn.execute(
                "INSERT INTO orders (client_id, signal_id, mode, strategy, market, token_id, side,"
                " price, size, order_type, status, seq, filled, fees, reason, created_ns,"
                " updated_ns) VALUES (?, '', 'paper', ?, 'm', ?, ?, ?, ?, 'FAK', 'FILLED', 1, ?,"
                " ?, '', ?, ?)",
                (cid, strategy, token, side, price, size, size, fee, now - ago * hour, now),
            )
        conn.commit()
    finally:
        conn.close()
    run = PaperRun(data, data / "polyarb.db")

    whole = report_json(run, "validation", "--since", "3d")
    window = report_json(run, "validation", "--since", "48h")
    for report in (whole, window):
        expected = oracle(run.db, since_ns=report["since_ns"], until_ns=report["until_ns"])
        got = {p["strategy"]: Fraction(Decimal(p["realized"])) for p in report["pnl"]}
        assert got == {k: v for k, v in expected.items() if v or k in got}
    inside = {p["strategy"]: Decimal(p["realized"]) for p in window["pnl"]}
    # worked by hand: the 40 h sell, the 2 h sell (basis from the 60 h buy), the clipper round trip
    assert inside["sumto100"] == Decimal("-0.418") + Decimal("1.758")
    assert inside["clipper"] == Decimal("-0.154")
    assert {p["strategy"]: p["fills"] for p in window["pnl"]} == {"clipper": 2, "sumto100": 2}

    # the worst UTC day is one whose realized P&L is the lowest, computed from the same oracle
    per_day: dict[str, Fraction] = {}
    for ago in {40, 2, 1}:
        ts = now - ago * hour
        day = datetime.fromtimestamp(ts // 10**9, UTC).date()
        start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 10**9
        lo, hi = max(start, window["since_ns"]), min(start + 86_400 * 10**9, window["until_ns"])
        per_day[day.isoformat()] = sum(
            oracle(run.db, since_ns=lo, until_ns=hi).values(), Fraction(0)
        )
    worst = min(per_day.values())
    assert Fraction(Decimal(window["worst_day"][1])) == worst
    assert per_day[window["worst_day"][0]] == worst
    criteria = {c["name"]: c["met"] for c in window["criteria"]}
    assert criteria["paper trading profitable over the window"] is True
    assert criteria["trade history persisted (every fill has its order, order fills add up)"]
