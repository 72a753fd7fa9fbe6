"""Recorder writes the DESIGN.md section 4 format, rotates, never truncates; readers read it all."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from polyarb.domain.errors import PolyarbError
from polyarb.marketdata.recorder import (
    READ_CHUNK,
    Recorder,
    RecordingError,
    RecordingReader,
    frame_files,
    iter_recording,
    load_recording_markets,
)

FRAMES = [
    '{"event_type":"book","asset_id":"1","bids":[],"asks":[],"timestamp":"1","hash":""}',
    "PONG",
    '[{"event_type": "weird \\"quoted\\" \\u00e9"}]',
    "[]",
    "text with\nnewline and unicode é ✓",
]


def read_lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="\n") as f:
        return f.read().split("\n")


@pytest.mark.parametrize("compress", [True, False])
def test_frames_round_trip_exactly(tmp_path: Path, compress: bool) -> None:
    with Recorder(tmp_path / "rec", compress=compress) as recorder:
        for i, raw in enumerate(FRAMES):
            recorder.write(1_000 + i, raw)
    [part] = recorder.files
    assert part.name == ("frames-000001.jsonl.gz" if compress else "frames-000001.jsonl")
    # Format 2: a marker, then each frame as received after its receive time, not escaped;
    # the one frame holding a newline cannot stand on a line: format 1 (a JSON object) for it.
    marker, *lines, end = read_lines(part)
    assert marker == "#polyarb-frames 2"
    assert lines[:4] == [f"{1_000 + i} {raw}" for i, raw in enumerate(FRAMES[:4])]
    assert json.loads(lines[4]) == {"recv_ns": 1_004, "raw": FRAMES[4]}
    assert end == ""
    assert list(iter_recording(tmp_path / "rec")) == [(1_000 + i, r) for i, r in enumerate(FRAMES)]


def test_format_1_recordings_still_replay(tmp_path: Path) -> None:
    """A recording made before format 2 (JSON lines, no marker), plain and compressed, and one
    that mixes its parts with a format 2 part (an --append), read frame for frame."""
    old = [(5, FRAMES[0]), (6, FRAMES[2]), (7, FRAMES[4])]
    text = "".join(json.dumps({"recv_ns": ns, "raw": raw}) + "\n" for ns, raw in old)
    (tmp_path / "frames-000001.jsonl").write_text(text)
    with gzip.open(tmp_path / "frames-000002.jsonl.gz", "wt") as f:
        f.write(text)
    with Recorder(tmp_path) as recorder:
        recorder.write(8, FRAMES[1])
    assert recorder.files[0].name == "frames-000003.jsonl.gz"
    bad: list[int] = []
    reader = RecordingReader(tmp_path, on_bad_line=lambda f, n, why: bad.append(n))
    assert list(reader) == [*old, *old, (8, FRAMES[1])]
    assert bad == []


def test_a_recording_of_a_later_format_is_refused(tmp_path: Path) -> None:
    (tmp_path / "frames.jsonl").write_text("#polyarb-frames 3\n1 {}\n")
    with pytest.raises(RecordingError, match=r"format '3'.*upgrade polyarb"):
        list(iter_recording(tmp_path))


def test_markets_json_is_written_and_merged_never_lost(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    with Recorder(out) as recorder:
        recorder.write_markets([{"conditionId": "0x1", "question": "a"}, {"id": "7"}])
    with Recorder(out) as recorder:
        recorder.write_markets([{"conditionId": "0x1", "question": "a2"}, {"conditionId": "0x2"}])
    markets = load_recording_markets(out)
    assert markets == [
        {"conditionId": "0x1", "question": "a2"},
        {"id": "7"},
        {"conditionId": "0x2"},
    ]
    assert [p.name for p in out.iterdir()] == ["markets.json"]  # no temp file left behind


def test_a_second_session_opens_a_new_part_and_never_truncates(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    with Recorder(out) as first:
        first.write(1, "a")
    with Recorder(out) as second:
        second.write(2, "b")
    (out / "frames-000007.jsonl").write_text('{"recv_ns": 7, "raw": "x"}\n')
    with Recorder(out, compress=False) as third:
        third.write(3, "c")
    assert [p.name for p in frame_files(out)] == [
        "frames-000001.jsonl.gz",
        "frames-000002.jsonl.gz",
        "frames-000007.jsonl",
        "frames-000008.jsonl",
    ]
    assert [raw for _, raw in iter_recording(out)] == ["a", "b", "x", "c"]


def test_rotation_splits_into_ordered_parts(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    with Recorder(out, compress=False, rotate_bytes=100) as recorder:
        for i in range(50):
            recorder.write(i, f"frame number {i:03d}")
    assert len(recorder.files) > 5
    assert all(p.stat().st_size < 100 + 30 for p in recorder.files)
    assert [ns for ns, _ in iter_recording(out)] == list(range(50))


def test_frames_are_flushed_while_recording(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    recorder = Recorder(out, flush_interval_s=0.0)
    recorder.write(1, "first")
    recorder.write(2, "second")
    # Still open (no gzip trailer): a reader gets everything flushed so far and stops cleanly.
    bad: list[tuple[str, int, str]] = []
    reader = RecordingReader(out, on_bad_line=lambda f, n, why: bad.append((f.name, n, why)))
    assert list(reader) == [(1, "first"), (2, "second")]
    assert len(bad) == 1
    assert bad[0][1] == 4  # the marker, two frames, then the end of what was flushed
    assert "unreadable" in bad[0][2]
    recorder.close()
    recorder.close()  # idempotent
    assert list(iter_recording(out)) == [(1, "first"), (2, "second")]
    with pytest.raises(RecordingError, match="closed"):
        recorder.write(3, "late")


def test_plain_frames_files_are_read_first(tmp_path: Path) -> None:
    (tmp_path / "frames.jsonl").write_text('{"recv_ns": 1, "raw": "plain"}\n\n')
    with gzip.open(tmp_path / "frames.jsonl.gz", "wt") as f:
        f.write('{"recv_ns": 2, "raw": "gz"}\n')
    with Recorder(tmp_path) as recorder:
        recorder.write(3, "part")
    assert list(iter_recording(tmp_path)) == [(1, "plain"), (2, "gz"), (3, "part")]


def test_bad_lines_are_skipped_with_their_line_numbers(tmp_path: Path) -> None:
    (tmp_path / "frames.jsonl").write_text(
        "\n".join(
            [
                '{"recv_ns": 1, "raw": "ok"}',
                "not json",
                '{"recv_ns": "2", "raw": "str ns"}',
                '{"raw": "no ns"}',
                "[1, 2]",
                '{"recv_ns": 6, "raw": "ok again"}',
            ]
        )
    )
    bad: list[int] = []
    reader = RecordingReader(tmp_path, on_bad_line=lambda f, n, why: bad.append(n))
    assert list(reader) == [(1, "ok"), (6, "ok again")]
    assert bad == [2, 3, 4, 5]
    assert reader.bad_lines == 4
    assert reader.lines == 6


def test_missing_folder_or_frames_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="not found"):
        list(iter_recording(tmp_path / "nope"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(RecordingError, match="not a folder"):
        frame_files(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PolyarbError, match=r"no frames\.jsonl"):
        frame_files(tmp_path / "empty")
    assert load_recording_markets(tmp_path / "empty") == []
    (tmp_path / "empty" / "markets.json").write_text('{"not": "a list"}')
    with pytest.raises(RecordingError, match="not a JSON array"):
        load_recording_markets(tmp_path / "empty")


def test_unwritable_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(RecordingError, match="cannot create"):
        Recorder(tmp_path / "file" / "rec")


def test_a_file_cut_mid_stream_yields_the_lines_before_the_cut(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    with Recorder(out, flush_interval_s=0.0) as recorder:
        for i in range(200):
            recorder.write(i, f"frame {i} " + "x" * (i % 37))
    [part] = recorder.files
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])
    bad: list[str] = []
    frames = list(RecordingReader(out, on_bad_line=lambda f, n, why: bad.append(why)))
    assert 0 < len(frames) < 200
    assert frames == [(i, f"frame {i} " + "x" * (i % 37)) for i in range(len(frames))]
    assert len(bad) == 1
    assert "unreadable" in bad[0]


def test_concatenated_gzip_members_are_all_read(tmp_path: Path) -> None:
    members = [
        gzip.compress(b'{"recv_ns": 1, "raw": "a"}\n'),
        gzip.compress(b'{"recv_ns": 2, "raw": "b"}\n{"recv_ns": 3, "raw": "c"}'),
    ]
    (tmp_path / "frames.jsonl.gz").write_bytes(b"".join(members))
    assert list(iter_recording(tmp_path)) == [(1, "a"), (2, "b"), (3, "c")]


def test_a_corrupt_chunk_keeps_the_lines_before_it_once(tmp_path: Path) -> None:
    """The fast inflater (ISA-L) stops at a flipped byte; the file is read again with zlib's,
    which keeps the lines before the damage inside the chunk: each frame comes once, in order."""
    rng = random.Random(5)
    out = tmp_path / "rec"
    frames = [(i, f"frame {i} {rng.randbytes(200).hex()}") for i in range(5_000)]
    with Recorder(out) as recorder:  # ~2 MB of hex, ~1.2 MB compressed: several read chunks
        for ns, raw in frames:
            recorder.write(ns, raw)
    [part] = recorder.files
    data = bytearray(part.read_bytes())
    assert len(data) > 3 * READ_CHUNK
    data[2 * READ_CHUNK + 1000] ^= 0xFF  # inside the third chunk
    part.write_bytes(bytes(data))
    reader = RecordingReader(out, on_bad_line=lambda f, n, why: None)
    read = list(reader)
    # Each frame once, in order (a flipped byte can garble the text just before the point
    # where the inflater notices: the gzip checksum is only at the end).
    assert [ns for ns, _ in read] == list(range(len(read)))
    per_chunk = len(frames) * READ_CHUNK // len(data)
    intact = 2 * per_chunk - 20  # the frames of the first two chunks
    assert read[:intact] == frames[:intact]
    assert intact < len(read) < len(frames)  # the salvage reached into the third chunk
    [damaged] = reader.damaged
    assert damaged.frames_read == len(read)
