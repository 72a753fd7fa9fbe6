"""The outage spool: batches the database could not take, on local disk, in order.

A spool is a folder of append-only segment files (``<ns>-<n>.jsonl``), one JSON line per batch,
each line written and ``fsync``'d before the batch counts as durable. Segments are replayed oldest
first and deleted only once every batch in them is in the database, so a crash at any moment
(while spooling or while replaying) loses nothing: the next start replays what is left, and the
idempotent inserts make a batch replayed twice harmless.

A line that does not decode is a torn write (a crash in the middle of ``write``; the batch was
never reported durable) or damage; it is moved to ``rejected.jsonl`` for inspection and skipped.
One process owns a spool folder at a time (an exclusive ``flock`` on ``.lock``).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import msgspec
import structlog

from polyarb.store.errors import StoreError
from polyarb.store.records import Record, decode_batch, encode_batch

log = structlog.get_logger(__name__)

SEGMENT_SUFFIX = ".jsonl"
REJECTED_FILE = "rejected.jsonl"


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    segment: Path
    line: int
    records: list[Record]


class Spool:
    """Append-only, fsync'd, ordered storage for batches awaiting the database."""

    def __init__(self, directory: Path, *, wait_s: float = 0.0) -> None:
        """Take the spool folder; wait up to ``wait_s`` for another owner to let go (the writer
        process of a killed engine finishing its last batches)."""
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._lock_file: IO[bytes] | None = open(directory / ".lock", "ab")  # noqa: SIM115
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                self._lock_file.close()
                self._lock_file = None
                raise StoreError(
                    f"spool {directory} is in use by another process (one engine per data folder)"
                ) from None
        self._current: IO[bytes] | None = None
        self._current_path: Path | None = None
        self._counter = 0

    # --- writing ---------------------------------------------------------------------------

    def append(self, records: Sequence[Record]) -> None:
        """Write one batch as one line and fsync it; blocking (run it in a thread)."""
        if self._current is None:
            self._open_segment()
        assert self._current is not None
        self._current.write(encode_batch(records) + b"\n")
        self._current.flush()
        os.fsync(self._current.fileno())

    def seal(self) -> None:
        """Close the current segment; the next append starts a new one."""
        if self._current is not None:
            self._current.close()
            self._current = None
            self._current_path = None

    def _open_segment(self) -> None:
        self._counter += 1
        path = self.directory / f"{time.time_ns():020d}-{self._counter:06d}{SEGMENT_SUFFIX}"
        self._current = open(path, "ab")  # noqa: SIM115
        self._current_path = path
        # Make the new file's directory entry durable too.
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # --- reading ---------------------------------------------------------------------------

    def segments(self) -> list[Path]:
        return sorted(p for p in self.directory.glob(f"*{SEGMENT_SUFFIX}") if p.name[0].isdigit())

    def pending(self) -> bool:
        return bool(self.segments())

    def read(self, segment: Path) -> Iterator[SpooledBatch]:
        """The batches of one segment in order; undecodable lines are set aside, not raised."""
        with open(segment, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    records = decode_batch(line)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    torn = not line.endswith(b"\n")
                    log.warning(
                        "spool line skipped",
                        segment=segment.name,
                        line=number,
                        torn_write=torn,
                        error=str(exc)[:200],
                    )
                    self.reject(line.rstrip(b"\n"), f"{segment.name}:{number}: {exc}")
                    continue
                yield SpooledBatch(segment, number, records)

    def remove(self, segment: Path) -> None:
        if segment == self._current_path:
            self.seal()
        segment.unlink(missing_ok=True)

    def reject(self, raw: bytes, reason: str) -> None:
        """Keep something that cannot be written anywhere else, with the reason, for a human."""
        entry = msgspec.json.encode({"reason": reason, "raw": raw.decode("utf-8", "replace")})
        with open(self.directory / REJECTED_FILE, "ab") as handle:
            handle.write(entry + b"\n")
            handle.flush()
            os.fsync(handle.fileno())

    def reject_records(self, records: Sequence[Record], reason: str) -> None:
        self.reject(encode_batch(records), reason)

    def close(self) -> None:
        self.seal()
        if self._lock_file is not None:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None
