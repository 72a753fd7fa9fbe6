"""The settlement of one trade on chain, as a pure state machine.

A trade the venue matched is not yet money: the venue sends it to the chain (MINED), waits for
it to be final (CONFIRMED), and retries a failing transaction (RETRYING) until it succeeds
(MINED again) or gives up (FAILED: the trade did not happen). The venue re-sends the trade with
the same id on every change, on the user channel and in ``GET /data/trades``:

    MATCHED -> MINED -> CONFIRMED
    MATCHED | MINED -> RETRYING -> MINED | FAILED

Observations come from two sources and across reconnects, so some are missed (a MINED lost in
a dropped connection) and some arrive late (the channel's MATCHED after REST said CONFIRMED).
``step`` accepts an observed status when the graph can reach it from the current one (missed
steps are implied), reports the same status again as a duplicate and anything unreachable as
stale; CONFIRMED and FAILED are final. What the caller must do is in ``Step.action``:

- ``book``: the first sighting of a trade that is not FAILED: book its fill;
- ``reverse``: a booked trade FAILED: reverse its fill (ledger, positions), report it;
- ``record``: only the status changes (or a trade first seen FAILED: nothing to book);
- ``ignore``: a duplicate or stale observation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

Action = Literal["book", "reverse", "record", "ignore"]


class Settlement(StrEnum):
    MATCHED = "MATCHED"
    MINED = "MINED"
    CONFIRMED = "CONFIRMED"
    RETRYING = "RETRYING"
    FAILED = "FAILED"

    @property
    def is_final(self) -> bool:
        return self in (Settlement.CONFIRMED, Settlement.FAILED)


# The venue's direct transitions.
EDGES: dict[Settlement, frozenset[Settlement]] = {
    Settlement.MATCHED: frozenset({Settlement.MINED, Settlement.RETRYING}),
    Settlement.MINED: frozenset({Settlement.CONFIRMED, Settlement.RETRYING}),
    Settlement.RETRYING: frozenset({Settlement.MINED, Settlement.FAILED}),
    Settlement.CONFIRMED: frozenset(),
    Settlement.FAILED: frozenset(),
}


def _reachable(start: Settlement) -> frozenset[Settlement]:
    seen: set[Settlement] = set()
    todo = list(EDGES[start])
    while todo:
        state = todo.pop()
        if state not in seen:
            seen.add(state)
            todo.extend(EDGES[state])
    return frozenset(seen)


REACHABLE: dict[Settlement, frozenset[Settlement]] = {s: _reachable(s) for s in Settlement}


@dataclass(frozen=True, slots=True)
class Step:
    state: Settlement | None  # the trade's status after the observation (None: never seen)
    action: Action


def step(current: Settlement | None, observed: Settlement, *, booked: bool) -> Step:
    """Apply one observation of a trade's status; ``booked``: its fill is in the ledger."""
    if current is None:
        if observed == Settlement.FAILED:
            return Step(observed, "record")
        return Step(observed, "book")
    if observed == current or observed not in REACHABLE[current]:
        return Step(current, "ignore")
    if observed == Settlement.FAILED and booked:
        return Step(observed, "reverse")
    return Step(observed, "record")
