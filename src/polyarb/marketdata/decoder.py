"""Raw market-channel frames (text or bytes) to typed messages, never raising on bad input.

A frame is one JSON object, a JSON array of objects (the initial snapshots; ``[]`` for an unknown
token), or the text ``PONG``. The fast path decodes the whole frame with one typed msgspec
decoder. Only when that fails does the slow path look at the frame piece by piece, so that one
bad or unknown element of an array costs only itself: unknown ``event_type`` values are counted
and ignored, malformed elements are counted and a short sample is logged (rate-limited).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import msgspec
import structlog

from polyarb.marketdata.schemas import MESSAGE_TYPES, Frame, MarketMessage

log = structlog.get_logger(__name__)

SAMPLE_CHARS = 200


class DecodeCounters(Protocol):
    """Where the decoder counts what it skipped (``books.FeedStats`` is one)."""

    malformed: int
    unknown: int
    pongs: int


@dataclass
class DecodeStats:
    malformed: int = 0
    unknown: int = 0
    pongs: int = 0


def sample(raw: str | bytes | object, limit: int = SAMPLE_CHARS) -> str:
    """The first ``limit`` characters of an input, for a log line."""
    if isinstance(raw, bytes | bytearray | memoryview):
        text = bytes(raw[: limit * 4]).decode("utf-8", "replace")
    else:
        text = raw if isinstance(raw, str) else repr(raw)
    return text if len(text) <= limit else text[:limit] + "…"


class SampleLog:
    """Logs at most one sample per ``interval_s``; says how many were suppressed in between."""

    def __init__(self, event: str, interval_s: float = 10.0) -> None:
        self.event = event
        self.interval_s = interval_s
        self._next_at = 0.0
        self._suppressed = 0

    def __call__(self, reason: str, raw: str | bytes | object) -> None:
        now = time.monotonic()
        if now < self._next_at:
            self._suppressed += 1
            return
        self._next_at = now + self.interval_s
        suppressed, self._suppressed = self._suppressed, 0
        log.warning(self.event, reason=reason, sample=sample(raw), suppressed=suppressed)


def _is_pong(raw: str | bytes) -> bool:
    return (raw.strip() == "PONG") if isinstance(raw, str) else (bytes(raw).strip() == b"PONG")


class FrameDecoder:
    """Decodes frames into market messages; counts what it cannot use instead of raising."""

    def __init__(
        self, counters: DecodeCounters | None = None, *, log_interval_s: float = 10.0
    ) -> None:
        self.counters: DecodeCounters = counters if counters is not None else DecodeStats()
        self._typed: msgspec.json.Decoder[MarketMessage | list[MarketMessage]]
        self._typed = msgspec.json.Decoder(Frame)
        self._log_malformed = SampleLog("malformed market message", log_interval_s)
        self._log_unknown = SampleLog("unknown market event_type", log_interval_s)

    def decode(self, raw: str | bytes) -> list[MarketMessage]:
        """The frame's messages in wire order (possibly none)."""
        try:
            frame = self._typed.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError, TypeError):
            return self._decode_slow(raw)
        if isinstance(frame, list):
            return frame
        return [frame]

    def report_malformed(self, reason: str, raw: str | bytes | object) -> None:
        """Count one malformed message and log a sample (rate-limited); used by later stages too."""
        self.counters.malformed += 1
        self._log_malformed(reason, raw)

    def _decode_slow(self, raw: str | bytes) -> list[MarketMessage]:
        try:
            if _is_pong(raw):
                self.counters.pongs += 1
                return []
            parsed = msgspec.json.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError, TypeError) as exc:
            self.report_malformed(f"not JSON: {exc}", raw)
            return []
        items = parsed if isinstance(parsed, list) else [parsed]
        messages: list[MarketMessage] = []
        for item in items:
            message = self._convert(item)
            if message is not None:
                messages.append(message)
        return messages

    def _convert(self, item: object) -> MarketMessage | None:
        if not isinstance(item, dict):
            self.report_malformed("element is not an object", item)
            return None
        event_type = item.get("event_type")
        if not isinstance(event_type, str):
            self.report_malformed("no event_type", item)
            return None
        message_type = MESSAGE_TYPES.get(event_type)
        if message_type is None:
            self.counters.unknown += 1
            self._log_unknown(event_type, item)
            return None
        try:
            return msgspec.convert(item, message_type)
        except msgspec.ValidationError as exc:
            self.report_malformed(f"{event_type}: {exc}", item)
            return None


def decode_objects(raw: str | bytes, event_type: str) -> list[dict[str, object]]:
    """The frame's raw JSON objects of one ``event_type`` (for listeners that want every field)."""
    try:
        parsed = msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError, TypeError):
        return []
    items = parsed if isinstance(parsed, list) else [parsed]
    return [i for i in items if isinstance(i, dict) and i.get("event_type") == event_type]
