"""Serving a recording (DESIGN.md section 4): its frames at the recorded pace x speed, its markets
through Gamma.

The simulator reads the format itself (it must not share the client's code): ``markets.json`` and
every ``frames*.jsonl`` / ``frames*.jsonl.gz`` file in name order, one frame a line: either
``<recv_ns> <frame>`` (format 2: the frame's text as received, after a ``#polyarb-frames 2``
marker line) or a ``{"recv_ns", "raw"}`` JSON object (format 1). Each frame is applied to the
venue's books (for REST and ``truth``) and forwarded verbatim; lines that are not valid records
are skipped and counted (the marker is not a record, and not counted).
"""

from __future__ import annotations

import gzip
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson
import structlog

from polyarb.sim.catalog import Catalog, catalog_from_gamma
from polyarb.sim.venue import Frame, SimVenue

log = structlog.get_logger(__name__)


def recording_files(path: Path) -> list[Path]:
    files = sorted(p for p in path.glob("frames*.jsonl*") if p.suffix in (".jsonl", ".gz"))
    if not files:
        raise FileNotFoundError(f"no frames*.jsonl[.gz] in {path}")
    return files


def load_catalog(path: Path) -> Catalog:
    markets_file = path / "markets.json"
    if not markets_file.exists():
        raise FileNotFoundError(f"no markets.json in {path}")
    raw = orjson.loads(markets_file.read_bytes())
    if not isinstance(raw, list):
        raise ValueError(f"{markets_file} must hold a JSON array of Gamma market objects")
    return catalog_from_gamma([m for m in raw if isinstance(m, dict)], datetime.now(UTC))


def _open(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile is an IO[bytes]
    return path.open("rb")


class RecordingPlayer:
    """Feeds a recording's frames to the venue as scenario time advances: a frame is due at
    its recorded offset from the first frame (the server's clock applies the speed)."""

    def __init__(self, path: Path, venue: SimVenue) -> None:
        self.venue = venue
        self.skipped = 0
        self.replayed = 0
        self._records: Generator[tuple[int, str], None, None] = self._read(recording_files(path))
        self._first_ns: int | None = None
        self._next: tuple[int, str] | None = next(self._records, None)
        if self._next is not None:
            self._first_ns = self._next[0]

    @property
    def done(self) -> bool:
        return self._next is None

    def close(self) -> None:
        self._records.close()  # closes the open file
        self._next = None

    def _read(self, files: list[Path]) -> Generator[tuple[int, str], None, None]:
        for file in files:
            with _open(file) as stream:
                for line in stream:
                    record = _record(line)
                    if record is None:
                        if line.strip() and not line.startswith(b"#polyarb-frames "):
                            self.skipped += 1
                        continue
                    yield record

    def _due_s(self, recv_ns: int) -> float:
        return (recv_ns - (self._first_ns or recv_ns)) / 1e9

    def next_due_s(self) -> float:
        return float("inf") if self._next is None else self._due_s(self._next[0])

    def advance_to(
        self, t_s: float, now_ms: int | None = None, max_frames: int | None = None
    ) -> list[Frame]:
        frames: list[Frame] = []
        while self._next is not None and self._due_s(self._next[0]) <= t_s:
            if max_frames is not None and len(frames) >= max_frames:
                break
            _, raw = self._next
            self._next = next(self._records, None)
            if raw.strip() == "PONG":
                continue  # the recorder's own heartbeat answers
            frames.append(self.venue.apply_recorded(raw))
            self.replayed += 1
        if self._next is None and frames:
            log.info("sim_recording_finished", frames=self.replayed, skipped=self.skipped)
        return frames


def _record(line: bytes) -> tuple[int, str] | None:
    if line[:1].isdigit():  # format 2
        stamp, space, frame = line.rstrip(b"\n").partition(b" ")
        if not space or not stamp.isdigit():
            return None
        try:
            return int(stamp), frame.decode()
        except UnicodeDecodeError:
            return None
    try:
        record: Any = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict):
        return None
    recv_ns, raw = record.get("recv_ns"), record.get("raw")
    if not isinstance(recv_ns, int) or not isinstance(raw, str):
        return None
    return recv_ns, raw
