"""Recordings are never damaged (issue 9), through the installed command: a recording folder is
not written into by accident, a damaged part is reported with what was lost, a trading replay
needs its markets, and a stopped trading replay keeps what it produced."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.recording_lines import frame_records

from polyarb.config import Settings

TIMEOUT_S = 60
MS = 1_000_000


def clean_env(tmp_path: Path, **env: str) -> dict[str, str]:
    known = {name.upper() for name in Settings.model_fields}
    clean = {k: v for k, v in os.environ.items() if k.upper() not in known}
    clean.update(DATA_DIR=str(tmp_path / "data"), SNIPER_ENABLED="false", **env)
    return clean


def polyarb(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polyarb", *args],
        cwd=tmp_path,
        env=clean_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def error_line(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("polyarb: error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def frames_of(folder: Path) -> list[tuple[int, str]]:
    out = []
    for part in sorted(folder.glob("frames*")):
        out += frame_records(part)
    return out


# ------------------------------------------------------------------ writing into a folder


def identities(markets: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(m["conditionId"], m["clobTokenIds"]) for m in markets}


def record(tmp_path: Path, folder: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return polyarb(tmp_path, "record", str(folder), "--venue", "sim", "--duration", "0.5", *extra)


def test_record_refuses_a_non_empty_folder_and_leaves_it_untouched(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "markets.json").write_text('[{"conditionId": "0xkeep"}]')
    (rec / "notes.txt").write_text("mine")
    line = error_line(record(tmp_path, rec))
    assert "is not empty" in line
    assert "--append adds to the recording there, --force replaces it" in line
    assert (rec / "markets.json").read_text() == '[{"conditionId": "0xkeep"}]'
    assert sorted(p.name for p in rec.iterdir()) == ["markets.json", "notes.txt"]


def test_record_append_keeps_the_recording_force_replaces_it(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    assert record(tmp_path, rec).returncode == 0
    markets = json.loads((rec / "markets.json").read_text())
    parts = sorted(rec.glob("frames-*"))
    frames = frames_of(rec)
    assert markets
    assert frames

    again = record(tmp_path, rec, "--append")
    assert again.returncode == 0, again.stderr
    assert identities(json.loads((rec / "markets.json").read_text())) == identities(markets)
    assert len(sorted(rec.glob("frames-*"))) == len(parts) + 1
    assert frames_of(rec)[: len(frames)] == frames  # the first session's frames untouched

    changed = json.loads((rec / "markets.json").read_text())
    changed[0]["clobTokenIds"] = json.dumps(["111", "222"])  # the same market, other tokens
    (rec / "markets.json").write_text(json.dumps(changed))
    refused = record(tmp_path, rec, "--append")
    assert "has other tokens than in the recording" in error_line(refused)

    forced = record(tmp_path, rec, "--force")
    assert forced.returncode == 0, forced.stderr
    assert len(sorted(rec.glob("frames-*"))) == 1
    assert identities(json.loads((rec / "markets.json").read_text())) == identities(markets)


def test_generate_recording_refuses_a_non_empty_folder_unless_forced(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    args = ("sim", "--generate-recording", str(rec), "--frames", "50", "--markets", "4")
    assert polyarb(tmp_path, *args).returncode == 0
    before = (rec / "frames.jsonl.gz").read_bytes()
    assert "is not empty" in error_line(polyarb(tmp_path, *args, "--seed", "9"))
    assert (rec / "frames.jsonl.gz").read_bytes() == before
    assert "cannot be added to" in error_line(polyarb(tmp_path, *args, "--append"))
    assert polyarb(tmp_path, *args, "--seed", "9", "--force").returncode == 0
    assert (rec / "frames.jsonl.gz").read_bytes() != before


# ------------------------------------------------------------------ damaged parts


def gz_recording(folder: Path, frames: int) -> Path:
    """One gzip part of ``frames`` frames (random text: several read chunks on disk)."""
    folder.mkdir()
    (folder / "markets.json").write_text("[]")
    rng = random.Random(5)
    lines = b"".join(
        json.dumps({"recv_ns": i, "raw": f"PONG {i} {rng.randbytes(24).hex()}"}).encode() + b"\n"
        for i in range(frames)
    )
    (folder / "frames-000001.jsonl.gz").write_bytes(gzip.compress(lines))
    return folder / "frames-000001.jsonl.gz"


def test_truncated_part_is_reported_and_fails(tmp_path: Path) -> None:
    part = gz_recording(tmp_path / "rec", 2000)
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])
    result = polyarb(tmp_path, "replay", str(tmp_path / "rec"))
    assert "the recording is damaged" in error_line(result, code=1)
    assert "damaged part frames-000001.jsonl.gz: unreadable from line" in result.stdout
    assert "the frames after it are lost" in result.stdout

    tolerated = polyarb(tmp_path, "replay", str(tmp_path / "rec"), "--tolerate-damage")
    assert tolerated.returncode == 0, tolerated.stderr
    assert "damaged part frames-000001.jsonl.gz" in tolerated.stdout


def test_bit_flipped_part_reports_how_many_frames_were_lost(tmp_path: Path) -> None:
    part = gz_recording(tmp_path / "rec", 20000)
    data = bytearray(part.read_bytes())
    data[len(data) * 3 // 4] ^= 0xFF
    part.write_bytes(bytes(data))
    result = polyarb(tmp_path, "replay", str(tmp_path / "rec"))
    error_line(result, code=1)
    [damage] = [line for line in result.stdout.splitlines() if line.startswith("damaged part")]
    match = re.search(r"; ([\d,]+) frames read before it, about ([\d,]+) frames lost$", damage)
    assert match, damage
    read, lost = (int(group.replace(",", "")) for group in match.groups())
    assert 10_000 < read < 20_000  # the frames before the damage were kept
    assert abs(read + lost - 20_000) <= 20_000 // 10  # an estimate from the gzip trailer's size
