"""Garbage collection off the hot path: the engine's timer collects, not an allocation count.

CPython's cyclic collector runs when allocations outnumber deallocations by a threshold, that is
at a random frame: a young collection inside a tick-to-decision window costs it tens of µs, an
older one hundreds (issue 16 measured pauses of ~150 µs in 2-4 % of the decisions). Reference
counting frees everything that is not in a cycle at once, so the collector only finds cycles;
it can wait for the next timer tick (250 ms).

``GcPacer.start`` (after start-up): one full collection, then ``gc.freeze()`` (the objects of
start-up - modules, settings, the universe, the books' dicts - are never scanned again) and the
automatic collector off. ``on_timer`` (a timer hook): the young generation every tick, the
middle one every ``middle_every`` ticks, a full collection every ``full_every`` ticks (only
start-up is frozen: an object frozen later could never be collected once it died in a cycle).
``stop`` unfreezes and restores the automatic collector.
"""

from __future__ import annotations

import gc


class GcPacer:
    """Collections from the engine's periodic timer instead of at allocation thresholds."""

    def __init__(self, *, middle_every: int = 10, full_every: int = 240) -> None:
        if not 0 < middle_every <= full_every:
            raise ValueError("need 0 < middle_every <= full_every")
        self.middle_every = middle_every
        self.full_every = full_every  # 240 ticks of 250 ms: a minute
        self.ticks = 0
        self.collections = [0, 0, 0]  # by generation, from on_timer
        self.active = False
        self._was_enabled = True

    def start(self) -> None:
        """After start-up: collect, freeze what is left, turn the automatic collector off."""
        if self.active:
            return
        self._was_enabled = gc.isenabled()
        gc.collect()
        gc.freeze()
        gc.disable()
        self.active = True

    def on_timer(self) -> None:
        if not self.active:
            return
        self.ticks += 1
        if self.ticks % self.full_every == 0:
            generation = 2
        elif self.ticks % self.middle_every == 0:
            generation = 1
        else:
            generation = 0
        gc.collect(generation)
        self.collections[generation] += 1

    def stop(self) -> None:
        """The automatic collector back as it was, start-up's objects collectable again (the
        process may go on: the tests run engines in theirs)."""
        if not self.active:
            return
        self.active = False
        gc.unfreeze()
        if self._was_enabled:
            gc.enable()
