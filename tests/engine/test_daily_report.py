"""The scheduled daily P&L report: stored and posted exactly once per day, across restarts.

Each "engine run" is a new store, notifier and ``DailyReporter`` on the same database (as
``polyarb run`` builds them), with an injected wall clock around the scheduled time (06:00 UTC),
posting to a fake Slack webhook over real HTTP. The runs: before the time (the catch-up of the
day before yesterday), just after it, and two jobs at once a little later (a second engine, or
the job run twice) — the report of the day is posted once, its PNG drawn, its row stored, and
``polyarb report daily --date`` prints it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.envs import settings_free_env
from tests.monitor.test_slack import FakeSlack, slack, until
from tests.store.helpers import make_fill, seeded

from polyarb.domain.ledger import Ledger
from polyarb.domain.trading import Mode, Side
from polyarb.engine.alerts import StoreJournal, kept, undelivered_alerts
from polyarb.engine.daily import DailyReporter, due_day
from polyarb.monitor.slack import SlackNotifier
from polyarb.store import Store, WriterConfig

__all__ = ["slack"]  # the fixture

WRITER = WriterConfig(process=False, flush_interval_s=0.01, retry_min_s=0.05, retry_max_s=0.5)
AT = "06:00"


def ns(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()) * 1_000_000_000


def test_the_day_due_follows_the_scheduled_time() -> None:
    assert due_day(ns("2026-12-02T05:59:59"), AT) == "2026-11-30"
    assert due_day(ns("2026-12-02T06:00:00"), AT) == "2026-12-01"
    assert due_day(ns("2026-12-02T23:59:59"), AT) == "2026-12-01"
    assert due_day(ns("2026-12-03T00:00:00"), "00:00") == "2026-12-02"


async def _seed(store: Store) -> None:
    """One round trip of sum_to_100 on 2026-12-01: realized 0.5 - 0.02 fees = 0.48."""
    ledger = Ledger()
    day = ns("2026-12-01T12:00:00")
    for fill in (
        make_fill(1, side=Side.BUY, price="0.45", ts_ns=day),
        make_fill(2, side=Side.SELL, price="0.50", ts_ns=day + 1),
    ):
        ledger.apply(fill)
        store.submit_fill(fill, ledger)
    await store.flush()


async def _run(db_url: str, tmp_path: Path, url: str, *clocks: str) -> list[bool]:
    """One engine run; ``clocks``: the reporters running at once, each at its time."""
    store = await Store.open(db_url, mode=Mode.PAPER, spool_dir=tmp_path / "spool", writer=WRITER)
    notifier = SlackNotifier(
        url,
        journal=StoreJournal(store),
        undelivered=await undelivered_alerts(store),
        keep=kept,
        min_interval_s=0.05,
    )
    worker = asyncio.create_task(notifier.run())
    try:
        reporters = [
            DailyReporter(
                store,
                AT,
                tmp_path / "reports",
                instance_id="e1",
                post=notifier.post_journaled,
                now_ns=lambda at=at: ns(at),  # type: ignore[misc]
            )
            for at in clocks
        ]
        sent = await asyncio.gather(*(r.run_once() for r in reporters))
        await until(lambda: notifier.queued == 0)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        await notifier.close(timeout_s=0.5)
        await store.close()
    return list(sent)


async def test_the_report_is_sent_once_per_day_across_restarts(
    slack: FakeSlack, db_url: str, tmp_path: Path
) -> None:
    await seeded(db_url, tmp_path / "spool", WRITER, _seed)
    slack.script = [(503, {})]  # the first post fails once: retried, not lost

    assert await _run(db_url, tmp_path, slack.url, "2026-12-02T05:59:30") == [True]
    # Just after the time, two jobs at once (the job run twice, or a second engine): both build
    # the report, the database's key lets one store and post it.
    both = await _run(db_url, tmp_path, slack.url, "2026-12-02T06:00:05", "2026-12-02T06:00:06")
    assert sorted(both) == [False, True]
    # Restarted again, two jobs at once: both find the day's report stored.
    both = await _run(db_url, tmp_path, slack.url, "2026-12-02T06:00:30", "2026-12-02T07:00:00")
    assert both == [False, False]

    titles = [t.split("\n")[0] for t in slack.delivered()]
    assert titles == [
        ":information_source: *[info]* e1: daily P&L report 2026-11-30 (paper)",
        ":information_source: *[info]* e1: daily P&L report 2026-12-01 (paper)",
    ]
    report = slack.delivered()[1]
    total = next(line for line in report.splitlines() if line.startswith("TOTAL"))
    # realized, unrealized (no equity snapshot), fees, resolution payouts, trades
    assert total.split()[1:6] == ["0.48", "-", "0.02", "0", "2"]
    chart = tmp_path / "reports" / "daily-paper-2026-12-01.png"
    assert f"chart: {chart}" in report
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "reports" / "daily-paper-2026-11-30.png").exists()  # no activity

    store = await Store.open(db_url, mode=Mode.PAPER, spool_dir=tmp_path / "spool", writer=WRITER)
    try:
        alerts = await store.queries.alerts()
    finally:
        await store.close()
    assert [(a.title, a.delivery) for a in reversed(alerts)] == [
        ("e1: daily P&L report 2026-11-30 (paper)", "sent"),
        ("e1: daily P&L report 2026-12-01 (paper)", "sent"),
    ]

    env = settings_free_env()
    env.update(DATABASE_URL=db_url, DATA_DIR=str(tmp_path), DRY_RUN="true")
    out = subprocess.run(
        [sys.executable, "-m", "polyarb", "report", "daily", "--date", "2026-12-01"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert out.splitlines()[0] == "daily report (paper) 2026-12-01 (UTC)"
    assert next(x for x in out.splitlines() if x.startswith("TOTAL")).split()[1] == "0.48"
    assert f"chart: {chart}" in out
