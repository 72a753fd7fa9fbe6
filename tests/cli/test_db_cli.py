"""`polyarb db upgrade|current|prune|export-trades` on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from polyarb.cli import app
from polyarb.domain.book import Side
from polyarb.domain.trading import Fill, Mode
from polyarb.store import ErrorRecord, FillRecord, Store
from polyarb.store.migrate import head_revision

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
DAY_NS = 86_400 * 1_000_000_000


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    # The commands point structlog at the CliRunner's captured stderr; undo that afterwards.
    structlog.reset_defaults()


@pytest.fixture(params=["sqlite", "postgres"])
def database(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Point the CLI at a fresh database through the environment, as a user would."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    if request.param == "sqlite":
        monkeypatch.delenv("DATABASE_URL", raising=False)
        return f"sqlite+aiosqlite:///{tmp_path / 'data' / 'polyarb.db'}"
    url: str = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def _fill(n: int, ts_ns: int, strategy: str = "sum_to_100") -> Fill:
    return Fill(
        fill_id=f"fill-{n}",
        client_order_id=f"ord-{n}",
        token_id="tok",
        market="mkt",
        side=Side.BUY,
        price=Decimal("0.45"),
        size=Decimal("2.5"),
        fee=Decimal("0.001"),
        ts_ns=ts_ns,
        strategy=strategy,
        mode=Mode.PAPER,
    )


async def _seed(url: str, spool: Path) -> None:
    store = await Store.open(url, mode=Mode.PAPER, spool_dir=spool)
    try:
        for n in range(6):
            strategy = "clipper" if n % 2 else "sum_to_100"
            store.submit(FillRecord(fill=_fill(n, T0 + n * DAY_NS, strategy)))
            store.submit(ErrorRecord(ts_ns=T0 + n, source="t", kind="k", message="m"))
        await store.flush()
    finally:
        await store.close()


def test_upgrade_then_current(database: str) -> None:
    runner = CliRunner()
    before = runner.invoke(app, ["db", "current"])
    assert before.exit_code == 1
    assert "empty" in before.output
    assert "polyarb db upgrade" in before.output

    head = head_revision()  # the newest migration file (the chain grows with the schema)
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert f"empty -> {head}" in result.output
    assert "secret" not in result.output

    again = runner.invoke(app, ["db", "upgrade"])
    assert again.exit_code == 0
    assert f"{head} -> {head}" in again.output

    current = runner.invoke(app, ["db", "current"])
    assert current.exit_code == 0
    assert f"{head} (head {head}, up to date)" in current.output


def test_export_trades_and_prune(database: str, tmp_path: Path) -> None:
    asyncio.run(_seed(database, tmp_path / "spool"))  # before the CLI reconfigures logging
    runner = CliRunner()

    out = tmp_path / "trades.csv"
    result = runner.invoke(
        app, ["db", "export-trades", str(out), "--strategy", "sum_to_100", "--since", "2026-01-02"]
    )
    assert result.exit_code == 0, result.output
    lines = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [line["fill_id"] for line in lines] == ["fill-2", "fill-4"]
    assert lines[0]["price"] == "0.45"
    assert lines[0]["notional"] == "1.125"

    everything = runner.invoke(app, ["db", "export-trades", "-"])
    assert everything.exit_code == 0
    assert everything.stdout.count("fill-") == 6

    bad = runner.invoke(app, ["db", "export-trades", str(out), "--since", "yesterday"])
    assert bad.exit_code == 2
    assert "YYYY-MM-DD" in bad.output

    pruned = runner.invoke(app, ["db", "prune", "--older-than", "0"])
    assert pruned.exit_code == 0, pruned.output
    assert "errors: 6 deleted" in pruned.output
    # Fills are never pruned.
    after = runner.invoke(app, ["db", "export-trades", "-"])
    assert after.stdout.count("fill-") == 6


def test_unreachable_or_unsupported_database_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u:hunter2@127.0.0.1:1/x")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2
    assert "unreachable" in result.output
    assert "hunter2" not in result.output
    monkeypatch.setenv("DATABASE_URL", "mysql://h/x")
    result = runner.invoke(app, ["db", "current"])
    assert result.exit_code == 2
    assert "not supported" in result.output
