"""Reading a recording's frames files the way a person would, for tests that check the files
themselves (not through the reader under test): format 2 lines ``<recv_ns> <frame>`` after a
``#polyarb-frames 2`` marker, format 1 lines ``{"recv_ns": …, "raw": …}``."""

from __future__ import annotations

import gzip
import json
from pathlib import Path


def frame_records(path: Path) -> list[tuple[int, str]]:
    """(recv_ns, frame) of every line of one frames file (plain or gzip); AssertionError on a
    line of neither format, or a marker anywhere but the first line."""
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    records: list[tuple[int, str]] = []
    lines = data.decode().split("\n")
    assert lines[-1] == "", "a frames file ends with a newline"
    for number, line in enumerate(lines[:-1], 1):
        if line.startswith("{"):
            record = json.loads(line)
            assert set(record) == {"recv_ns", "raw"}, line
            records.append((record["recv_ns"], record["raw"]))
        elif line.startswith("#polyarb-frames "):
            assert number == 1, "the format marker is the first line"
        else:
            stamp, space, frame = line.partition(" ")
            assert space, line
            assert stamp.isdigit(), line
            records.append((int(stamp), frame))
    return records
