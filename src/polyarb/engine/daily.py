"""The daily P&L report, scheduled: at ``REPORT_DAILY_AT`` (UTC) the previous UTC day's report
is built from the database, drawn (PNG), stored and posted to Slack, once per day.

Once, whatever happens around the time: the report's row in ``daily_reports`` (key: mode, day)
and its ``alerts`` row are written in one transaction only if the day's row is not there yet
(``Store.claim_daily_report``); only the run whose write made the row posts it. A second engine
on the same database, the job running twice, or a restart just after the time all find the row
and post nothing. The post itself is an alert (key ``report:daily``) written ``pending`` with
the row, so a restart before Slack took it posts it then (``alerts.KEPT_KEYS``).

At start the latest report due is caught up: after today's time, yesterday's; before it, the
day before yesterday's (sent yesterday unless the engine was down then).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog

from polyarb.monitor.slack import Alert
from polyarb.store import AlertRecord, Store
from polyarb.store.records import new_event_id
from polyarb.store.reports import DailyReport, ReportClaim, daily_text

log = structlog.get_logger(__name__)

NS = 1_000_000_000
REPORT_KEY = "report:daily"


def due_day(now_ns: int, at: str) -> str:
    """The UTC day whose report is due at ``now_ns`` with the daily time ``at`` (HH:MM)."""
    now = datetime.fromtimestamp(now_ns / NS, UTC)
    hour, minute = (int(x) for x in at.split(":"))
    today_at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    back = 1 if now >= today_at else 2
    return (now.date() - timedelta(days=back)).isoformat()


def seconds_to_next(now_ns: int, at: str) -> float:
    now = datetime.fromtimestamp(now_ns / NS, UTC)
    hour, minute = (int(x) for x in at.split(":"))
    next_at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if next_at <= now:
        next_at += timedelta(days=1)
    return (next_at - now).total_seconds()


class DailyReporter:
    """Builds, stores and posts the daily report (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        at: str,
        chart_dir: Path,
        *,
        instance_id: str = "",
        post: Callable[[Alert], object] | None = None,
        now_ns: Callable[[], int] = time.time_ns,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.at = at
        self.chart_dir = chart_dir
        self.instance_id = instance_id
        self.post = post
        self.now_ns = now_ns
        self.sleep = sleep
        self.done: set[str] = set()  # days handled by this run (sent or found sent)
        self.sent = 0

    async def run_once(self) -> bool:
        """Handle the report due now; True when this call stored (and posted) it."""
        day = due_day(self.now_ns(), self.at)
        if day in self.done:
            return False
        if await self.store.stored_daily_report(day) is not None:  # sent: nothing to build
            self.done.add(day)
            return False
        report = await self.store.daily_report(day)
        text = daily_text(report)
        chart = await asyncio.to_thread(self._chart, report)
        body = text + (f"\nchart: {chart}" if chart else "")
        prefix = f"{self.instance_id}: " if self.instance_id else ""
        now = self.now_ns()
        record = AlertRecord(
            ts_ns=now,
            severity="info",
            title=f"{prefix}daily P&L report {day} ({report.mode})",
            message=body,
            dedup_key=REPORT_KEY,
            delivery="pending" if self.post is not None else "none",
            event_id=new_event_id(),
        )
        claimed = await self.store.claim_daily_report(
            ReportClaim(report, text, _detail(report), chart, record, now)
        )
        self.done.add(day)
        if not claimed:
            log.info("daily report already stored; not sent again", day=day)
            return False
        self.sent += 1
        log.info("daily report stored", day=day, chart=chart)
        if self.post is not None:
            self.post(Alert("info", REPORT_KEY, record.title, record.message, now, record.event_id))
        return True

    async def run(self) -> None:
        """Catch up the report due at start, then one a day (cancel to stop)."""
        while True:
            try:
                await self.run_once()
            except Exception:  # the database down at the time: try again in a minute
                log.exception("daily report failed; retrying")
                await self.sleep(60.0)
                continue
            # At most an hour at a time: a wall clock stepped forward is noticed soon.
            await self.sleep(min(3600.0, seconds_to_next(self.now_ns(), self.at) + 1.0))

    def _chart(self, report: DailyReport) -> str:
        """A PNG of realized P&L and fees per strategy; "" for a day without activity (nothing
        to draw, and matplotlib is not even imported)."""
        lines = [x for x in report.lines if x.strategy]
        if not lines:
            return ""
        # The object API, not pyplot: no global figure state, so two reports drawn at once
        # (two engines, the job run twice) cannot mix; the Agg canvas draws the PNG.
        from matplotlib.figure import Figure

        names = [x.strategy for x in lines]
        realized = [float(x.realized) for x in lines]  # drawing only; the amounts stay exact
        fees = [float(x.fees) for x in lines]
        total = next((x for x in report.lines if not x.strategy), None)
        path = self.chart_dir / f"daily-{report.mode}-{report.day}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig = Figure(figsize=(6, 3), dpi=100, layout="tight")
        ax = fig.subplots()
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], realized, width=0.4, label="realized (net of fees)")
        ax.bar([x + 0.2 for x in xs], fees, width=0.4, label="fees")
        ax.set_xticks(list(xs), names)
        ax.axhline(0, color="black", linewidth=0.5)
        net = total.realized if total is not None else Decimal(0)
        ax.set_title(f"{report.day} ({report.mode}): realized {net} USD")
        ax.set_ylabel("USD")
        ax.legend(fontsize="small")
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        fig.savefig(tmp, format="png")
        tmp.replace(path)  # whole: a reader never sees half a file
        return str(path)


def _detail(report: DailyReport) -> str:
    def line(x: Any) -> dict[str, str | None]:
        values = {f.name: getattr(x, f.name) for f in fields(x)}
        return {k: None if v is None else str(v) for k, v in values.items()}

    return json.dumps(
        {
            "mode": report.mode,
            "day": report.day,
            "marked_ns": report.marked_ns,
            "lines": [line(x) for x in report.lines],
        }
    )
