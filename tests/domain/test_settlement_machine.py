"""The settlement state machine against an oracle of its own (no code shared with it):

- every (current, observed) pair against a table written out by hand;
- random trade lives (walks of the venue's graph, written here again as an edge list) seen
  through a lossy, duplicating, late second source: booked at most once and only if first
  seen alive, reversed exactly when booked and the trade FAILED, and the final status right
  whenever the venue's last message got through.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from polyarb.domain.settlement import Settlement, step

M, N, C, R, F = "MATCHED", "MINED", "CONFIRMED", "RETRYING", "FAILED"

# The venue's life of a trade, written independently of the module: who may follow whom.
NEXT = {M: (N, R), N: (C, R), R: (N, F), C: (), F: ()}

# (current, observed) -> (state after, action) when the fill is booked. Moving forward along any
# path of NEXT is accepted (missed messages are implied); the same status is a duplicate; going
# back or leaving a final status is stale.
TABLE: dict[tuple[str, str], tuple[str, str]] = {
    (M, M): (M, "ignore"),
    (M, N): (N, "record"),
    (M, C): (C, "record"),  # MINED missed
    (M, R): (R, "record"),
    (M, F): (F, "reverse"),  # RETRYING missed
    (N, M): (N, "ignore"),
    (N, N): (N, "ignore"),
    (N, C): (C, "record"),
    (N, R): (R, "record"),
    (N, F): (F, "reverse"),
    (R, M): (R, "ignore"),
    (R, N): (N, "record"),
    (R, C): (C, "record"),
    (R, R): (R, "ignore"),
    (R, F): (F, "reverse"),
    (C, M): (C, "ignore"),
    (C, N): (C, "ignore"),
    (C, C): (C, "ignore"),
    (C, R): (C, "ignore"),
    (C, F): (C, "ignore"),
    (F, M): (F, "ignore"),
    (F, N): (F, "ignore"),
    (F, C): (F, "ignore"),
    (F, R): (F, "ignore"),
    (F, F): (F, "ignore"),
}


def test_every_pair_matches_the_hand_written_table() -> None:
    for (current, observed), (after, action) in TABLE.items():
        got = step(Settlement(current), Settlement(observed), booked=True)
        assert (got.state, got.action) == (after, action), (current, observed)
    # nothing booked: a failure has nothing to reverse
    assert step(Settlement(M), Settlement(F), booked=False).action == "record"
    # the first sighting books, unless the trade is already FAILED
    for first in (M, N, C, R):
        assert (step(None, Settlement(first), booked=False).action) == "book"
    assert step(None, Settlement(F), booked=False).action == "record"


@st.composite
def lives(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    """(the venue's messages for one trade, what we observed of them)."""
    life = [M]
    while NEXT[life[-1]]:
        options = NEXT[life[-1]]
        if len(life) > 8:  # end it: towards the final statuses
            options = tuple(o for o in options if o in (C, F) or (NEXT[o] and C in NEXT[o]))
        life.append(draw(st.sampled_from(options)))
    seen: list[str] = []
    for status in life:
        copies = draw(st.integers(min_value=0, max_value=2))  # lost, once, or twice
        seen.extend([status] * copies)
        if seen and draw(st.booleans()):  # the slower source repeats an older message
            seen.append(draw(st.sampled_from(life[: life.index(status) + 1])))
    return life, seen


@settings(max_examples=400, deadline=None)
@given(lives())
def test_random_lives_seen_through_lossy_sources(case: tuple[list[str], list[str]]) -> None:
    life, seen = case
    state: Settlement | None = None
    booked = False
    books = reverses = 0
    for status in seen:
        result = step(state, Settlement(status), booked=booked)
        if result.action == "book":
            books += 1
            booked = True
        elif result.action == "reverse":
            reverses += 1
        assert result.state is not None
        assert result.state.value in seen  # never a status nobody sent
        if state is not None and state.is_final:
            assert result.state == state  # final is final
        state = result.state
    # the oracle
    assert books == (1 if seen and seen[0] != F else 0)
    assert reverses == (1 if books and F in seen else 0)
    if seen and life[-1] in seen:
        assert state == life[-1]
    if not seen:
        assert state is None
