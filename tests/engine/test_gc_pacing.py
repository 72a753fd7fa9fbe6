"""GC off the hot path (issue 16): after start-up the automatic collector is off, start-up is
frozen, and the engine's timer collects: the young generation every tick, older ones at their
intervals; stopping gives the process its collector back. Its effect on tick-to-decision is
measured by bench/bench_decision.py (--gc auto | paced)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from polyarb.engine.gc_pacing import GcPacer


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """The generation of every collection while the test runs (gc.callbacks)."""
    seen: list[int] = []

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            seen.append(info["generation"])

    gc.callbacks.append(watch)
    try:
        yield seen
    finally:
        gc.callbacks.remove(watch)
        gc.unfreeze()
        gc.enable()


def test_the_timer_collects_instead_of_allocations(collections: list[int]) -> None:
    pacer = GcPacer(middle_every=3, full_every=6)
    pacer.on_timer()  # not started: nothing
    assert 2 not in collections
    pacer.start()
    assert not gc.isenabled()
    assert gc.get_freeze_count() > 0  # start-up's objects are out of every later collection
    assert collections[-1] == 2  # one full collection before freezing
    collections.clear()
    garbage = [[] for _ in range(10 * gc.get_threshold()[0])]
    for item in garbage:
        item.append(item)  # cycles: only the collector can free them
    del garbage, item
    assert collections == []  # allocations alone no longer trigger a collection
    for _ in range(6):
        pacer.on_timer()
    assert collections == [0, 0, 1, 0, 0, 2]
    assert pacer.collections == [4, 1, 1]
    pacer.stop()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    pacer.stop()  # idempotent


def test_a_disabled_collector_stays_disabled_after_stop(collections: list[int]) -> None:
    gc.disable()
    pacer = GcPacer()
    pacer.start()
    pacer.stop()
    assert not gc.isenabled()


def test_intervals_are_checked() -> None:
    with pytest.raises(ValueError, match="middle_every"):
        GcPacer(middle_every=0)
    with pytest.raises(ValueError, match="middle_every"):
        GcPacer(middle_every=10, full_every=5)
