"""Replay a recording through a BookStore: the same decoder and book code as the live feed.

``replay`` is the reusable loop: the CLI adds its progress bar and outputs, the trading core adds
its strategies through ``on_update(changed_token_ids, recv_ns)``, called after every frame that
changed a book, exactly like the live feed's callback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from polyarb.marketdata.books import BookStore
from polyarb.marketdata.recorder import DamagedPart, RecordingError, RecordingReader

ProgressCallback = Callable[[int, int, int], None]
"""progress(frames_done, bytes_done, bytes_total); bytes are on-disk (compressed) bytes."""

UpdateHook = Callable[[set[str], int], None]
"""on_update(changed_token_ids, recv_ns)."""

PROGRESS_EVERY_FRAMES = 4096
BAD_LINES_KEPT = 20


@dataclass
class BadLine:
    file: str
    line: int
    reason: str


@dataclass
class ReplaySummary:
    """What a replay did. ``malformed`` counts undecodable messages inside frames;
    ``bad_lines`` counts recording lines that were not frames at all (the first few are kept in
    ``bad_line_samples``)."""

    frames: int = 0
    events: int = 0
    events_by_type: dict[str, int] = field(default_factory=dict)
    book_events: int = 0
    malformed: int = 0
    unknown: int = 0
    ts_backwards: int = 0  # messages stamped before their predecessor (applied all the same)
    pongs: int = 0
    bad_lines: int = 0
    bad_line_samples: list[BadLine] = field(default_factory=list)
    damaged: list[DamagedPart] = field(default_factory=list)  # parts not readable to their end
    books: int = 0
    stale_books: int = 0
    book_agreement: str = ""  # BookStore.agreement().text() at the end
    elapsed_s: float = 0.0
    first_recv_ns: int = 0
    last_recv_ns: int = 0

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def book_events_per_s(self) -> float:
        return self.book_events / self.elapsed_s if self.elapsed_s > 0 else 0.0


def replay(
    path: Path,
    books: BookStore,
    speed: float | None = None,
    progress: ProgressCallback | None = None,
    *,
    on_update: UpdateHook | None = None,
) -> ReplaySummary:
    """Feed every frame of the recording at ``path`` through ``books.on_frame``.

    ``speed`` None replays as fast as possible; a number paces frames by their recorded receive
    times (1.0 = real time, 10.0 = ten times faster). Bad lines are counted and skipped;
    RecordingError (a PolyarbError) if the folder or its frames are missing or ``speed`` <= 0.
    """
    if speed is not None and not speed > 0:
        raise RecordingError(f"replay speed must be a positive number, got {speed}")
    summary = ReplaySummary()

    def on_bad_line(file: Path, number: int, reason: str) -> None:
        if len(summary.bad_line_samples) < BAD_LINES_KEPT:
            summary.bad_line_samples.append(BadLine(file.name, number, reason[:200]))

    reader = RecordingReader(path, on_bad_line=on_bad_line)
    stats = books.stats
    before = (stats.frames, stats.events, stats.book_events, stats.malformed, stats.unknown)
    before_backwards, before_pongs = stats.ts_backwards, stats.pongs
    before_types = dict(stats.events_by_type)

    on_frame = books.on_frame
    frames = 0
    first_ns = last_ns = 0
    started = time.perf_counter()
    for recv_ns, raw in reader:
        if frames == 0:
            first_ns = recv_ns
        elif speed is not None:
            due = started + (recv_ns - first_ns) / 1e9 / speed
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        changed = on_frame(raw, recv_ns)
        if on_update is not None and changed:
            on_update(changed, recv_ns)
        frames += 1
        last_ns = recv_ns
        if progress is not None and frames % PROGRESS_EVERY_FRAMES == 0:
            progress(frames, reader.bytes_read, reader.total_bytes)
    elapsed = time.perf_counter() - started
    if progress is not None:
        progress(frames, reader.total_bytes, reader.total_bytes)

    summary.frames = stats.frames - before[0]
    summary.events = stats.events - before[1]
    summary.book_events = stats.book_events - before[2]
    summary.malformed = stats.malformed - before[3]
    summary.unknown = stats.unknown - before[4]
    summary.ts_backwards = stats.ts_backwards - before_backwards
    summary.pongs = stats.pongs - before_pongs
    summary.events_by_type = {
        kind: count - before_types.get(kind, 0)
        for kind, count in stats.events_by_type.items()
        if count - before_types.get(kind, 0)
    }
    summary.bad_lines = reader.bad_lines
    summary.damaged = list(reader.damaged)
    summary.books = len(books.books)
    summary.stale_books = sum(1 for book in books.books.values() if book.stale)
    summary.book_agreement = books.agreement().text()
    summary.elapsed_s = elapsed
    summary.first_recv_ns = first_ns
    summary.last_recv_ns = last_ns
    return summary
