"""Slack alerts through an incoming webhook: rate-limited, coalesced, retried, never a secret.

``SlackNotifier.notify`` never blocks and never raises (it is called from the engine's sinks);
a worker task (``run``) posts the queue in order:

* **At most one post per ``min_interval_s``** (Slack allows about one message per second per
  webhook).
* **Coalescing**: an alert whose ``key`` is already waiting in the queue is merged into it (its
  count goes up, the newest text wins); one whose key was posted less than ``coalesce_s`` ago is
  held back and counted, and the count rides on the next post of that key ("3 more since").
  Critical alerts are never held back, only merged while waiting.
* **Retries without loss or duplicates**: a 429 waits its ``Retry-After``; a 5xx or a network
  error waits an exponential backoff (``retry_min_s`` .. ``retry_max_s``); the same alert is
  retried until Slack answers 200 — it is taken off the queue only then, so nothing is lost and
  nothing is posted twice by us (Slack had refused every earlier attempt). A 4xx other than 429
  (a revoked or mistyped webhook) cannot succeed: logged as an error, the alert dropped.
* **Undelivered critical alerts survive a restart**: on ``close`` whatever critical alert is
  still queued is written to ``outbox`` (JSON lines) and posted first at the next start; each is
  removed from the file once delivered.
* **No secret in a message**: every text passes ``redact``: the given secret values, the
  password of any ``scheme://user:password@`` URL and Slack webhook paths are masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx
import msgspec
import structlog

log = structlog.get_logger(__name__)

Severity = Literal["critical", "warning", "info"]
MASK = "********"
_RANK = {"critical": 0, "warning": 1, "info": 2}
_ICON = {"critical": ":rotating_light:", "warning": ":warning:", "info": ":information_source:"}
_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^\s/:@]+:)([^\s/@]+)(@)")
_SLACK_HOOK = re.compile(r"(hooks\.slack\.com/services/)[\w/]+")


class Alert(msgspec.Struct, frozen=True):
    """One alert. ``key`` identifies "the same thing happening again" for coalescing."""

    severity: Severity
    key: str
    title: str
    text: str = ""
    ts_ns: int = 0


@dataclass(slots=True)
class _Pending:
    alert: Alert
    count: int = 1  # occurrences merged into this post
    held_back: int = 0  # occurrences of the key held back since its previous post
    from_outbox: bool = False
    id: int = 0


@dataclass(slots=True)
class SlackStats:
    posted: int = 0
    attempts: int = 0
    rate_limited: int = 0  # 429 answers
    failures: int = 0  # 5xx and network errors (retried)
    dropped: int = 0  # refused for good (4xx other than 429)
    coalesced: int = 0  # occurrences merged or held back
    by_severity: dict[str, int] = field(default_factory=dict)


def redactor(secrets: Iterable[str]) -> Callable[[str], str]:
    values = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def redact(text: str) -> str:
        for value in values:
            text = text.replace(value, MASK)
        text = _URL_PASSWORD.sub(lambda m: m.group(1) + MASK + m.group(3), text)
        return _SLACK_HOOK.sub(lambda m: m.group(1) + MASK, text)

    return redact


class SlackNotifier:
    def __init__(
        self,
        webhook_url: str,
        *,
        secrets: Iterable[str] = (),
        outbox: Path | None = None,
        min_interval_s: float = 1.0,
        coalesce_s: float = 300.0,
        retry_min_s: float = 1.0,
        retry_max_s: float = 60.0,
        timeout_s: float = 10.0,
        max_queue: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._url = webhook_url
        self._redact = redactor([*secrets, webhook_url])
        self._outbox = outbox
        self._min_interval_s = min_interval_s
        self._coalesce_s = coalesce_s
        self._retry_min_s = retry_min_s
        self._retry_max_s = retry_max_s
        self._max_queue = max_queue
        self._clock = clock
        self._sleep = sleep
        self._client = httpx.AsyncClient(timeout=timeout_s)
        self._queue: list[_Pending] = []
        self._waiting: dict[str, _Pending] = {}  # key -> its queued post
        self._last_post: dict[str, float] = {}  # key -> when it was last posted
        self._held: dict[str, int] = {}  # key -> occurrences held back since
        self._wake = asyncio.Event()
        self._emptied = asyncio.Event()
        self._posting: tuple[_Pending, asyncio.Future[httpx.Response]] | None = None
        self._ids = itertools.count(1)
        self._last_attempt = float("-inf")
        self.stats = SlackStats()
        self._load_outbox()

    # --- the engine's side ------------------------------------------------------------------

    def notify(self, alert: Alert) -> bool:
        """Queue ``alert``; False when it was merged or held back (coalesced)."""
        alert = Alert(
            alert.severity,
            alert.key,
            self._redact(alert.title),
            self._redact(alert.text),
            alert.ts_ns or time.time_ns(),
        )
        waiting = self._waiting.get(alert.key)
        if waiting is not None:  # the newest text, the highest severity of the two
            waiting.count += 1
            severity = min(alert.severity, waiting.alert.severity, key=_RANK.__getitem__)
            waiting.alert = Alert(severity, alert.key, alert.title, alert.text, alert.ts_ns)
            self.stats.coalesced += 1
            return False
        last = self._last_post.get(alert.key)
        recent = last is not None and self._clock() - last < self._coalesce_s
        if recent and alert.severity != "critical":
            self._held[alert.key] = self._held.get(alert.key, 0) + 1
            self.stats.coalesced += 1
            return False
        if len(self._queue) >= self._max_queue:
            victim = next((p for p in self._queue if p.alert.severity == "info"), None)
            if victim is None:
                log.error("slack queue full; alert only logged", title=alert.title)
                return False
            self._remove(victim)
        self._enqueue(_Pending(alert, held_back=self._held.pop(alert.key, 0)))
        return True

    @property
    def queued(self) -> int:
        return len(self._queue)

    # --- the worker -------------------------------------------------------------------------

    async def run(self) -> None:
        """Post the queue in order, forever (cancel to stop; ``close`` persists the rest)."""
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            pending = self._queue[0]
            await self._deliver(pending)

    async def _deliver(self, pending: _Pending) -> None:
        delay = self._retry_min_s
        while True:
            gap = self._last_attempt + self._min_interval_s - self._clock()
            if gap > 0:
                await self._sleep(gap)
            self._last_attempt = self._clock()
            self.stats.attempts += 1
            # Shielded: a worker cancelled mid-post (shutdown) leaves the request to finish, and
            # ``close`` learns its answer instead of posting the alert a second time.
            post = asyncio.ensure_future(self._client.post(self._url, json=self._payload(pending)))
            self._posting = (pending, post)
            try:
                response = await asyncio.shield(post)
            except httpx.HTTPError as exc:
                self._posting = None
                self.stats.failures += 1
                log.warning("slack post failed; retrying", error=type(exc).__name__, wait_s=delay)
                await self._sleep(delay)
                delay = min(delay * 2, self._retry_max_s)
                continue
            self._posting = None
            status = response.status_code
            if status == 200:
                self._delivered(pending)
                return
            if status == 429:
                self.stats.rate_limited += 1
                wait = _retry_after_s(response.headers.get("retry-after"), self._retry_min_s)
                log.warning("slack rate limited", wait_s=wait)
                await self._sleep(min(wait, self._retry_max_s))
                continue
            if status >= 500:
                self.stats.failures += 1
                log.warning("slack answered an error; retrying", status=status, wait_s=delay)
                await self._sleep(delay)
                delay = min(delay * 2, self._retry_max_s)
                continue
            self.stats.dropped += 1
            log.error(
                "slack refused the alert for good (check SLACK_WEBHOOK_URL)",
                status=status,
                title=pending.alert.title,
            )
            self._remove(pending)
            return

    def _payload(self, pending: _Pending) -> dict[str, str]:
        alert = pending.alert
        head = f"{_ICON[alert.severity]} *[{alert.severity}]* {alert.title}"
        extra = []
        if pending.count > 1:
            extra.append(f"{pending.count} times")
        if pending.held_back:
            extra.append(f"{pending.held_back} more since the previous alert")
        if extra:
            head += f" ({', '.join(extra)})"
        return {"text": head + (f"\n{alert.text}" if alert.text else "")}

    def _delivered(self, pending: _Pending) -> None:
        self.stats.posted += 1
        severity = pending.alert.severity
        self.stats.by_severity[severity] = self.stats.by_severity.get(severity, 0) + 1
        self._last_post[pending.alert.key] = self._clock()
        self._remove(pending)
        if pending.from_outbox:
            self._write_outbox([p for p in self._queue if p.from_outbox])

    def _enqueue(self, pending: _Pending) -> None:
        pending.id = next(self._ids)
        self._queue.append(pending)
        self._waiting[pending.alert.key] = pending
        self._wake.set()

    def _remove(self, pending: _Pending) -> None:
        self._queue.remove(pending)
        if self._waiting.get(pending.alert.key) is pending:
            del self._waiting[pending.alert.key]
        if not self._queue:
            self._emptied.set()

    # --- start and stop ---------------------------------------------------------------------

    async def close(self, timeout_s: float = 5.0) -> None:
        """Try to post what is queued for ``timeout_s``; keep undelivered critical alerts in
        the outbox for the next start; release the HTTP client."""
        await self._settle_post(timeout_s)
        if self._queue:
            worker = asyncio.ensure_future(self.run())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained(), timeout_s)
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        critical = [p for p in self._queue if p.alert.severity == "critical"]
        if critical or self._outbox_exists():
            self._write_outbox(critical)
        if critical:
            log.error("slack alerts not delivered; kept for the next start", count=len(critical))
        await self._client.aclose()

    async def _settle_post(self, timeout_s: float) -> None:
        """A post the cancelled worker left in flight: wait for its answer (delivered: done)."""
        if self._posting is None:
            return
        pending, post = self._posting
        self._posting = None
        try:
            response = await asyncio.wait_for(post, timeout_s)
        except (httpx.HTTPError, TimeoutError):
            return  # unknown or failed: it stays queued
        if response.status_code == 200 and pending in self._queue:
            self._delivered(pending)

    async def _drained(self) -> None:
        while self._queue:
            self._emptied.clear()
            await self._emptied.wait()

    def _outbox_exists(self) -> bool:
        return self._outbox is not None and self._outbox.exists()

    def _load_outbox(self) -> None:
        if not self._outbox_exists():
            return
        assert self._outbox is not None
        for line in self._outbox.read_bytes().splitlines():
            try:
                alert = msgspec.json.decode(line, type=Alert)
            except msgspec.DecodeError:
                log.warning("slack outbox: unreadable line skipped")
                continue
            self._enqueue(_Pending(alert, from_outbox=True))

    def _write_outbox(self, pending: list[_Pending]) -> None:
        if self._outbox is None:
            return
        if not pending:
            self._outbox.unlink(missing_ok=True)
            return
        tmp = self._outbox.with_suffix(".tmp")
        tmp.write_bytes(b"".join(msgspec.json.encode(p.alert) + b"\n" for p in pending))
        tmp.replace(self._outbox)


def _retry_after_s(header: str | None, default: float) -> float:
    try:
        return max(0.0, float(header)) if header else default
    except ValueError:
        return default
