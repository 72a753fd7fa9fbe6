"""``SlackNotifier`` against a fake Slack webhook over real HTTP (uvicorn on a loopback port).

The fake answers from a script (500s, a 429 with ``Retry-After``, an outage, 404) and records
every request with its arrival time. Asserted: every alert delivered exactly once (none lost,
none duplicated), in order; the rate limit between requests; the ``Retry-After`` wait; no
secret in any body; coalescing; the journal told what became of every occurrence, and
undelivered critical alerts posted after a restart (the engine's journal on the real database:
tests/engine/test_alert_journal.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from polyarb.monitor.slack import Alert, Delivery, SlackNotifier

SECRET = "0xdeadbeefcafe1234567890"  # a private key, say
HOOK_PATH = "/services/T000/B000/XXXXsecretXXXX"


@dataclass
class Seen:
    at: float
    status: int
    text: str


@dataclass
class FakeSlack:
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # next answers
    default: int = 200
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    delay_s: float = 0.0  # before answering

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{HOOK_PATH}"

    def delivered(self) -> list[str]:
        return [s.text for s in self.seen if s.status == 200]

    async def hook(self, request: Request) -> Response:
        body = json.loads(await request.body())
        status, headers = self.script.pop(0) if self.script else (self.default, {})
        self.seen.append(Seen(time.monotonic(), status, body["text"]))
        await asyncio.sleep(self.delay_s)
        return PlainTextResponse("ok" if status == 200 else "error", status, headers=headers)


class _Embedded(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    fake.port = sock.getsockname()[1]
    app = Starlette(routes=[Route(HOOK_PATH, fake.hook, methods=["POST"])])
    config = uvicorn.Config(app, lifespan="off", log_config=None, log_level="warning")
    server = _Embedded(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    yield fake
    server.should_exit = True
    await task


@dataclass
class Journal:
    """The notifier's journal in memory: each occurrence's alert and its latest delivery."""

    rows: dict[str, tuple[Alert, str]] = field(default_factory=dict)

    def queued(self, alert: Alert, delivery: Delivery) -> None:
        assert alert.id not in self.rows, "an occurrence journaled twice"
        self.rows[alert.id] = (alert, delivery)

    def resolved(self, ids: Sequence[str], delivery: Delivery) -> None:
        for i in ids:
            self.rows[i] = (self.rows[i][0], delivery)

    def deliveries(self) -> list[tuple[str, str]]:
        return [(a.title, d) for a, d in self.rows.values()]

    def undelivered(self) -> list[Alert]:
        return [a for a, d in self.rows.values() if d == "pending"]


def notifier(
    url: str, journal: Journal | None = None, undelivered: Sequence[Alert] = (), **kwargs: Any
) -> SlackNotifier:
    options = {"min_interval_s": 0.2, "coalesce_s": 60.0, "retry_min_s": 0.05, "retry_max_s": 2.0}
    options.update(kwargs)
    return SlackNotifier(url, secrets=[SECRET], journal=journal, undelivered=undelivered, **options)


async def until(condition: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_errors_and_429_lose_nothing_duplicate_nothing_and_keep_the_rate(
    slack: FakeSlack,
) -> None:
    slack.script = [(500, {}), (500, {}), (429, {"Retry-After": "1"})]
    journal = Journal()
    n = notifier(slack.url, journal)
    worker = asyncio.create_task(n.run())
    try:
        assert n.notify(
            Alert(
                "critical",
                f"leg:{SECRET}",  # a key built from a value that happens to be a secret
                "leg risk",
                f"key {SECRET} db postgresql+asyncpg://polyarb:hunter2pass@db:5432/x "
                f"hook {slack.url}",
            )
        )
        assert n.notify(Alert("warning", "mismatch", "book mismatch", "token 1"))
        assert not n.notify(Alert("warning", "mismatch", "book mismatch", "token 2"))  # merged
        assert n.notify(Alert("info", "engine", "engine started"))
        await until(lambda: len(slack.delivered()) == 3)
        await asyncio.sleep(0.5)  # nothing else arrives
    finally:
        worker.cancel()
        await n.close(timeout_s=0.1)
    delivered = slack.delivered()
    assert len(slack.seen) == 6  # 500, 500, 429, then one 200 per alert
    assert [t.split("\n")[0] for t in delivered] == [
        ":rotating_light: *[critical]* leg risk",
        ":warning: *[warning]* book mismatch (2 times)",
        ":information_source: *[info]* engine started",
    ]
    assert delivered[1].endswith("token 2")
    for seen in slack.seen:
        assert SECRET not in seen.text
        assert "hunter2pass" not in seen.text
        assert "XXXXsecretXXXX" not in seen.text
    assert "postgresql+asyncpg://polyarb:********@db:5432/x" in delivered[0]
    gaps = [b.at - a.at for a, b in zip(slack.seen, slack.seen[1:], strict=False)]
    # min_interval_s (0.2 s) between posts, whatever the retry wanted (0.05 s); measured at the
    # server, so less the jitter of the requests' travel.
    assert min(gaps) >= 0.15
    assert gaps[2] >= 0.99  # after the 429: its Retry-After
    assert n.stats.rate_limited == 1
    assert n.stats.failures == 2
    assert n.stats.posted == 3
    assert journal.deliveries() == [  # every occurrence accounted for, the merged one too
        ("leg risk", "sent"),
        ("book mismatch", "sent"),
        ("book mismatch", "sent"),
        ("engine started", "sent"),
    ]
    for alert, _ in journal.rows.values():  # what is kept is masked too
        assert SECRET not in alert.text
        assert SECRET not in alert.key
        assert "hunter2pass" not in alert.text
        assert "XXXXsecretXXXX" not in alert.text


async def test_coalescing_window_holds_back_and_reports_the_count(slack: FakeSlack) -> None:
    journal = Journal()
    n = notifier(slack.url, journal, coalesce_s=0.6, min_interval_s=0.05)
    worker = asyncio.create_task(n.run())
    try:
        n.notify(Alert("warning", "feed", "feed slow"))
        await until(lambda: n.queued == 0)  # answered and taken off the queue
        assert not n.notify(Alert("warning", "feed", "feed slow"))
        assert not n.notify(Alert("warning", "feed", "feed slow"))
        assert n.notify(Alert("critical", "feed", "feed down"))  # critical: never held back
        await until(lambda: n.queued == 0)
        assert not n.notify(Alert("warning", "feed", "feed slow"))
        await asyncio.sleep(0.7)
        assert n.notify(Alert("warning", "feed", "feed slow"))
        await until(lambda: len(slack.delivered()) == 3)
    finally:
        worker.cancel()
        await n.close(timeout_s=0.1)
    first, critical, later = slack.delivered()
    assert first == ":warning: *[warning]* feed slow"
    assert critical == ":rotating_light: *[critical]* feed down (2 more since the previous alert)"
    assert later == ":warning: *[warning]* feed slow (1 more since the previous alert)"
    assert len(slack.seen) == 3
    assert [d for _, d in journal.deliveries()] == [
        "sent",
        "coalesced",
        "coalesced",
        "sent",
        "coalesced",
        "sent",
    ]


async def test_outage_keeps_critical_alerts_for_the_next_start(slack: FakeSlack) -> None:
    slack.default = 503
    journal = Journal()
    first = notifier(slack.url, journal)
    worker = asyncio.create_task(first.run())
    first.notify(Alert("critical", "kill", "kill switch engaged", "by cli"))
    first.notify(Alert("warning", "mismatch", "book mismatch"))
    await until(lambda: len(slack.seen) >= 2)
    worker.cancel()
    await first.close(timeout_s=0.2)
    assert slack.delivered() == []
    # Kept for the next start: the critical one; a stale warning is not worth a late post.
    assert journal.deliveries() == [
        ("kill switch engaged", "pending"),
        ("book mismatch", "dropped"),
    ]

    slack.default = 200
    second = notifier(slack.url, journal, journal.undelivered())
    assert second.queued == 1
    worker = asyncio.create_task(second.run())
    try:
        await until(lambda: len(slack.delivered()) == 1)
        await until(lambda: journal.deliveries()[0][1] == "sent")
    finally:
        worker.cancel()
        await second.close(timeout_s=0.1)
    assert slack.delivered() == [":rotating_light: *[critical]* kill switch engaged\nby cli"]
    assert journal.undelivered() == []  # delivered: nothing for the next start
    assert len(journal.rows) == 2  # posted again without being journaled again


async def test_after_a_crash_only_keys_worth_a_late_post_are_posted(slack: FakeSlack) -> None:
    journal = Journal()
    for alert in (  # left pending by a run that crashed (no close)
        Alert("warning", "feed", "feed slow", id="1"),
        Alert("warning", "leg", "leg risk warning", id="2"),
        Alert("critical", "leg", "leg risk", "unhedged", id="3"),
    ):
        journal.queued(alert, "pending")
    n = notifier(slack.url, journal, journal.undelivered())
    assert n.queued == 1  # the leg key, merged; the stale warning of its own dropped
    worker = asyncio.create_task(n.run())
    try:
        await until(lambda: len(slack.delivered()) == 1)
        await until(lambda: journal.undelivered() == [])
    finally:
        worker.cancel()
        await n.close(timeout_s=0.1)
    assert slack.delivered() == [":rotating_light: *[critical]* leg risk (2 times)\nunhedged"]
    assert journal.deliveries() == [
        ("feed slow", "dropped"),
        ("leg risk warning", "sent"),
        ("leg risk", "sent"),
    ]


async def test_a_callers_journaled_alert_held_back_is_settled(slack: FakeSlack) -> None:
    journal = Journal()
    n = notifier(slack.url, journal, min_interval_s=0.02)
    worker = asyncio.create_task(n.run())
    try:
        n.notify(Alert("info", "report", "first"))
        await until(lambda: n.stats.posted == 1)
        late = n.prepare(Alert("info", "report", "second"))
        journal.queued(late, "pending")  # the caller wrote its row (as the daily report does)
        assert not n.post_journaled(late)  # held back by the coalescing window
    finally:
        worker.cancel()
        await n.close(timeout_s=0.1)
    assert journal.deliveries() == [("first", "sent"), ("second", "coalesced")]


async def test_a_revoked_webhook_is_not_retried_forever(slack: FakeSlack) -> None:
    slack.default = 404
    journal = Journal()
    n = notifier(slack.url, journal)
    worker = asyncio.create_task(n.run())
    try:
        n.notify(Alert("warning", "x", "something"))
        await until(lambda: n.queued == 0)
        await asyncio.sleep(0.3)
    finally:
        worker.cancel()
        await n.close(timeout_s=0.1)
    assert len(slack.seen) == 1
    assert n.stats.dropped == 1
    assert journal.deliveries() == [("something", "dropped")]


async def test_shutdown_mid_post_does_not_post_twice(slack: FakeSlack) -> None:
    slack.delay_s = 0.3
    journal = Journal()
    n = notifier(slack.url, journal)
    worker = asyncio.create_task(n.run())
    n.notify(Alert("critical", "kill", "kill switch engaged"))
    await until(lambda: len(slack.seen) == 1)  # arrived; the answer is 0.3 s away
    worker.cancel()  # the engine stopping
    await asyncio.gather(worker, return_exceptions=True)
    await n.close(timeout_s=2.0)
    assert len(slack.seen) == 1
    assert n.stats.posted == 1
    assert journal.deliveries() == [("kill switch engaged", "sent")]
