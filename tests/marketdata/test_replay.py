"""replay(): the same pipeline as live frames, a summary, pacing, progress and the update hook."""

from __future__ import annotations

import json
import random
import time
from decimal import Decimal
from pathlib import Path

import pytest

from polyarb.domain.errors import PolyarbError
from polyarb.marketdata.books import BookStore
from polyarb.marketdata.recorder import Recorder
from polyarb.marketdata.replay import replay

from .oracle import VenueStream

YES, NO = "111", "222"
T0 = 1_760_000_000_000
NS0 = T0 * 1_000_000


def snapshot(asset: str, bid: str, ask: str, ts: int = T0) -> dict[str, object]:
    return {
        "event_type": "book",
        "asset_id": asset,
        "market": "0xm",
        "bids": [{"price": bid, "size": "100"}],
        "asks": [{"price": ask, "size": "100"}],
        "timestamp": str(ts),
        "hash": "h",
    }


def change(ts: int, *entries: tuple[str, str, str, str]) -> str:
    return json.dumps(
        {
            "event_type": "price_change",
            "market": "0xm",
            "timestamp": str(ts),
            "price_changes": [
                {"asset_id": a, "side": s, "price": p, "size": z} for a, s, p, z in entries
            ],
        }
    )


FRAMES = [
    json.dumps([snapshot(YES, "0.4", "0.6"), snapshot(NO, "0.4", "0.6")]),
    "PONG",
    change(T0 + 1, (YES, "BUY", "0.45", "10"), (NO, "SELL", "0.55", "10")),
    "{broken",
    json.dumps({"event_type": "surprise"}),
    change(T0 + 2, (YES, "SELL", "0.6", "0"), (NO, "BUY", "0.4", "0")),
    change(T0 + 3, ("333", "BUY", "0.5", "1")),  # no snapshot for this token
]


def record(path: Path, frames: list[str], step_ns: int = 1_000) -> Path:
    with Recorder(path) as recorder:
        recorder.write_markets([{"conditionId": "0xm"}])
        for i, raw in enumerate(frames):
            recorder.write(NS0 + i * step_ns, raw)
    return path


def test_replay_summary_and_books_match_live_application(tmp_path: Path) -> None:
    rec = record(tmp_path / "rec", FRAMES)
    books = BookStore()
    summary = replay(rec, books)
    assert summary.frames == len(FRAMES)
    assert summary.events_by_type == {"book": 2, "price_change": 3}
    assert summary.events == 5
    assert summary.book_events == 2 + 4
    assert (summary.malformed, summary.unknown, summary.pongs) == (1, 1, 1)
    assert summary.bad_lines == 0
    assert (summary.books, summary.stale_books) == (2, 0)
    assert summary.first_recv_ns == NS0
    assert summary.last_recv_ns == NS0 + 6_000
    assert summary.elapsed_s > 0
    assert summary.frames_per_s > 0

    live = BookStore()
    for i, raw in enumerate(FRAMES):
        live.on_frame(raw, NS0 + i * 1_000)
    assert {t: b.snapshot_levels() for t, b in books.books.items()} == {
        t: b.snapshot_levels() for t, b in live.books.items()
    }
    assert books.books[YES].best_bid() == 4500
    assert books.books[YES].best_ask() is None


def test_on_update_gets_changed_tokens_and_receive_times(tmp_path: Path) -> None:
    rec = record(tmp_path / "rec", FRAMES)
    updates: list[tuple[set[str], int]] = []
    replay(rec, BookStore(), on_update=lambda changed, ns: updates.append((changed, ns)))
    assert updates == [
        ({YES, NO}, NS0),
        ({YES, NO}, NS0 + 2_000),
        ({YES, NO}, NS0 + 5_000),
    ]


def test_progress_is_reported_and_ends_complete(tmp_path: Path) -> None:
    rec = record(tmp_path / "rec", FRAMES * 2000)
    seen: list[tuple[int, int, int]] = []
    replay(rec, BookStore(), progress=lambda f, done, total: seen.append((f, done, total)))
    assert len(seen) >= 3
    frames = [f for f, _, _ in seen]
    assert frames == sorted(frames)
    assert frames[-1] == len(FRAMES) * 2000
    assert seen[-1][1] == seen[-1][2] > 0


def test_speed_paces_by_recorded_time(tmp_path: Path) -> None:
    rec = record(tmp_path / "rec", FRAMES[:3], step_ns=100_000_000)  # 0.2 s of recording
    started = time.perf_counter()
    replay(rec, BookStore(), speed=2.0)
    assert time.perf_counter() - started >= 0.09  # 0.2 s at 2x


def test_bad_lines_are_counted_with_line_numbers(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    rec.mkdir()
    lines = [json.dumps({"recv_ns": NS0 + i, "raw": raw}) for i, raw in enumerate(FRAMES[:3])]
    lines.insert(1, "garbage line")
    lines.insert(3, '{"recv_ns": 5}')
    (rec / "frames.jsonl").write_text("\n".join(lines) + "\n")
    summary = replay(rec, BookStore())
    assert summary.frames == 3
    assert summary.bad_lines == 2
    assert [(b.file, b.line) for b in summary.bad_line_samples] == [
        ("frames.jsonl", 2),
        ("frames.jsonl", 4),
    ]


def test_missing_recording_and_bad_speed_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PolyarbError, match="not found"):
        replay(tmp_path / "missing", BookStore())
    (tmp_path / "empty").mkdir()
    with pytest.raises(PolyarbError, match="no frames"):
        replay(tmp_path / "empty", BookStore())
    rec = record(tmp_path / "rec", FRAMES[:1])
    with pytest.raises(PolyarbError, match="speed"):
        replay(rec, BookStore(), speed=0)


def test_replay_of_jittered_timestamps_ends_in_the_in_order_books(tmp_path: Path) -> None:
    """`polyarb replay` as users run it: nothing dropped, the books of in-order application, and
    every venue best_bid/best_ask agreed with them."""
    from typer.testing import CliRunner

    from polyarb.cli import app

    venue = VenueStream(YES, NO, T0, jitter_ms=60, seed=7)
    frames = venue.open({"0.4": "100", "0.45": "20"}, {"0.6": "100", "0.55": "20"})
    frames += venue.random_frames(random.Random(7), 3_000, snapshot_every=101)
    rec = record(tmp_path / "rec", frames)
    out_file = tmp_path / "books.json"
    result = CliRunner().invoke(app, ["replay", str(rec), "--books-out", str(out_file)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "out of order" not in out
    backwards = int(out.split("timestamps going backwards: ")[1].split()[0].replace(",", ""))
    assert backwards > 300
    checks = 2 * (3_000 - 30)  # two assets per level change
    assert f"book agreement: 100.000 % ({checks:,} of {checks:,}), 0 repairs" in out
    written = json.loads(out_file.read_text())
    for token in (YES, NO):
        bids, asks = venue.oracle.books[token]
        got = [
            [(Decimal(p), Decimal(s)) for p, s in written[token][side]] for side in ("bids", "asks")
        ]
        assert got == [sorted(bids.items(), reverse=True), sorted(asks.items())]
