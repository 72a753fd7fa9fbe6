"""Recordings of the market channel (DESIGN.md section 4): write them, read them back.

A recording is a folder holding ``markets.json`` (the Gamma market objects, as served) and the
frames, one line per received WebSocket frame. The frames live in ``frames.jsonl`` /
``frames.jsonl.gz`` or, as the recorder writes them, in numbered parts ``frames-000001.jsonl.gz``,
``frames-000002.jsonl.gz``, ... (a new part on every start and whenever a part exceeds
``rotate_bytes``). Readers take the plain file first, then the parts in number order.

Two line formats, told apart by their first byte:

- format 2 (written since): ``<recv_ns> <frame>``, the receive time in unix ns, one space, and
  the frame's text exactly as received, not escaped: a reader decodes the frame once (the book
  decoder), not a JSON wrapper first and the frame inside it again. A part of format 2 starts
  with the marker line ``#polyarb-frames 2``; a marker of a later version is refused.
- format 1 (older recordings, and any frame holding a newline in format 2 files):
  ``{"recv_ns": <unix ns>, "raw": "<frame>"}``, a JSON object.

The recorder never truncates: parts are created exclusively and numbered after any already there,
and ``markets.json`` is merged, then replaced atomically. Data is flushed every
``flush_interval_s`` (gzip sync flush), so a killed recorder loses at most that much; readers stop
cleanly at a truncated gzip tail.
"""

from __future__ import annotations

import gzip
import os
import re
import struct
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, cast

import msgspec
import orjson
import structlog
from isal import isal_zlib

from polyarb.domain.errors import PolyarbError

log = structlog.get_logger(__name__)

MARKETS_FILE = "markets.json"
EVENTS_FILE = "events.json"
PLAIN_FRAME_FILES = ("frames.jsonl", "frames.jsonl.gz")
READ_CHUNK = 1 << 18
_ISAL_ERROR = cast(type[Exception], isal_zlib.error)  # typed as a plain value by isal's stubs
_PART = re.compile(r"^frames-(\d{6,})\.jsonl(\.gz)?$")
FORMAT_VERSION = 2
FORMAT_MARKER = b"#polyarb-frames "  # + the version, the first line of a format 2 part


class RecordingError(PolyarbError):
    """A recording cannot be read or written (missing folder or frames, unreadable file)."""


class RecordLine(msgspec.Struct, gc=False):
    """One line of a frames file."""

    recv_ns: int
    raw: str


@dataclass(frozen=True, slots=True)
class DamagedPart:
    """A frames file that could not be read to its end (cut short, or corrupt)."""

    file: str
    line: int  # the first line that could not be read
    frames_read: int  # lines read from this file before the damage
    frames_lost: int | None  # estimated from the gzip trailer's size; None if it cannot be known
    reason: str

    def text(self) -> str:
        lost = (
            f"about {self.frames_lost:,} frames lost"
            if self.frames_lost is not None
            else "the frames after it are lost (how many cannot be known)"
        )
        return (
            f"damaged part {self.file}: unreadable from line {self.line:,} "
            f"({self.reason}); {self.frames_read:,} frames read before it, {lost}"
        )


BadLineHandler = Callable[[Path, int, str], None]
"""Called with (file, 1-based line number, reason) for each line that is skipped."""


def frame_files(path: Path) -> list[Path]:
    """The frames files of a recording folder in reading order; RecordingError if there are none."""
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "not found"
        raise RecordingError(f"recording folder {what}: {path}")
    plain = [path / name for name in PLAIN_FRAME_FILES if (path / name).is_file()]
    parts: list[tuple[int, Path]] = []
    for child in path.iterdir():
        match = _PART.match(child.name)
        if match and child.is_file():
            parts.append((int(match.group(1)), child))
    files = plain + [p for _, p in sorted(parts)]
    if not files:
        raise RecordingError(f"no frames.jsonl[.gz] or frames-NNNNNN.jsonl[.gz] in {path}")
    return files


class RecordingReader:
    """Iterates (recv_ns, raw) over every frames file of a recording, skipping bad lines.

    ``bytes_read``/``total_bytes`` (on-disk, i.e. compressed, bytes) measure progress.
    """

    def __init__(self, path: Path, *, on_bad_line: BadLineHandler | None = None) -> None:
        self.path = path
        self.files = frame_files(path)
        self.total_bytes = sum(f.stat().st_size for f in self.files)
        self.bytes_read = 0
        self.lines = 0
        self.bad_lines = 0
        self.damaged: list[DamagedPart] = []
        self._on_bad_line = on_bad_line

    def __iter__(self) -> Iterator[tuple[int, str]]:
        done = 0
        for file in self.files:
            yield from self._read(file, done)
            done += file.stat().st_size
            self.bytes_read = done

    def _read(self, file: Path, done_before: int) -> Iterator[tuple[int, str]]:
        loads = orjson.loads  # twice msgspec's speed on these escape-heavy lines
        with file.open("rb") as disk:
            stream: Iterable[bytes] = (
                _gunzip_lines(disk) if file.suffix == ".gz" else _plain_lines(disk)
            )
            number = good = good_bytes = 0
            try:
                for number, line in enumerate(stream, 1):
                    if number & 1023 == 0:
                        self.bytes_read = done_before + disk.tell()
                    self.lines += 1
                    if line[:1] != b"{":  # format 2: "<recv_ns> <frame>"
                        space = line.find(b" ")
                        stamp = line[:space]
                        if space > 0 and stamp.isdigit():
                            try:
                                frame = line[space + 1 :].decode()
                            except UnicodeDecodeError as exc:
                                self._bad(file, number, f"frame not UTF-8: {exc}")
                                continue
                            good += 1
                            good_bytes += len(line) + 1
                            yield int(stamp), frame
                        elif number == 1 and line.startswith(FORMAT_MARKER):
                            _check_version(file, line)
                        elif line.strip():
                            self._bad(file, number, "not JSON nor <recv_ns> <frame>")
                        continue
                    try:
                        record = loads(line)
                    except orjson.JSONDecodeError as exc:
                        self._bad(file, number, f"not JSON: {exc}")
                        continue
                    if type(record) is dict:
                        recv_ns = record.get("recv_ns")
                        raw = record.get("raw")
                        if type(recv_ns) is int and type(raw) is str:
                            good += 1
                            good_bytes += len(line) + 1
                            yield recv_ns, raw
                            continue
                    self._bad(file, number, 'not {"recv_ns": int, "raw": str}')
            except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
                # A recorder killed mid-write leaves a gzip without its trailer; a flipped bit
                # stops the inflater: keep what came before, and say what is lost.
                self._bad(file, number + 1, f"unreadable from here on: {exc}")
                lost = _lost_frames(file, good, good_bytes)
                self.damaged.append(DamagedPart(file.name, number + 1, good, lost, str(exc)))

    def _bad(self, file: Path, number: int, reason: str) -> None:
        self.bad_lines += 1
        if self._on_bad_line is not None:
            self._on_bad_line(file, number, reason)
        else:
            log.warning("bad recording line", file=str(file), line=number, reason=reason[:200])


def _check_version(file: Path, marker: bytes) -> None:
    version = marker[len(FORMAT_MARKER) :].strip()
    if not version.isdigit() or int(version) > FORMAT_VERSION:
        text = version.decode("utf-8", "replace")
        raise RecordingError(
            f"{file} is a recording of format {text!r}: this polyarb reads formats up to "
            f"{FORMAT_VERSION}; upgrade polyarb to replay it"
        )


def _lost_frames(file: Path, good: int, good_bytes: int) -> int | None:
    """Frames of a damaged gzip file not read: the size its trailer records over the average
    length of the frames that were read, less those. None without a plausible trailer (a file
    cut short has none) or without a frame read to measure by."""
    try:
        with file.open("rb") as disk:
            on_disk = disk.seek(0, os.SEEK_END)
            disk.seek(-4, os.SEEK_END)
            expected: int = struct.unpack("<I", disk.read(4))[0]
    except (OSError, struct.error):
        return None
    # Text compresses well, but not 100 times: a larger "size" is bytes of a cut, not a trailer.
    if good == 0 or expected > 100 * on_disk:
        return None
    lost = round(expected * good / good_bytes) - good
    return lost if lost > 0 else None


def _plain_lines(disk: BinaryIO) -> Iterator[bytes]:
    """The lines of an uncompressed file, without their newline (as ``_gunzip_lines``)."""
    for line in disk:
        yield line[:-1] if line.endswith(b"\n") else line


def _gunzip_lines(disk: BinaryIO) -> Iterator[bytes]:
    """The lines of a gzip file (members may be concatenated), decompressed in large chunks.

    A file cut short (a recorder killed before writing the gzip trailer) yields every complete
    line up to the cut, then raises EOFError. ``gzip.GzipFile`` would lose its whole read-ahead
    buffer there, and is half as fast line by line.

    The inflater is ISA-L's (``isal``): three times zlib's speed, and inflating was most of
    reading a recording. A corrupt chunk (zlib.error) is read again with zlib's inflater, whose
    state can be copied before each chunk: it keeps the lines before the damage.
    """
    lines = 0
    try:
        for line in _inflated_lines(disk, isal_zlib.decompressobj, salvage=False):
            lines += 1
            yield line
    except _ISAL_ERROR:
        disk.seek(0)
        for number, line in enumerate(_inflated_lines(disk, zlib.decompressobj, salvage=True)):
            if number >= lines:
                yield line


def _inflated_lines(
    disk: BinaryIO, inflater_of: Callable[..., Any], *, salvage: bool
) -> Iterator[bytes]:
    inflater = inflater_of(wbits=31)
    tail = b""
    while chunk := disk.read(READ_CHUNK):
        before = inflater.copy() if salvage else None
        try:
            data = inflater.decompress(chunk)
            while inflater.eof and inflater.unused_data:  # the next gzip member
                rest = inflater.unused_data
                inflater = inflater_of(wbits=31)
                data += inflater.decompress(rest)
        except zlib.error as exc:
            if before is None:
                raise
            # Damage in this chunk: inflate it again in small steps to keep the lines before it.
            data = _salvage(before, chunk)
            lines = (tail + data).split(b"\n")
            lines.pop()  # a line cut by the damage is not a frame
            yield from lines
            raise exc
        lines = (tail + data).split(b"\n")
        tail = lines.pop()
        yield from lines
    if not inflater.eof:
        raise EOFError("compressed file ended before the end-of-stream marker")
    if tail:
        yield tail


def _salvage(inflater: zlib._Decompress, chunk: bytes, step: int = 1024) -> bytes:
    """What ``inflater`` produces from ``chunk`` before the first error, fed ``step`` at a time."""
    out = b""
    for start in range(0, len(chunk), step):
        try:
            out += inflater.decompress(chunk[start : start + step])
        except zlib.error:
            break
        if inflater.eof:
            break
    return out


def iter_recording(path: Path) -> Iterator[tuple[int, str]]:
    """(recv_ns, raw) of every frame of a recording, all files in order; bad lines are logged
    and skipped. RecordingError if the folder or its frames files are missing."""
    return iter(RecordingReader(path))


def load_recording_markets(path: Path) -> list[dict[str, object]]:
    """The Gamma market objects of a recording (``[]`` if it has no markets.json)."""
    file = path / MARKETS_FILE
    if not path.is_dir():
        raise RecordingError(f"recording folder not found: {path}")
    if not file.is_file():
        return []
    return _json_objects(file, "market")


def load_recording_events(path: Path) -> list[dict[str, object]] | None:
    """The complete negRisk events of a recording (events.json), or None for a recording made
    without one (older recordings, synthetic ones): the caller then rebuilds them."""
    file = path / EVENTS_FILE
    if not file.is_file():
        return None
    return _json_objects(file, "event")


def _json_objects(file: Path, what: str) -> list[dict[str, object]]:
    """``file``'s JSON array of objects; RecordingError naming ``what`` when it is not one."""
    try:
        items = msgspec.json.decode(file.read_bytes())
    except (OSError, msgspec.DecodeError) as exc:
        raise RecordingError(f"cannot read {file}: {exc}") from None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise RecordingError(f"{file} is not a JSON array of {what} objects")
    return items


def _is_recording_file(path: Path) -> bool:
    name = path.name
    return name in (MARKETS_FILE, EVENTS_FILE, *PLAIN_FRAME_FILES) or bool(_PART.match(name))


def prepare_folder(out_dir: Path, *, append: bool = False, force: bool = False) -> None:
    """Make ``out_dir`` ready for a new recording. A folder with anything in it is refused
    (RecordingError) unless ``append`` (add to the recording there) or ``force`` (delete its
    recording files first: markets.json, events.json, the frames files)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise RecordingError(f"cannot record into {out_dir}: it is not a folder")
    try:
        present = sorted(out_dir.iterdir()) if out_dir.is_dir() else []
    except OSError as exc:
        raise RecordingError(f"cannot read {out_dir}: {exc.strerror or exc}") from None
    if not present or append:
        return
    if not force:
        raise RecordingError(
            f"{out_dir} is not empty ({len(present)} entries): --append adds to the recording "
            "there, --force replaces it"
        )
    for path in present:
        if path.is_file() and _is_recording_file(path):
            try:
                path.unlink()
            except OSError as exc:
                raise RecordingError(f"cannot remove {path}: {exc.strerror or exc}") from None


def _token_set(market: dict[str, object]) -> object:
    tokens = market.get("clobTokenIds")
    if isinstance(tokens, str):
        try:
            tokens = orjson.loads(tokens)
        except orjson.JSONDecodeError:
            return tokens
    return sorted(str(t) for t in tokens) if isinstance(tokens, list) else tokens


def _market_key(market: dict[str, object]) -> str:
    for key in ("conditionId", "condition_id", "id"):
        value = market.get(key)
        if isinstance(value, str | int) and value != "":
            return f"{key}:{value}"
    return msgspec.json.encode(market).decode()


class Recorder:
    """Writes frames to numbered, rotating parts; a context manager (``close`` on exit)."""

    def __init__(
        self,
        out_dir: Path,
        *,
        compress: bool = True,
        rotate_bytes: int = 256 << 20,
        flush_interval_s: float = 1.0,
    ) -> None:
        if rotate_bytes <= 0 or flush_interval_s < 0:
            raise ValueError("rotate_bytes must be > 0 and flush_interval_s >= 0")
        self.out_dir = out_dir
        self.compress = compress
        self.rotate_bytes = rotate_bytes
        self.flush_interval_s = flush_interval_s
        self.frames = 0
        self.files: list[Path] = []
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordingError(f"cannot create recording folder {out_dir}: {exc}") from None
        self._disk: BinaryIO | None = None
        self._stream: gzip.GzipFile | BinaryIO | None = None
        self._next_flush = 0.0
        self._closed = False
        # Gamma numbers are decoded as Decimal; write them back as JSON numbers, as served.
        self._encode = msgspec.json.Encoder(decimal_format="number").encode

    # ------------------------------------------------------------------ public

    def write_markets(self, gamma_markets: list[dict[str, object]]) -> None:
        """Write markets.json, keeping markets an earlier session recorded there; RecordingError
        if a market recorded there now has other tokens (its frames would be misread)."""
        merged: dict[str, dict[str, object]] = {}
        if (self.out_dir / MARKETS_FILE).is_file():
            for market in load_recording_markets(self.out_dir):
                merged[_market_key(market)] = market
        for market in gamma_markets:
            key = _market_key(market)
            earlier = merged.get(key)
            if earlier is not None and _token_set(earlier) != _token_set(market):
                raise RecordingError(
                    f"market {key} has other tokens than in the recording at {self.out_dir}: "
                    "record into a new folder"
                )
            merged[key] = market
        target = self.out_dir / MARKETS_FILE
        temporary = target.with_name(f".{MARKETS_FILE}.{os.getpid()}.tmp")
        try:
            temporary.write_bytes(msgspec.json.format(self._encode(list(merged.values()))))
            os.replace(temporary, target)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise RecordingError(f"cannot write {target}: {exc}") from None

    def write_events(self, gamma_events: list[dict[str, object]]) -> None:
        """Write events.json: the negRisk events recorded as complete sets (each with its
        ``markets``), so a replay trades exactly the sets the live run traded."""
        target = self.out_dir / EVENTS_FILE
        temporary = target.with_name(f".{EVENTS_FILE}.{os.getpid()}.tmp")
        try:
            temporary.write_bytes(msgspec.json.format(self._encode(gamma_events)))
            os.replace(temporary, target)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise RecordingError(f"cannot write {target}: {exc}") from None

    def write(self, recv_ns: int, raw: str) -> None:
        """Append one frame (its text exactly as received)."""
        if self._closed:
            raise RecordingError("recorder is closed")
        if isinstance(raw, bytes | bytearray):  # defensive: the contract says text
            raw = bytes(raw).decode("utf-8", "replace")
        stream = self._stream
        if stream is None:
            stream = self._open_part()
        try:
            if "\n" in raw:  # cannot stand on a line as it is: format 1 (escaped) for this one
                stream.write(self._encode(RecordLine(recv_ns, raw)))
            else:
                stream.write(b"%d %s" % (recv_ns, raw.encode()))
            stream.write(b"\n")
            self.frames += 1
            now = time.monotonic()
            if now >= self._next_flush:
                self._flush(now)
            assert self._disk is not None
            if self._disk.tell() >= self.rotate_bytes:
                self._close_part()
        except OSError as exc:  # disk full, file system gone: say so in one line
            raise RecordingError(f"cannot write to {self.files[-1]}: {exc}") from None

    def flush(self) -> None:
        """Push buffered frames to disk. ``write`` does it every ``flush_interval_s``; call this
        from a timer too if frames may stop arriving for a while."""
        try:
            self._flush(time.monotonic())
        except OSError as exc:
            raise RecordingError(f"cannot write to {self.files[-1]}: {exc}") from None

    def close(self) -> None:
        """Flush and close the current part; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._close_part()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ parts

    def _open_part(self) -> gzip.GzipFile | BinaryIO:
        suffix = ".jsonl.gz" if self.compress else ".jsonl"
        number = 1 + max(
            (int(m.group(1)) for c in self.out_dir.iterdir() if (m := _PART.match(c.name))),
            default=0,
        )
        while True:
            path = self.out_dir / f"frames-{number:06d}{suffix}"
            try:
                disk: BinaryIO = path.open("xb")  # exclusive: never truncates an existing file
            except FileExistsError:
                number += 1
                continue
            except OSError as exc:
                raise RecordingError(f"cannot create {path}: {exc}") from None
            break
        stream: gzip.GzipFile | BinaryIO = (
            gzip.GzipFile(filename="", mode="wb", fileobj=disk, compresslevel=5, mtime=0)
            if self.compress
            else disk
        )
        self._disk = disk
        self._stream = stream
        self.files.append(path)
        stream.write(b"%s%d\n" % (FORMAT_MARKER, FORMAT_VERSION))
        log.info("recording part opened", file=str(path))
        return stream

    def _flush(self, now: float) -> None:
        self._next_flush = now + self.flush_interval_s
        stream, disk = self._stream, self._disk
        if stream is None or disk is None:
            return
        if isinstance(stream, gzip.GzipFile):
            stream.flush(zlib.Z_SYNC_FLUSH)
        else:
            stream.flush()
        disk.flush()

    def _close_part(self) -> None:
        stream, disk = self._stream, self._disk
        self._stream = self._disk = None
        if stream is not None and stream is not disk:
            stream.close()  # writes the gzip trailer; the file itself stays open
        if disk is not None:
            disk.close()
