"""Slack alerts through an incoming webhook: rate-limited, coalesced, retried, never a secret.

``SlackNotifier.notify`` never blocks and never raises (it is called from the engine's sinks);
a worker task (``run``) posts the queue in order:

* **At most one post per ``min_interval_s``** (Slack allows about one message per second per
  webhook).
* **Coalescing**: an alert whose ``key`` is already waiting in the queue is merged into it (its
  count goes up, the newest text wins); one whose key was posted less than ``coalesce_s`` ago is
  held back and counted, and the count rides on the next post of that key ("3 more since").
  Critical alerts (all that ``keep`` names) are never held back, only merged while waiting.
* **Retries without loss or duplicates**: a 429 waits its ``Retry-After``; a 5xx or a network
  error waits an exponential backoff with jitter (``Backoff``, the bus's reconnect delays:
  ``retry_min_s`` doubling up to ``retry_max_s``); the same alert is
  retried until Slack answers 200 — it is taken off the queue only then, so nothing is lost and
  nothing is posted twice by us (Slack had refused every earlier attempt). A 4xx other than 429
  (a revoked or mistyped webhook) cannot succeed: logged as an error, the alert dropped.
* **Undelivered critical alerts survive a restart**: every alert is written to a ``journal``
  (the engine's: the database's ``alerts`` table, through the store's writer) as soon as it is
  queued, with its delivery ``pending``, and moved to ``sent``, ``coalesced`` or ``dropped``
  when that is known (at a clean stop, what is not worth a late post, ``keep``, is dropped).
  At the next start the engine hands the rows still ``pending`` over as ``undelivered``: those
  of a key with an alert worth it (critical by default) are posted first, the rest dropped. A
  crash between Slack's 200 and the journal's write can post one twice; a clean stop never does.
* **A circuit breaker** (``guard``, optional): 429s, 5xx and network errors count as failures,
  a 200 or another 4xx as Slack working; while it is open nothing is posted (the queue waits,
  nothing is lost), then one probe post tells.
* **No secret in a message**: every text passes ``redact``: the given secret values, the
  password of any ``scheme://user:password@`` URL and Slack webhook paths are masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import httpx
import msgspec
import structlog

from polyarb.domain.backoff import Backoff
from polyarb.domain.errors import CircuitOpen
from polyarb.domain.guard import CallGuard

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
    id: str = ""  # unique per occurrence (the journal's key); given by ``notify`` when empty


# none: an alert that is not for Slack (the dashboard's only); the others follow its post.
Delivery = Literal["none", "pending", "sent", "coalesced", "dropped"]


class AlertJournal(Protocol):
    """Where alerts and their delivery are kept (the engine: the ``alerts`` table)."""

    def queued(self, alert: Alert, delivery: Delivery) -> None:
        """A new occurrence: ``pending`` (to be posted), ``coalesced`` (held back), ``dropped``
        (the queue full) or ``none`` (not for Slack)."""

    def resolved(self, ids: Sequence[str], delivery: Delivery) -> None:
        """These occurrences were ``sent``, ``coalesced`` into another post or ``dropped``."""


@dataclass(slots=True)
class _Pending:
    alert: Alert
    count: int = 1  # occurrences merged into this post
    held_back: int = 0  # occurrences of the key held back since its previous post
    ids: list[str] = field(default_factory=list)  # the occurrences this post delivers
    seq: int = 0


@dataclass(slots=True)
class SlackStats:
    posted: int = 0
    attempts: int = 0
    rate_limited: int = 0  # 429 answers
    failures: int = 0  # 5xx and network errors (retried)
    dropped: int = 0  # refused for good (4xx other than 429)
    coalesced: int = 0  # occurrences merged or held back
    by_severity: dict[str, int] = field(default_factory=dict)


def prepared(alert: Alert, redact: Callable[[str], str]) -> Alert:
    """``alert`` as it is posted and kept: secrets masked (the key too: it is kept and
    published), a time and an id given."""
    return Alert(
        alert.severity,
        redact(alert.key),
        redact(alert.title),
        redact(alert.text),
        alert.ts_ns or time.time_ns(),
        alert.id or uuid.uuid4().hex,
    )


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
        journal: AlertJournal | None = None,
        undelivered: Sequence[Alert] = (),
        keep: Callable[[Alert], bool] = lambda alert: alert.severity == "critical",
        guard: CallGuard | None = None,
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
        self._journal = journal
        self._keep = keep  # undelivered at shutdown: left pending for the next start
        self._guard = guard  # Slack's circuit breaker: no post while it is open
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
        self._seqs = itertools.count(1)
        self._last_attempt = float("-inf")
        self.stats = SlackStats()
        self._restore(undelivered)

    # --- the engine's side ------------------------------------------------------------------

    def prepare(self, alert: Alert) -> Alert:
        """``alert`` as it will be posted and kept: secrets masked, a time and an id given."""
        return prepared(alert, self._redact)

    def notify(self, alert: Alert) -> bool:
        """Queue ``alert``; False when it was merged or held back (coalesced)."""
        return self._queue_alert(self.prepare(alert), journal=True)

    def _restore(self, undelivered: Sequence[Alert]) -> None:
        """A previous run's ``pending`` alerts (journaled already): a key with one worth posting
        late (``keep``) is queued again, its occurrences merged; the rest is ``dropped``."""
        by_key: dict[str, list[Alert]] = {}
        for alert in undelivered:
            by_key.setdefault(alert.key, []).append(alert)
        for alerts in by_key.values():
            if any(self._keep(a) for a in alerts):
                for alert in alerts:
                    self._queue_alert(alert, journal=False)
            else:
                self._journal_resolved([a.id for a in alerts], "dropped")

    def post_journaled(self, alert: Alert) -> bool:
        """Queue ``alert`` whose row the caller already wrote (with delivery ``pending``)."""
        return self._queue_alert(self.prepare(alert), journal=False)

    def _queue_alert(self, alert: Alert, *, journal: bool) -> bool:
        waiting = self._waiting.get(alert.key)
        if waiting is not None:  # the newest text, the highest severity of the two
            waiting.count += 1
            waiting.ids.append(alert.id)
            severity = min(alert.severity, waiting.alert.severity, key=_RANK.__getitem__)
            waiting.alert = Alert(
                severity, alert.key, alert.title, alert.text, alert.ts_ns, waiting.alert.id
            )
            self.stats.coalesced += 1
            if journal:  # delivered with the post it joined
                self._journal_queued(alert, "pending")
            return False
        last = self._last_post.get(alert.key)
        recent = last is not None and self._clock() - last < self._coalesce_s
        if recent and not self._keep(alert):  # critical ones (and the kept) always go out
            self._held[alert.key] = self._held.get(alert.key, 0) + 1
            self.stats.coalesced += 1
            self._settle(alert, "coalesced", journal)
            return False
        if len(self._queue) >= self._max_queue:
            victim = next((p for p in self._queue if p.alert.severity == "info"), None)
            if victim is None:
                log.error("slack queue full; alert only logged", title=alert.title)
                self._settle(alert, "dropped", journal)
                return False
            self._remove(victim)
            self._journal_resolved(victim.ids, "dropped")
        if journal:
            self._journal_queued(alert, "pending")
        self._enqueue(_Pending(alert, held_back=self._held.pop(alert.key, 0), ids=[alert.id]))
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
        backoff = Backoff(self._retry_min_s, self._retry_max_s)
        while True:
            gap = self._last_attempt + self._min_interval_s - self._clock()
            if gap > 0:
                await self._sleep(gap)
            if self._guard is not None:
                try:
                    self._guard.check()
                except CircuitOpen:  # the alert waits, queued; the breaker says when to probe
                    await self._sleep(max(self._min_interval_s, self._retry_min_s))
                    continue
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
                self._record(f"{type(exc).__name__}")
                delay = backoff.next_delay()
                log.warning("slack post failed; retrying", error=type(exc).__name__, wait_s=delay)
                await self._sleep(delay)
                continue
            self._posting = None
            status = response.status_code
            # 429 and 5xx: Slack failing; 200 and any other 4xx (this payload refused): working.
            self._record(f"HTTP {status}" if status == 429 or status >= 500 else "")
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
                delay = backoff.next_delay()
                log.warning("slack answered an error; retrying", status=status, wait_s=delay)
                await self._sleep(delay)
                continue
            self.stats.dropped += 1
            log.error(
                "slack refused the alert for good (check SLACK_WEBHOOK_URL)",
                status=status,
                title=pending.alert.title,
            )
            self._remove(pending)
            self._journal_resolved(pending.ids, "dropped")
            return

    def _record(self, failure: str) -> None:
        if self._guard is None:
            return
        if failure:
            self._guard.record_failure(failure)
        else:
            self._guard.record_success()

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
        self._journal_resolved(pending.ids, "sent")

    def _settle(self, alert: Alert, delivery: Delivery, journal: bool) -> None:
        """``alert`` will not be posted by itself: a new one is journaled so, a journaled one
        (a restored or a caller's row) moves to ``delivery``."""
        if journal:
            self._journal_queued(alert, delivery)
        else:
            self._journal_resolved([alert.id], delivery)

    def _journal_queued(self, alert: Alert, delivery: Delivery) -> None:
        if self._journal is None:
            return
        try:
            self._journal.queued(alert, delivery)
        except Exception:  # the journal's trouble must not lose the alert in memory too
            log.exception("alert journal failed", title=alert.title)

    def _journal_resolved(self, ids: Sequence[str], delivery: Delivery) -> None:
        if self._journal is None or not ids:
            return
        try:
            self._journal.resolved(tuple(ids), delivery)
        except Exception:
            log.exception("alert journal failed", delivery=delivery)

    def _enqueue(self, pending: _Pending) -> None:
        pending.seq = next(self._seqs)
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
        """Try to post what is queued for ``timeout_s``; what is left stays ``pending`` in the
        journal (critical alerts are posted at the next start; the others are dropped, a stale
        warning is not worth a post later); release the HTTP client."""
        await self._settle_post(timeout_s)
        if self._queue:
            worker = asyncio.ensure_future(self.run())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained(), timeout_s)
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        kept = [p for p in self._queue if self._keep(p.alert)]
        stale = [i for p in self._queue if not self._keep(p.alert) for i in p.ids]
        self._journal_resolved(stale, "dropped")
        if kept:
            log.error("slack alerts not delivered; kept for the next start", count=len(kept))
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


def _retry_after_s(header: str | None, default: float) -> float:
    try:
        return max(0.0, float(header)) if header else default
    except ValueError:
        return default
