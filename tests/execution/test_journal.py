"""Journal: durable appends, exact round trip, torn last line, corrupt lines."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from polyarb.domain.book import Side
from polyarb.domain.ledger import Merge, Resolution
from polyarb.domain.trading import Fill, Mode
from polyarb.execution.journal import Journal, JournalError, read_journal

D = Decimal


def fill(n: int) -> Fill:
    return Fill(
        f"fill-{n}", f"order-{n}", "tok", "cond", Side.BUY, D("0.4512"), D("10.123456"),
        D("0.00001"), 1_000 + n, "sumto100", Mode.PAPER,
    )  # fmt: skip


MERGE = Merge("merge-1", "cond", ("tok", "tok-no"), D("10.123456"), 5_000, "sumto100")
LOCK = Merge(
    "lock-1", "event", ("a", "b", "c"), D(3), 6_000, "negrisk", locked=True, tx_cost=D("0.01")
)
RESOLUTION = Resolution("res-1", "cond", "tok", 7_000, ("tok", "tok-no"), D("0.0031625"))


def test_round_trip_is_exact_and_ordered(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "journal.jsonl"
    with Journal(path) as journal:
        journal.append([fill(1), fill(2)])
        journal.append([MERGE])
        journal.append([LOCK, RESOLUTION])
        journal.append([])
    contents = read_journal(path)
    assert contents.events == [fill(1), fill(2), MERGE, LOCK, RESOLUTION]
    assert contents.fills == [fill(1), fill(2)]
    assert contents.merges == [MERGE, LOCK]
    assert contents.resolutions == [RESOLUTION]
    assert not contents.torn_tail
    assert path.read_text().count("\n") == 5


def test_every_append_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    with Journal(tmp_path / "j.jsonl") as journal:
        before = len(synced)
        journal.append([fill(1)])
        journal.append([fill(2), fill(3)])
        assert len(synced) - before == 2


def test_appends_never_truncate_an_existing_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        journal.append([fill(1)])
    with Journal(path) as journal:
        journal.append([fill(2)])
    assert read_journal(path).events == [fill(1), fill(2)]


def test_torn_last_line_is_skipped_then_set_aside_on_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        journal.append([fill(1), fill(2)])
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"v":1,"kind":"fill","fill_id":"fill-3","ord')  # crash mid-write
    contents = read_journal(path)
    assert contents.events == [fill(1), fill(2)]
    assert contents.torn_tail
    with Journal(path) as journal:  # reopening keeps appends line-aligned
        journal.append([fill(4)])
    contents = read_journal(path)
    assert contents.events == [fill(1), fill(2), fill(4)]
    assert not contents.torn_tail
    [aside] = list(tmp_path.glob("j.jsonl.torn-*"))
    assert aside.read_bytes().startswith(b'{"v":1,"kind":"fill","fill_id":"fill-3"')


def test_a_complete_last_record_without_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        journal.append([fill(1), fill(2)])
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    assert read_journal(path).events == [fill(1), fill(2)]
    with Journal(path) as journal:
        journal.append([fill(3)])
    assert read_journal(path).events == [fill(1), fill(2), fill(3)]
    assert list(tmp_path.glob("*.torn-*")) == []


def test_a_corrupt_line_before_the_end_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        journal.append([fill(1)])
    path.write_bytes(path.read_bytes() + b"garbage\n")
    with Journal(path) as journal:
        journal.append([fill(2)])
    with pytest.raises(JournalError, match="line 2"):
        read_journal(path)
    path.write_bytes(b'{"v":1,"kind":"mystery"}\n')
    with pytest.raises(JournalError, match="unknown journal record kind"):
        read_journal(path)


def test_missing_journal_reads_as_empty(tmp_path: Path) -> None:
    contents = read_journal(tmp_path / "none.jsonl")
    assert contents.events == []
    assert not contents.torn_tail


def test_writing_after_close_is_an_error(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    journal.close()
    with pytest.raises(JournalError, match="closed"):
        journal.append([fill(1)])
