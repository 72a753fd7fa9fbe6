"""The CLOB market-channel feed: sharded WebSocket connections keeping a ``BookStore`` current.

One asyncio task per shard of at most ``assets_per_connection`` tokens (the venue allows ~500 per
connection; several connections also bound the blast radius of one bad connection). Each task
connects, subscribes, sends the text ``PING`` heartbeat, hands every frame to the recorder and to
the ``BookStore``, and reconnects with jittered exponential backoff when anything goes wrong,
marking its books stale until the fresh snapshots of the resubscription arrive.

Liveness is judged by data age per CONNECTION, never per market: a quiet market is normal
(``price_change`` fires only on change), and a per-market silence watchdog caused resubscribe
storms in production. A connection, however, always hears something: the venue answers every
``PING`` with ``PONG``. A connection silent for ``silence_timeout_s`` is black-holed (it would never
close by itself) and is torn down. Ground truth comes from REST: every ``rest_check_interval_s``
the local mids are compared with a batched ``POST /midpoints``; after ``rest_check_strikes``
consecutive mismatches beyond ``rest_check_tolerance`` the book is replaced by ``GET /book``. A
book left stale mid-stream (cleared by a ``tick_size_change``, or invalidated by a malformed
update) is refetched from REST too, because the venue does not always resend it.

Ordering (docs/architecture.md, "Arrival order"): the stream is applied in arrival order; a REST
snapshot is merged by buffering the token's stream messages while the request is in flight,
applying the snapshot, then replaying every buffered message in arrival order. A snapshot older
than the stream the book had already applied when the request left is refused and the token is
resubscribed on its connection instead (the venue then sends its snapshot in stream order).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec
import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake

from polyarb.domain.errors import PolyarbError
from polyarb.marketdata.books import BookStore
from polyarb.marketdata.clob_rest import ClobRestClient

log = structlog.get_logger(__name__)

MAX_ASSETS_PER_CONNECTION = 500
# Initial snapshots of hundreds of deep books arrive as one array frame: allow big frames.
MAX_FRAME_BYTES = 128 << 20
OPEN_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 1.0
REST_CONCURRENCY = 8
_PING = "PING"
_PONG = "PONG"

FrameCallback = Callable[[int, str], None]
UpdateCallback = Callable[[set[str], int], None]


@dataclass(frozen=True)
class FeedConfig:
    """Tuning of the feed; ``from_settings`` reads the ``POLY_WS_*``/``POLY_REST_*`` values."""

    assets_per_connection: int = 200
    ping_interval_s: float = 10
    silence_timeout_s: float = 60
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 60
    rest_check_interval_s: float = 30  # 0 disables the REST cross-check
    rest_check_tolerance: Decimal = Decimal("0.05")
    rest_check_strikes: int = 3
    healthy_after_s: float = 30  # a connection that lived this long resets the backoff
    refetch_grace_s: float = 1.0  # wait this long for the venue's own snapshot before REST

    def __post_init__(self) -> None:
        if not 1 <= self.assets_per_connection <= MAX_ASSETS_PER_CONNECTION:
            raise ValueError(
                f"assets_per_connection must be 1..{MAX_ASSETS_PER_CONNECTION} "
                f"(got {self.assets_per_connection})"
            )
        if self.reconnect_min_s <= 0 or self.reconnect_min_s > self.reconnect_max_s:
            raise ValueError("reconnect_min_s must be > 0 and <= reconnect_max_s")
        if self.ping_interval_s <= 0 or self.silence_timeout_s <= 0:
            raise ValueError("ping_interval_s and silence_timeout_s must be > 0")
        if self.rest_check_strikes < 1:
            raise ValueError("rest_check_strikes must be >= 1")

    @classmethod
    def from_settings(cls, settings: object) -> FeedConfig:
        """Build from any object with the ``poly_ws_*``/``poly_rest_*`` attributes (Settings)."""
        default = cls()

        def pick(name: str, fallback: Any) -> Any:
            return getattr(settings, name, fallback)

        return cls(
            assets_per_connection=int(
                pick("poly_ws_assets_per_connection", default.assets_per_connection)
            ),
            ping_interval_s=float(pick("poly_ws_ping_interval_s", default.ping_interval_s)),
            silence_timeout_s=float(pick("poly_ws_silence_timeout_s", default.silence_timeout_s)),
            reconnect_min_s=float(pick("poly_ws_reconnect_min_s", default.reconnect_min_s)),
            reconnect_max_s=float(pick("poly_ws_reconnect_max_s", default.reconnect_max_s)),
            rest_check_interval_s=float(
                pick("poly_rest_check_interval_s", default.rest_check_interval_s)
            ),
            rest_check_tolerance=Decimal(
                str(pick("poly_rest_check_tolerance", default.rest_check_tolerance))
            ),
            rest_check_strikes=int(pick("poly_rest_check_strikes", default.rest_check_strikes)),
        )


@dataclass
class ShardStats:
    """Counters of one connection shard (plain ints, read by status displays and metrics)."""

    shard: int
    tokens: int
    connects: int = 0  # successful opens
    reconnects: int = 0  # connection losses followed by a new attempt (all reasons)
    reconnect_reasons: dict[str, int] = field(default_factory=dict)
    frames: int = 0  # every received frame, PONG included
    pongs: int = 0
    pings_sent: int = 0
    callback_errors: int = 0  # the recorder or the update callback raised
    last_frame_ns: int = 0  # wall-clock receive time of the last frame
    connected: bool = False
    ready: bool = False  # received its first snapshots


@dataclass
class RestCheckStats:
    rounds: int = 0  # completed cross-check rounds
    checks: int = 0  # midpoint comparisons made
    mismatches: int = 0
    repairs: int = 0  # books replaced after consecutive mismatches
    refetches: int = 0  # books left stale mid-stream (tick size change, bad update) refetched
    check_repairs: int = 0  # of those, books the best_bid/best_ask check found wrong
    stale_snapshots: int = 0  # REST answers older than the stream: refused, token resubscribed
    resubscribes: int = 0
    refreshes: int = 0  # books refetched on request (a binary market's torn view)
    errors: int = 0


class _Shard:
    __slots__ = ("index", "pending", "ready_event", "stats", "token_set", "tokens", "ws")

    def __init__(self, index: int, tokens: list[str]) -> None:
        self.index = index
        self.tokens = tokens
        # What this connection's stream is the truth for; grows in place when tokens are added
        # (``MarketFeed.add_tokens``), so the receiving loop sees them at once.
        self.token_set = set(tokens)
        self.ws: ClientConnection | None = None  # the open connection, for resubscriptions
        self.pending = set(tokens)  # tokens without a first snapshot yet
        self.ready_event = asyncio.Event()
        self.stats = ShardStats(shard=index, tokens=len(tokens))


_encoder = msgspec.json.Encoder()


def shard_tokens(token_ids: Sequence[str], per_connection: int) -> list[list[str]]:
    """Split the (deduplicated, order-kept) token ids into chunks of ``per_connection``."""
    unique = list(dict.fromkeys(token_ids))
    return [unique[i : i + per_connection] for i in range(0, len(unique), per_connection)]


class _Backoff:
    """Exponential backoff with jitter between ``low`` and a cap that doubles per failure."""

    def __init__(self, low: float, high: float) -> None:
        self.low = low
        self.high = high
        self.failures = 0

    def next_delay(self) -> float:
        cap = min(self.high, self.low * 2 ** min(self.failures + 1, 32))
        self.failures += 1
        return random.uniform(self.low, max(self.low, cap))

    def reset(self) -> None:
        self.failures = 0


class MarketFeed:
    """Keeps ``books`` current from the CLOB market channel; see the module docstring."""

    def __init__(
        self,
        ws_url: str,
        token_ids: Sequence[str],
        books: BookStore,
        config: FeedConfig,
        *,
        rest: ClobRestClient | None = None,
        on_frame: FrameCallback | None = None,
        on_update: UpdateCallback | None = None,
    ) -> None:
        self.ws_url = ws_url
        self.books = books
        self.config = config
        self.rest = rest
        self._on_frame = on_frame
        self._on_update = on_update
        self._shards = [
            _Shard(i, chunk)
            for i, chunk in enumerate(shard_tokens(token_ids, config.assets_per_connection))
        ]
        self.token_ids: tuple[str, ...] = tuple(t for s in self._shards for t in s.tokens)
        self._shard_of = {t: s for s in self._shards for t in s.tokens}
        self.stats: dict[int, ShardStats] = {s.index: s.stats for s in self._shards}
        self.rest_stats = RestCheckStats()
        self._strikes: dict[str, int] = {}
        # Tokens with a REST snapshot request in flight -> the frames mentioning them meanwhile.
        self._in_flight: dict[str, list[tuple[str, int]]] = {}
        self._resolved: set[str] = set()
        self._background: set[asyncio.Task[None]] = set()

    # --- public ---------------------------------------------------------------------------

    @property
    def shard_tokens(self) -> list[list[str]]:
        return [list(s.tokens) for s in self._shards]

    async def run(self) -> None:
        """Run every shard (and the REST cross-check) until cancelled."""
        tasks = [
            asyncio.create_task(self._run_shard(s), name=f"feed-shard-{s.index}")
            for s in self._shards
        ]
        if self.rest is not None and self.config.rest_check_interval_s > 0:
            tasks.append(asyncio.create_task(self._rest_check_loop(), name="feed-rest-check"))
        try:
            if tasks:
                await asyncio.gather(*tasks)
            else:
                await asyncio.Event().wait()
        finally:
            for task in (*tasks, *self._background):
                task.cancel()
            await asyncio.gather(*tasks, *self._background, return_exceptions=True)
            # Nobody keeps these books current any more: no strategy may trade on them.
            self.books.mark_stale(self.token_ids)
            for s in self._shards:
                s.stats.connected = False

    async def add_tokens(self, token_ids: Sequence[str]) -> list[str]:
        """Follow more tokens (new outcomes and markets found while running): each goes on the
        last connection while it has room, subscribed on the live connection with the venue's
        ``subscribe`` operation (the venue answers with its snapshot in stream order), else on a
        new connection. Tokens already followed are ignored; returns the ones added. A
        connection that is down subscribes all its tokens when it reconnects."""
        added = [t for t in dict.fromkeys(token_ids) if t not in self._shard_of]
        per_connection = self.config.assets_per_connection
        left = list(added)
        while left:
            last = self._shards[-1] if self._shards else None
            fresh = last is None or len(last.tokens) >= per_connection
            shard = _Shard(len(self._shards), []) if fresh or last is None else last
            chunk, left = (
                left[: per_connection - len(shard.tokens)],
                left[per_connection - len(shard.tokens) :],
            )
            shard.tokens.extend(chunk)
            shard.token_set.update(chunk)
            shard.pending.update(chunk)
            shard.stats.tokens = len(shard.tokens)
            for token_id in chunk:
                self._shard_of[token_id] = shard
            if fresh:
                self._shards.append(shard)
                self.stats[shard.index] = shard.stats
                task = asyncio.create_task(self._run_shard(shard), name=f"feed-shard-{shard.index}")
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            elif shard.ws is not None:
                message = {
                    "operation": "subscribe",
                    "assets_ids": chunk,
                    "custom_feature_enabled": True,
                }
                with contextlib.suppress(ConnectionClosed):  # the reconnection subscribes them
                    await shard.ws.send(_encoder.encode(message).decode())
        if added:
            self.token_ids = tuple(t for s in self._shards for t in s.tokens)
            log.info("feed_tokens_added", tokens=len(added), connections=len(self._shards))
        return added

    async def wait_ready(self, timeout: float) -> None:  # noqa: ASYNC109 (the contract's shape)
        """Return once every shard received its first snapshots; ``TimeoutError`` otherwise."""
        try:
            async with asyncio.timeout(timeout):
                for s in self._shards:
                    await s.ready_event.wait()
        except TimeoutError:
            waiting = [s.index for s in self._shards if not s.ready_event.is_set()]
            raise TimeoutError(
                f"market feed not ready after {timeout:g}s: shard(s) {waiting} "
                f"have no initial snapshot from {self.ws_url}"
            ) from None

    def totals(self) -> dict[str, int]:
        """Summed counters over the shards, for status lines and metrics."""
        shards = self.stats.values()
        return {
            "shards": len(self._shards),
            "connected": sum(s.connected for s in shards),
            "frames": sum(s.frames for s in shards),
            "pongs": sum(s.pongs for s in shards),
            "connects": sum(s.connects for s in shards),
            "reconnects": sum(s.reconnects for s in shards),
            "callback_errors": sum(s.callback_errors for s in shards),
            "repairs": self.rest_stats.repairs,
            "refetches": self.rest_stats.refetches,
            "check_repairs": self.rest_stats.check_repairs,
            "refreshes": self.rest_stats.refreshes,
        }

    async def check_books_against_rest(self) -> set[str]:
        """One REST cross-check round; returns the tokens whose book was repaired.

        One batched ``POST /midpoints`` per round (per 100 tokens), compared with the local mids
        read right after the answer; books that mismatched ``rest_check_strikes`` rounds in a
        row are replaced from ``GET /book``.
        """
        rest = self.rest
        if rest is None:
            return set()
        tokens = [t for t in self.token_ids if self._checkable(t)]
        try:
            rest_mids = await rest.midpoints(tokens)
        except PolyarbError as exc:
            self.rest_stats.errors += 1
            log.warning("feed_rest_check_failed", tokens=len(tokens), error=_one_line(exc))
            return set()
        suspects = [t for t in tokens if self._strike(t, rest_mids.get(t))]
        gate = asyncio.Semaphore(REST_CONCURRENCY)
        repaired: set[str] = set()

        async def repair(token_id: str) -> None:
            async with gate:
                if await self._repair(rest, token_id):
                    repaired.add(token_id)

        await asyncio.gather(*(repair(t) for t in suspects))
        self.rest_stats.rounds += 1
        return repaired

    # --- one shard --------------------------------------------------------------------------

    async def _run_shard(self, shard: _Shard) -> None:
        backoff = _Backoff(self.config.reconnect_min_s, self.config.reconnect_max_s)
        stats = shard.stats
        while True:
            started = time.monotonic()
            reason = await self._session(shard)
            lived = time.monotonic() - started
            stats.connected = False
            stats.reconnects += 1
            stats.reconnect_reasons[reason] = stats.reconnect_reasons.get(reason, 0) + 1
            self.books.mark_stale(shard.tokens)
            if lived >= self.config.healthy_after_s:
                backoff.reset()
            delay = backoff.next_delay()
            log.warning(
                "feed_reconnect",
                shard=shard.index,
                reason=reason,
                lived_s=round(lived, 3),
                delay_s=round(delay, 3),
            )
            await asyncio.sleep(delay)

    async def _session(self, shard: _Shard) -> str:
        """Connect, subscribe and consume until the connection is lost; return why it ended."""
        try:
            async with connect(
                self.ws_url,
                compression=None,  # permessage-deflate halves receive throughput
                max_size=MAX_FRAME_BYTES,
                ping_interval=None,  # liveness: text PING + data-age watchdog (below)
                open_timeout=OPEN_TIMEOUT_S,
                close_timeout=CLOSE_TIMEOUT_S,
            ) as ws:
                _no_delay(ws)
                try:
                    return await self._consume(ws, shard)
                except asyncio.CancelledError:
                    # Shutting down: say goodbye with a normal close (1000), not an error (1011).
                    with contextlib.suppress(Exception):
                        await ws.close()
                    raise
        except asyncio.CancelledError:
            raise
        except ConnectionClosedOK:
            return "closed"
        except ConnectionClosed:
            return "dropped"
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            log.warning(
                "feed_connect_failed", shard=shard.index, url=self.ws_url, error=_one_line(exc)
            )
            return "connect_failed"
        except Exception:
            log.exception("feed_session_error", shard=shard.index)
            return "error"

    async def _consume(self, ws: ClientConnection, shard: _Shard) -> str:
        stats = shard.stats
        stats.connects += 1
        stats.connected = True
        subscribe = {"assets_ids": shard.tokens, "type": "market", "custom_feature_enabled": True}
        await ws.send(_encoder.encode(subscribe).decode())
        shard.ws = ws
        log.info("feed_connected", shard=shard.index, tokens=len(shard.tokens), url=self.ws_url)
        receiver = asyncio.create_task(self._receive(ws, shard))
        pinger = asyncio.create_task(self._ping(ws, shard))
        watchdog = asyncio.create_task(self._watch_silence(shard))
        try:
            done, _ = await asyncio.wait(
                {receiver, pinger, watchdog}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in (receiver, pinger, watchdog):
                task.cancel()
            await asyncio.gather(receiver, pinger, watchdog, return_exceptions=True)
            # Stale at once: closing a black-holed connection can still take CLOSE_TIMEOUT_S.
            shard.ws = None
            stats.connected = False
            self.books.mark_stale(shard.tokens)
        if watchdog in done:
            log.warning("feed_silent", shard=shard.index, silence_s=self.config.silence_timeout_s)
            return "silence"
        for task in (receiver, pinger):
            if task in done:
                error = task.exception()
                if error is None or isinstance(error, ConnectionClosedOK):
                    return "closed"
                if isinstance(error, ConnectionClosed):
                    return "dropped"
                log.error("feed_receive_error", shard=shard.index, error=_one_line(error))
                return "error"
        return "error"

    async def _receive(self, ws: ClientConnection, shard: _Shard) -> None:
        stats = shard.stats
        books = self.books
        on_frame = self._on_frame
        on_update = self._on_update
        book_map = books.books
        time_ns = time.time_ns
        in_flight = self._in_flight
        mine = shard.token_set
        first = True
        async for message in ws:
            recv_ns = time_ns()
            stats.frames += 1
            stats.last_frame_ns = recv_ns
            if message == _PONG:
                stats.pongs += 1
                continue
            raw = message if isinstance(message, str) else message.decode("utf-8", "replace")
            if on_frame is not None:
                try:
                    on_frame(recv_ns, raw)
                except Exception as exc:
                    self._callback_failed(shard, "on_frame", exc)
            try:
                changed = books.on_frame(raw, recv_ns, mine)
            except Exception as exc:  # the BookStore promises not to raise; stay alive anyway
                self._callback_failed(shard, "books", exc)
                continue
            if not stats.ready:
                self._note_progress(shard, raw, changed, first)
            first = False
            if in_flight:
                for token_id, kept in in_flight.items():
                    if token_id in mine and token_id in raw:
                        kept.append((raw, recv_ns))
            if changed:
                for token_id in changed:
                    book = book_map.get(token_id)
                    if book is not None and book.stale and token_id not in in_flight:
                        self._on_stale_book(token_id, raw)
                if on_update is not None:
                    try:
                        on_update(changed, recv_ns)
                    except Exception as exc:
                        self._callback_failed(shard, "on_update", exc)

    def _note_progress(self, shard: _Shard, raw: str, changed: set[str], first: bool) -> None:
        """Mark the shard ready once its tokens have snapshots (or the initial dump arrived)."""
        pending = shard.pending
        book_map = self.books.books
        for token_id in changed & pending:
            book = book_map.get(token_id)
            if book is not None and not book.stale:
                pending.discard(token_id)
        # The venue's first frame is ONE array of every known token's book; unknown tokens are
        # simply absent (``[]`` when none is known), so after it nothing more is coming.
        initial_dump = first and raw.lstrip()[:1] == "["
        if pending and not initial_dump:
            return
        if pending:
            log.warning("feed_tokens_without_book", shard=shard.index, tokens=len(pending))
        shard.stats.ready = True
        shard.ready_event.set()
        log.info("feed_ready", shard=shard.index)

    async def _ping(self, ws: ClientConnection, shard: _Shard) -> None:
        interval = self.config.ping_interval_s
        while True:
            await asyncio.sleep(interval)
            await ws.send(_PING)
            shard.stats.pings_sent += 1

    async def _watch_silence(self, shard: _Shard) -> None:
        """Return when the connection has received nothing for ``silence_timeout_s``."""
        timeout = self.config.silence_timeout_s
        step = min(1.0, timeout / 4)
        seen = shard.stats.frames
        last_change = time.monotonic()
        while True:
            await asyncio.sleep(step)
            # A book that disagrees with the venue and then hears nothing more must not wait for
            # the next message to be found out.
            for token_id in self.books.expire_mismatches(time.time_ns()):
                if token_id in self._shard_of and token_id not in self._in_flight:
                    self._schedule_refetch(token_id)
            frames = shard.stats.frames
            now = time.monotonic()
            if frames != seen:
                seen = frames
                last_change = now
            elif now - last_change >= timeout:
                return

    def _callback_failed(self, shard: _Shard, where: str, exc: Exception) -> None:
        shard.stats.callback_errors += 1
        count = shard.stats.callback_errors
        if count <= 5 or count % 1000 == 0:
            log.error(
                "feed_callback_error", shard=shard.index, where=where, count=count, error=repr(exc)
            )

    # --- REST: refetch after tick size change, cross-check, repair ---------------------------

    def refresh(self, token_ids: Sequence[str]) -> None:
        """Refetch these books from REST ``/book`` now (a strategy found their views torn), by
        the repair path: the stream's messages are kept while each request is in flight and
        replayed after its snapshot. A token already being refetched is skipped."""
        rest = self.rest
        if rest is None:
            return
        for token_id in token_ids:
            if token_id in self._in_flight or token_id not in self._shard_of:
                continue
            task = asyncio.create_task(
                self._refresh_one(rest, token_id), name=f"feed-refresh-{token_id[:12]}"
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _refresh_one(self, rest: ClobRestClient, token_id: str) -> None:
        if await self._repair(rest, token_id, count=False):
            self.rest_stats.refreshes += 1
            log.info("feed_book_refreshed", token=token_id[:16])

    def _on_stale_book(self, token_id: str, raw: str) -> None:
        """A frame left a book stale while its connection is up: a tick size change cleared it,
        or a malformed update made its state unknown. The venue may never resend it, so fetch
        it from REST (after a grace period). A resolved market's book stays stale for good."""
        if token_id in self._resolved or self.books.disagreeing(token_id):
            return  # resolved for good / the integrity check decides whether to repair
        if "market_resolved" in raw:
            self._resolved.add(token_id)
            return
        self._schedule_refetch(token_id)

    def _schedule_refetch(self, token_id: str) -> None:
        if self.rest is None:
            return
        self._in_flight[token_id] = []  # also the guard against a second refetch
        # A book the integrity check found wrong is not waiting for a snapshot the venue will
        # send by itself (as after a tick size change): repair it at once.
        grace = 0.0 if token_id in self.books.check_failures else self.config.refetch_grace_s
        task = asyncio.create_task(
            self._refetch(token_id, grace), name=f"feed-refetch-{token_id[:12]}"
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _refetch(self, token_id: str, grace_s: float) -> None:
        """Fetch a stale book from REST unless the venue sent a snapshot during the grace."""
        try:
            await asyncio.sleep(grace_s)
            book = self.books.books.get(token_id)
            if book is None or not book.stale or self.rest is None:
                return  # the venue resent it
            if not self._shard_connected(token_id):
                return  # the resubscription will bring the snapshot
            failed_check = token_id in self.books.check_failures
            if await self._replace_from_rest(self.rest, token_id):
                self.rest_stats.refetches += 1
                self.rest_stats.check_repairs += failed_check
                log.info("feed_book_refetched", token=token_id[:16], failed_check=failed_check)
        except PolyarbError as exc:
            self.rest_stats.errors += 1
            log.warning("feed_refetch_failed", token=token_id[:16], error=_one_line(exc))
        finally:
            self._in_flight.pop(token_id, None)

    def _shard_connected(self, token_id: str) -> bool:
        shard = self._shard_of.get(token_id)
        return shard is not None and shard.stats.connected

    async def _rest_check_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.rest_check_interval_s)
            try:
                await self.check_books_against_rest()
            except Exception:
                self.rest_stats.errors += 1
                log.exception("feed_rest_check_error")

    def _checkable(self, token_id: str) -> bool:
        book = self.books.books.get(token_id)
        if book is None or book.stale or token_id in self._in_flight:
            self._strikes.pop(token_id, None)
            return False
        return True

    def _strike(self, token_id: str, rest_mid: Decimal | None) -> bool:
        """Compare one book with the REST mid; True when it has struck out and needs repair."""
        book = self.books.books.get(token_id)
        local_mid = None if book is None or book.stale else book.mid()
        if rest_mid is None or local_mid is None:
            return False  # one-sided or gone meanwhile: nothing to compare
        self.rest_stats.checks += 1
        # A crossed book (bid >= ask) cannot be the venue's: an update was lost or misapplied,
        # even when its mid happens to agree with REST.
        crossed = book is not None and book.is_crossed()
        if not crossed and abs(local_mid - rest_mid) <= self.config.rest_check_tolerance:
            self._strikes.pop(token_id, None)
            return False
        strikes = self._strikes.get(token_id, 0) + 1
        self.rest_stats.mismatches += 1
        log.warning(
            "feed_mid_mismatch",
            token=token_id[:16],
            local=str(local_mid),
            rest=str(rest_mid),
            crossed=crossed,
            strikes=strikes,
        )
        if strikes < self.config.rest_check_strikes:
            self._strikes[token_id] = strikes
            return False
        self._strikes.pop(token_id, None)
        return True

    async def _repair(self, rest: ClobRestClient, token_id: str, *, count: bool = True) -> bool:
        if token_id in self._in_flight:
            return False  # a refetch is already replacing it
        self._in_flight[token_id] = []
        try:
            repaired = await self._replace_from_rest(rest, token_id)
        except PolyarbError as exc:
            self.rest_stats.errors += 1
            log.warning("feed_repair_failed", token=token_id[:16], error=_one_line(exc))
            return False
        finally:
            self._in_flight.pop(token_id, None)
        if repaired and count:
            self.rest_stats.repairs += 1
            log.warning("feed_book_repaired", token=token_id[:16])
        return repaired

    async def _replace_from_rest(self, rest: ClobRestClient, token_id: str) -> bool:
        """Replace a book by ``GET /book``; False if the answer was refused.

        The caller holds ``token_id`` in ``_in_flight`` (the guard against a second request);
        every frame that mentions it is kept there while the request runs. The answer is some
        state of the venue's book at or after the moment the request left; the stream messages
        that followed that state are all among the kept frames. Sizes are absolute, so applying
        the snapshot and then replaying EVERY kept message of the token in arrival order gives
        exactly the venue's book, even when some kept messages are already in the snapshot (the
        last message to touch a level sets it, as on the venue; a kept ``book`` resets it).
        Timestamps cannot split the kept frames into "before" and "after" the snapshot (they need
        not rise); they only refuse an answer older than what the stream had already shown,
        which would lose the messages in between: the token is then resubscribed instead.
        """
        kept: list[tuple[str, int]] = []  # frames from before the request are of no use
        self._in_flight[token_id] = kept
        books = self.books
        book = books.books.get(token_id)
        stream_ts = book.ts_event_ms if book is not None else 0
        snapshot = await rest.book(token_id)
        if snapshot.ts_event_ms < stream_ts:
            self.rest_stats.stale_snapshots += 1
            log.warning(
                "feed_rest_snapshot_older_than_stream",
                token=token_id[:16],
                snapshot_ts=snapshot.ts_event_ms,
                stream_ts=stream_ts,
            )
            books.mark_stale([token_id])
            # The venue's snapshot is on its way: later refetches of this book wait their grace.
            books.check_failures.pop(token_id, None)
            await self._resubscribe(token_id)
            return False
        recv_ns = time.time_ns()
        books.apply_snapshot(
            token_id,
            snapshot.bids,
            snapshot.asks,
            snapshot.ts_event_ms,
            recv_ns,
            market=snapshot.market,
            book_hash=snapshot.hash,
        )
        book = books.books.get(token_id)
        if book is not None and snapshot.tick:
            book.tick = snapshot.tick
        for raw, frame_ns in kept:
            mine = token_messages(raw, token_id)
            if mine is not None:
                books.apply_again(mine, frame_ns)
        if self._on_update is not None:
            try:
                self._on_update({token_id}, recv_ns)
            except Exception:
                log.exception("feed_update_callback_error")
        return True

    async def _resubscribe(self, token_id: str) -> None:
        """Unsubscribe and subscribe one token on its connection: the venue answers with its
        snapshot in stream order (a plain second subscribe is refused as a duplicate)."""
        shard = self._shard_of.get(token_id)
        ws = shard.ws if shard is not None else None
        if ws is None:
            return  # not connected: the reconnection brings fresh snapshots
        self.rest_stats.resubscribes += 1
        try:
            for operation in ("unsubscribe", "subscribe"):
                message = {
                    "operation": operation,
                    "assets_ids": [token_id],
                    "custom_feature_enabled": True,
                }
                await ws.send(_encoder.encode(message).decode())
        except ConnectionClosed:
            return  # the reconnection brings fresh snapshots


# The stream messages that change one token's book, in the order a frame carries them.
_BOOK_EVENTS = ("book", "tick_size_change")


def token_messages(raw: str, token_id: str) -> bytes | None:
    """The messages of a frame that change one token's book (its ``book``, its
    ``tick_size_change`` and its ``price_change`` entries), as a frame of their own, in frame
    order (or None)."""
    try:
        decoded = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    out: list[dict[str, Any]] = []
    for item in decoded if isinstance(decoded, list) else [decoded]:
        if not isinstance(item, dict):
            continue
        kind = item.get("event_type")
        if kind in _BOOK_EVENTS:
            if item.get("asset_id") == token_id:
                out.append(item)
            continue
        if kind != "price_change":
            continue
        changes = item.get("price_changes")
        if isinstance(changes, list):
            mine = [c for c in changes if isinstance(c, dict) and c.get("asset_id") == token_id]
            if mine:
                out.append({**item, "price_changes": mine})
        elif item.get("asset_id") == token_id:  # the legacy one-asset format
            out.append(item)
    return _encoder.encode(out) if out else None


def _no_delay(ws: ClientConnection) -> None:
    """Frames go out as soon as they are written (the PING, subscriptions): no Nagle delay.

    asyncio sets TCP_NODELAY itself on sockets it connects, but not on every socket it may be
    handed (a socket whose ``proto`` is 0, other event loops): set it here, explicitly."""
    sock = ws.transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = [
    "FeedConfig",
    "MarketFeed",
    "RestCheckStats",
    "ShardStats",
    "shard_tokens",
    "token_messages",
]
