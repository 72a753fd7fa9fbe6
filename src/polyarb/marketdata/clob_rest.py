"""Public CLOB REST reads: order books, midpoints, prices, tick sizes and server time.

The wire quirks (protocol reference section 3.1 and 9) are handled here and nowhere else: book
levels arrive best LAST (bids ascending, asks descending) and are returned best FIRST; every price
and size is a string parsed exactly into integer units; ``/midpoint`` answers ``mid`` (not
``mid_price``); ``/price`` answers a string; ``/tick-size`` answers a JSON number (decoded straight
into ``Decimal``, never through a float); ``/time`` answers a bare integer of seconds; plural reads
are POSTs. Transport errors and 5xx answers are retried with jittered exponential backoff; any other
status is answered at once with a clear error. No credential is ever sent or logged here.

A book's ``hash`` is verified before the book is used (``book_hash``): the SHA-1 of the compact JSON
of the answer with ``hash`` set to "" and its keys in the venue's order (protocol reference 3.1).
An answer whose hash does not match is malformed (``MalformedMessage``), never applied.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import msgspec
import structlog
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from polyarb.domain.book import Side
from polyarb.domain.errors import MalformedMessage, PolyarbError, Transient
from polyarb.domain.numbers import decimal_to_price, parse_price, parse_size
from polyarb.marketdata.guard import CallGuard
from polyarb.marketdata.http_source import HttpSource

log = structlog.get_logger(__name__)

T = TypeVar("T")

# Tokens per POST /books or /midpoints request (kept conservative).
BOOKS_BATCH = 100


TOO_MANY_REQUESTS = 429  # rate limited: the breaker counts it as a failure, not a business 4xx


class ClobRestError(PolyarbError):
    """The CLOB answered with an error status that retrying will not fix (4xx)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class BookNotFound(ClobRestError):
    """404: the venue has no order book (or market) for this token id."""


class VenueUnreachable(Transient):
    """The CLOB could not be reached (connection refused, DNS, timeout) or kept failing (5xx)."""


@dataclass(frozen=True, slots=True)
class BookSnapshot:
    """One token's full book as the REST API serves it, in exact integer units.

    ``bids`` and ``asks`` are (price 1e-4, size 1e-6) pairs, best FIRST (the wire sends best last).
    """

    token_id: str
    market: str
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]
    ts_event_ms: int
    hash: str = ""
    tick: int = 100  # 1e-4 units
    min_order_size: int = 0  # 1e-6 share units
    neg_risk: bool = False
    last_trade_price: int | None = None

    def best_bid(self) -> int | None:
        return self.bids[0][0] if self.bids else None

    def best_ask(self) -> int | None:
        return self.asks[0][0] if self.asks else None


class _WireLevel(msgspec.Struct):
    price: str
    size: str


class _WireBook(msgspec.Struct):
    asset_id: str
    market: str = ""
    bids: list[_WireLevel] = []
    asks: list[_WireLevel] = []
    timestamp: str = "0"
    hash: str = ""
    min_order_size: str = "0"
    tick_size: str = "0.01"
    neg_risk: bool = False
    last_trade_price: str = ""


class _Midpoint(msgspec.Struct):
    mid: str | None = None


class _Price(msgspec.Struct):
    price: str | None = None


class _TickSize(msgspec.Struct):
    minimum_tick_size: Decimal


class _Error(msgspec.Struct):
    error: str = ""


# The keys of a book summary in the order the venue hashes them.
BOOK_HASH_KEYS = (
    "market",
    "asset_id",
    "timestamp",
    "hash",
    "bids",
    "asks",
    "min_order_size",
    "tick_size",
    "neg_risk",
    "last_trade_price",
)
_raw_book = msgspec.json.Decoder(dict[str, Any])
_compact = msgspec.json.Encoder()


def book_hash(summary: dict[str, Any]) -> str:
    """The venue's hash of a book summary (a decoded ``/book`` object): SHA-1 of its compact JSON
    with ``hash`` blanked, keys in ``BOOK_HASH_KEYS`` order (those the answer has), each level as
    ``{"price","size"}``."""
    ordered: dict[str, Any] = {}
    for key in BOOK_HASH_KEYS:
        if key == "hash":
            ordered[key] = ""
        elif key in ("bids", "asks"):
            levels = summary.get(key) or []
            ordered[key] = [{"price": lvl.get("price"), "size": lvl.get("size")} for lvl in levels]
        elif key in summary:
            ordered[key] = summary[key]
    return hashlib.sha1(_compact.encode(ordered), usedforsecurity=False).hexdigest()


def verify_book_hash(content: bytes, what: str) -> None:
    """Raise MalformedMessage unless the answer's ``hash`` is the venue's hash of its content."""
    try:
        summary = _raw_book.decode(content)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MalformedMessage(f"CLOB {what}: unexpected answer: {exc}") from None
    _verify_summary(summary, what)


def _verify_summary(summary: dict[str, Any], what: str) -> None:
    sides = [summary.get("bids") or [], summary.get("asks") or []]
    levels_ok = all(isinstance(side, list) for side in sides) and all(
        isinstance(level, dict) for side in sides for level in side
    )
    sent = summary.get("hash")
    if not levels_ok or not isinstance(sent, str):
        raise MalformedMessage(f"CLOB {what}: no book hash to verify")
    expected = book_hash(summary)
    if sent != expected:
        raise MalformedMessage(
            f"CLOB {what}: book hash mismatch (answer says {sent[:40]!r}, content hashes to "
            f"{expected})"
        )


def _levels_best_first(levels: list[_WireLevel], *, is_bid: bool) -> tuple[tuple[int, int], ...]:
    pairs = [(parse_price(lvl.price), parse_size(lvl.size)) for lvl in levels]
    # Sort instead of trusting the wire order: bids descending and asks ascending = best first.
    pairs.sort(reverse=is_bid)
    return tuple(p for p in pairs if p[1])


def _parse_book(wire: _WireBook) -> BookSnapshot:
    """Turn one decoded wire book into a ``BookSnapshot``; bad numbers raise ``ValueError`` or
    ``ArithmeticError``."""
    return BookSnapshot(
        token_id=wire.asset_id,
        market=wire.market,
        bids=_levels_best_first(wire.bids, is_bid=True),
        asks=_levels_best_first(wire.asks, is_bid=False),
        ts_event_ms=int(wire.timestamp or 0),
        hash=wire.hash,
        tick=decimal_to_price(Decimal(wire.tick_size)),
        min_order_size=parse_size(wire.min_order_size or "0"),
        neg_risk=wire.neg_risk,
        last_trade_price=parse_price(wire.last_trade_price) if wire.last_trade_price else None,
    )


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    return isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code >= 500


def _error_text(response: httpx.Response) -> str:
    try:
        text = msgspec.json.decode(response.content, type=_Error).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = response.text
    return text.strip()[:200] or response.reason_phrase


class ClobRestClient(HttpSource):
    """Async client for the public CLOB market-data endpoints (no authentication).

    ``client`` may be a shared ``httpx.AsyncClient``; it is then not closed by ``aclose``.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        attempts: int = 3,
        backoff_max_s: float = 2.0,
        client: httpx.AsyncClient | None = None,
        guard: CallGuard | None = None,
    ) -> None:
        super().__init__(
            base_url,
            timeout_s=timeout_s,
            headers={"Accept": "*/*", "User-Agent": "polyarb"},
            client=client,
            guard=guard,
        )
        self._attempts = max(1, attempts)
        self._backoff_max_s = backoff_max_s

    # --- endpoints ------------------------------------------------------------------------

    async def book(self, token_id: str) -> BookSnapshot:
        """GET /book: the token's full book; ``BookNotFound`` when the venue has none."""
        response = await self._request("GET", "/book", params={"token_id": token_id})
        return self._decode_book(response.content, f"/book?token_id={token_id}")

    async def books(self, token_ids: Iterable[str]) -> list[BookSnapshot]:
        """POST /books in batches; tokens without a book are simply absent from the answer."""
        ids = list(token_ids)
        out: list[BookSnapshot] = []
        for start in range(0, len(ids), BOOKS_BATCH):
            body = [{"token_id": t} for t in ids[start : start + BOOKS_BATCH]]
            response = await self._request("POST", "/books", json=body)
            for summary in self._decode(response.content, list[dict[str, Any]], "/books"):
                _verify_summary(summary, "/books")
            wires = self._decode(response.content, list[_WireBook], "/books")
            try:
                out.extend(_parse_book(w) for w in wires)
            except (ValueError, ArithmeticError) as exc:
                raise MalformedMessage(f"CLOB /books: bad number: {exc}") from None
        return out

    async def midpoint(self, token_id: str) -> Decimal | None:
        """GET /midpoint (``mid``); None when the venue has no book or no two-sided quote."""
        try:
            response = await self._request("GET", "/midpoint", params={"token_id": token_id})
        except BookNotFound:
            return None
        mid = self._decode(response.content, _Midpoint, "/midpoint").mid
        return self._decimal(mid, "/midpoint")

    async def midpoints(self, token_ids: Iterable[str]) -> dict[str, Decimal]:
        """POST /midpoints in batches: token id -> mid; tokens without a mid are absent."""
        ids = list(token_ids)
        out: dict[str, Decimal] = {}
        for start in range(0, len(ids), BOOKS_BATCH):
            body = [{"token_id": t} for t in ids[start : start + BOOKS_BATCH]]
            response = await self._request("POST", "/midpoints", json=body)
            answer = self._decode(response.content, dict[str, str | None], "/midpoints")
            for token_id, text in answer.items():
                mid = self._decimal(text, "/midpoints")
                if mid is not None:
                    out[token_id] = mid
        return out

    async def price(self, token_id: str, side: Side) -> Decimal | None:
        """GET /price: BUY -> best bid, SELL -> best ask (per the venue docs); None when absent."""
        try:
            response = await self._request(
                "GET", "/price", params={"token_id": token_id, "side": side.value}
            )
        except BookNotFound:
            return None
        return self._decimal(self._decode(response.content, _Price, "/price").price, "/price")

    async def tick_size(self, token_id: str) -> Decimal:
        """GET /tick-size: ``minimum_tick_size`` is a JSON number, decoded exactly."""
        response = await self._request("GET", "/tick-size", params={"token_id": token_id})
        return self._decode(response.content, _TickSize, "/tick-size").minimum_tick_size

    async def server_time(self) -> int:
        """GET /time: the venue clock in Unix seconds (a bare integer)."""
        response = await self._request("GET", "/time")
        return self._decode(response.content, int, "/time")

    # --- plumbing -------------------------------------------------------------------------

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        guard = self.guard
        if guard is None:
            return await self._send(method, path, **kwargs)
        guard.check()
        try:
            response = await self._send(method, path, **kwargs)
        except VenueUnreachable as exc:
            guard.record_failure(str(exc))
            raise
        except ClobRestError as exc:
            if exc.status == TOO_MANY_REQUESTS:
                guard.record_failure(str(exc))
            else:
                guard.record_success()  # a business 4xx (unknown token ...): the venue works
            raise
        guard.record_success()
        return response

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = self.base_url + path
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_random_exponential(multiplier=0.1, max=self._backoff_max_s),
            retry=retry_if_exception(_is_retryable),
            before_sleep=lambda state: log.warning(
                "clob_retry",
                method=method,
                path=path,
                attempt=state.attempt_number,
                error=repr(state.outcome.exception()) if state.outcome else "",
            ),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    response = await self._client.request(method, url, **kwargs)
                    if response.status_code >= 500:
                        response.raise_for_status()
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            raise VenueUnreachable(
                f"CLOB {method} {path} failed with HTTP {status} after {self._attempts} "
                f"attempt(s): {_error_text(exc.response)}"
            ) from None
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise VenueUnreachable(
                f"cannot reach the CLOB at {self.base_url} ({method} {path}): {reason}"
            ) from None
        if response.status_code == 404:
            raise BookNotFound(f"CLOB {path}: not found (404): {_error_text(response)}", status=404)
        if response.status_code >= 400:
            raise ClobRestError(
                f"CLOB {method} {path}: HTTP {response.status_code}: {_error_text(response)}",
                status=response.status_code,
            )
        return response

    @staticmethod
    def _decode(content: bytes, kind: type[T], what: str) -> T:
        try:
            return msgspec.json.decode(content, type=kind)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise MalformedMessage(f"CLOB {what}: unexpected answer: {exc}") from None

    def _decode_book(self, content: bytes, what: str) -> BookSnapshot:
        verify_book_hash(content, what)
        wire = self._decode(content, _WireBook, what)
        try:
            return _parse_book(wire)
        except (ValueError, ArithmeticError) as exc:
            raise MalformedMessage(f"CLOB {what}: bad number: {exc}") from None

    @staticmethod
    def _decimal(text: str | None, what: str) -> Decimal | None:
        if text is None or text == "":
            return None
        try:
            value = Decimal(text)
        except ArithmeticError:
            raise MalformedMessage(f"CLOB {what}: not a number: {text[:40]!r}") from None
        if not value.is_finite():
            raise MalformedMessage(f"CLOB {what}: not a finite number: {text[:40]!r}")
        return value
