"""Undelivered critical alerts survive restarts in the database's ``alerts`` table.

The engine's journal (``StoreJournal``) on the real store, a fake Slack webhook over real HTTP
(tests/monitor/test_slack.py) that is down during the first run: each run is a new notifier and
a new store on the same database, as ``polyarb run`` builds them. Asserted: the critical alert
is posted exactly once, by the run after the outage, and not again by the next one; the rows
say what became of every alert; no secret in a row or a post.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.monitor.test_slack import SECRET, FakeSlack, slack, until

from polyarb.domain.trading import Mode
from polyarb.engine.alerts import StoreJournal, undelivered_alerts
from polyarb.monitor.slack import Alert, SlackNotifier
from polyarb.store import Store, WriterConfig

__all__ = ["slack"]  # the fixture

WRITER = WriterConfig(process=False, flush_interval_s=0.01, retry_min_s=0.05, retry_max_s=0.5)


async def _run(
    db_url: str, tmp_path: Path, url: str, alerts: list[Alert], *, until_posted: int
) -> tuple[int, list[tuple[str, str, str]]]:
    """One engine run: open the store, post, stop; (alerts handed over at start, the rows)."""
    store = await Store.open(db_url, mode=Mode.PAPER, spool_dir=tmp_path / "spool", writer=WRITER)
    try:
        undelivered = await undelivered_alerts(store)
        notifier = SlackNotifier(
            url,
            secrets=[SECRET],
            journal=StoreJournal(store),
            undelivered=undelivered,
            min_interval_s=0.05,
            retry_min_s=0.05,
            retry_max_s=0.2,
        )
        worker = asyncio.create_task(notifier.run())
        for alert in alerts:
            notifier.notify(alert)
        await until(lambda: notifier.stats.attempts >= until_posted)
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        await notifier.close(timeout_s=0.1)
        await store.flush()
        rows = await store.queries.alerts()
        return len(undelivered), [(r.severity, r.delivery, r.message) for r in reversed(rows)]
    finally:
        await store.close()


async def test_a_critical_alert_is_posted_once_after_an_outage_and_restarts(
    slack: FakeSlack, db_url: str, tmp_path: Path
) -> None:
    slack.default = 503  # Slack down for the whole first run
    kill = Alert("critical", "risk:kill", "kill switch engaged", f"by ops, key {SECRET}")
    warn = Alert("warning", "feed:slow", "feed slow")
    handed, rows = await _run(db_url, tmp_path, slack.url, [kill, warn], until_posted=3)
    assert handed == 0
    assert slack.delivered() == []
    assert [(s, d) for s, d, _ in rows] == [("critical", "pending"), ("warning", "dropped")]
    assert SECRET not in rows[0][2]
    assert "********" in rows[0][2]

    slack.default = 200  # back: the next run posts the kept alert first, once
    handed, rows = await _run(db_url, tmp_path, slack.url, [], until_posted=1)
    assert handed == 1
    assert [(s, d) for s, d, _ in rows] == [("critical", "sent"), ("warning", "dropped")]
    assert slack.delivered() == [
        ":rotating_light: *[critical]* kill switch engaged\nby ops, key ********"
    ]

    handed, rows = await _run(db_url, tmp_path, slack.url, [], until_posted=0)
    assert handed == 0  # delivered: never again
    assert len(slack.delivered()) == 1
    assert all(SECRET not in seen.text for seen in slack.seen)
