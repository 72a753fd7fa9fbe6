"""`polyarb replay` as users run it (typer CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from polyarb.cli import app
from polyarb.marketdata.recorder import Recorder

WS = Path(__file__).resolve().parents[1] / "fixtures" / "polymarket" / "ws"
FULL_DEPTH = WS / "market_book_snapshot_full_depth_2024-10.json"
TOKEN = "48331043336612883890938759509493159234755048973500640148014422747788308965732"
T_SNAPSHOT = 1728799418260


def change(ts: int, side: str, price: str, size: str) -> str:
    return json.dumps(
        {
            "event_type": "price_change",
            "market": "0xdd",
            "timestamp": str(ts),
            "price_changes": [{"asset_id": TOKEN, "side": side, "price": price, "size": size}],
        }
    )


def make_recording(path: Path) -> Path:
    with Recorder(path) as recorder:
        recorder.write_markets([{"conditionId": "0xdd", "question": "Trump 2024?"}])
        recorder.write(1, f"[{FULL_DEPTH.read_text()}]")
        recorder.write(2, change(T_SNAPSHOT + 1, "BUY", "0.512", "120.25"))
        recorder.write(3, change(T_SNAPSHOT + 2, "SELL", "0.514", "0"))
        recorder.write(4, "PONG")
        recorder.write(5, "{not json")
    return path


def test_replay_prints_a_summary(tmp_path: Path) -> None:
    rec = make_recording(tmp_path / "rec")
    result = CliRunner().invoke(app, ["replay", str(rec)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "frames: 5 " in out
    assert "events: 3 (book 1, price_change 2)" in out
    assert "book events: 3" in out
    assert "malformed: 1, unknown: 0, bad lines: 0" in out
    assert "timestamps going backwards: 0 (applied in arrival order)" in out
    assert "out of order" not in out
    assert "books: 1 (0 stale)" in out


def test_books_out_writes_canonical_best_first_levels(tmp_path: Path) -> None:
    rec = make_recording(tmp_path / "rec")
    out_file = tmp_path / "books.json"
    result = CliRunner().invoke(app, ["replay", str(rec), "--books-out", str(out_file)])
    assert result.exit_code == 0, result.output
    books = json.loads(out_file.read_text())
    assert list(books) == [TOKEN]
    bids, asks = books[TOKEN]["bids"], books[TOKEN]["asks"]
    assert bids[:3] == [["0.512", "120.25"], ["0.511", "1304.72"], ["0.51", "12848.17"]]
    assert asks[:2] == [["0.515", "43551.96"], ["0.516", "28605.55"]]  # 0.514 was removed
    assert bids[-1] == ["0.001", "9000023.58"]
    assert asks[-1] == ["0.999", "10500100"]
    assert (len(bids), len(asks)) == (77, 85)
    source = json.loads(FULL_DEPTH.read_text())
    wire_bid_sizes = {lv["price"]: lv["size"] for lv in source["bids"]}
    assert all(wire_bid_sizes.get(p, s) == s for p, s in bids)  # canonical == wire text here


def test_speed_option_is_accepted(tmp_path: Path) -> None:
    rec = make_recording(tmp_path / "rec")
    result = CliRunner().invoke(app, ["replay", str(rec), "--speed", "1000000"])
    assert result.exit_code == 0, result.output
    assert "frames: 5 " in result.stdout


def test_missing_directory_is_a_one_line_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["replay", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"polyarb: error: recording folder not found: {tmp_path / 'nowhere'}"
    ]
    assert "Traceback" not in result.output


def test_folder_without_frames_and_bad_speed_are_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["replay", str(tmp_path / "empty")])
    assert result.exit_code == 2
    assert "no frames.jsonl" in result.stderr
    rec = make_recording(tmp_path / "rec")
    result = CliRunner().invoke(app, ["replay", str(rec), "--speed", "-1"])
    assert result.exit_code == 2
    assert "speed must be a positive number" in result.stderr


def test_unwritable_books_out_is_an_error(tmp_path: Path) -> None:
    rec = make_recording(tmp_path / "rec")
    target = tmp_path / "no" / "such" / "dir" / "books.json"
    result = CliRunner().invoke(app, ["replay", str(rec), "--books-out", str(target)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1].startswith("polyarb: error: cannot write")
    assert "frames:" not in result.stdout  # refused before replaying
    assert "Traceback" not in result.output


def test_bad_recording_line_is_reported_with_its_number(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    rec.mkdir()
    lines = [
        json.dumps({"recv_ns": 1, "raw": FULL_DEPTH.read_text()}),
        "this is not a frame line",
        json.dumps({"recv_ns": 3, "raw": change(T_SNAPSHOT + 1, "BUY", "0.3", "1")}),
    ]
    (rec / "frames.jsonl").write_text("\n".join(lines) + "\n")
    result = CliRunner().invoke(app, ["replay", str(rec)])
    assert result.exit_code == 0, result.output
    assert "bad lines: 1" in result.stdout
    assert "skipped line 2 of frames.jsonl: not JSON" in result.stdout
    assert "frames: 2 " in result.stdout


def test_books_out_that_cannot_be_written_fails_after_replay(tmp_path: Path) -> None:
    rec = make_recording(tmp_path / "rec")
    (tmp_path / "a_folder.json").mkdir()
    result = CliRunner().invoke(
        app, ["replay", str(rec), "--books-out", str(tmp_path / "a_folder.json")]
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1].startswith("polyarb: error: cannot write")
